// Modbus TCP read throughput: the Swift wrapper (ModbusClient, and a whole meter read through
// ModbusBus with decoding) beside a tight C loop calling libmodbus directly, against the same
// meter simulator, in one run. Run: swift run -c release modbus-bench [READS]
// Prints a Markdown table for docs/benchmarks.md.
import CBaseline
import ConfigFile
import Foundation
import GridCore
import Modbus

let reads = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 20_000 : 20_000
let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
let mapPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("firmware-config/registers/eastron-sdm630.toml").path

// The simulator as a separate process, as a meter would be.
let simulator = Process()
simulator.executableURL = products.appendingPathComponent("meter-sim")
simulator.arguments = ["--map", mapPath, "--listen", "127.0.0.1:0"]
let output = Pipe()
simulator.standardOutput = output
simulator.standardInput = Pipe()
try simulator.run()
defer { simulator.terminate() }
var line = [UInt8]()
while let byte = try output.fileHandleForReading.read(upToCount: 1)?.first, byte != 0x0A { line.append(byte) }
let port = Int(String(decoding: line, as: UTF8.self).split(separator: ":").last!)!

let issues = ConfigIssues()
let map = RegisterMap.load(file: mapPath, issues: issues)!
let request = ReadPlan.requests(for: map)[0]  // 76 input registers, the whole SDM630 block

func rate(_ body: () throws -> Void) rethrows -> Double {
    let start = MonotonicClock.nanoseconds()
    for _ in 0..<reads { try body() }
    return Double(reads) / (Double(MonotonicClock.nanoseconds() - start) / 1e9)
}

// Warm-up, then alternate C and Swift twice so neither gets the warmer turn.
_ = cb_modbus_read_rate("127.0.0.1", Int32(port), Int32(request.address), Int32(request.count), 2000)
let client = try ModbusClient(endpoint: .tcp(host: "127.0.0.1", port: port))
client.setResponseTimeout(milliseconds: 1000)
try client.connect()
var cRates: [Double] = [], swiftRates: [Double] = []
for _ in 0..<2 {
    cRates.append(cb_modbus_read_rate("127.0.0.1", Int32(port), Int32(request.address), Int32(request.count), Int32(reads)))
    swiftRates.append(try rate { _ = try client.read(.input, unit: 1, address: request.address, count: request.count) })
}
let bus = ModbusBus(endpoint: .tcp(host: "127.0.0.1", port: port))
let device = MeterDevice(name: "main", unit: 1, timeoutMs: 1000, retries: 0, map: map)
let meterRate = rate {
    guard case .good = bus.read(device) else { fatalError("read failed") }
}
let c = cRates.max()!, swift = swiftRates.max()!
let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
    .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?"
print("Machine: \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores; \(reads) reads of \(request.count) input registers over loopback TCP from meter-sim (best of 2 runs each).\n")
print("| measure | Swift | raw libmodbus C loop | Swift ÷ C |")
print("|---|---|---|---|")
print("| read \(request.count) registers (ModbusClient) | \(Int(swift)) reads/s | \(Int(c)) reads/s | \((swift / c * 100).rounded() / 100) |")
print("| whole meter read + decode of \(map.registers.count) quantities (ModbusBus) | \(Int(meterRate)) reads/s | — | \((meterRate / c * 100).rounded() / 100) |")
