import ArgumentParser
import ConfigFile
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import GridCore
import MeterSimulator
import Modbus

/// A Modbus meter (or BMS) simulator for tests, demos and installers: serves any register map
/// with a power profile, integrating energy counters, and injects faults on command.
///
/// Prints one line `listening tcp HOST:PORT` (or `listening rtu DEVICE unit N`) when ready.
/// Commands on stdin: `fault none|timeout|delay MS|exception N|drop|garbage`, `quit`.
/// Holding-register writes are printed as `write ADDRESS WORD…` (and, with `--write-log`, appended
/// to a file with the simulator's time: what a BMS did when).
@main
struct MeterSim: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "meter-sim",
                                                    abstract: "Simulated Modbus meter with fault injection.")

    @Option(help: "Register map (TOML) to serve.") var map: String
    @Option(help: "TCP address to listen on (port 0: any free port).") var listen = "127.0.0.1:0"
    @Option(help: "Serve Modbus RTU on this serial device instead of TCP.") var rtu: String?
    @Option var baud = 9600
    @Option(help: "N, E or O.") var parity = "N"
    @Option var dataBits = 8
    @Option var stopBits = 1
    @Option(help: "RTU unit id answered.") var unit = 1
    @Option(help: "constant:W, sine:MEAN:AMPLITUDE:PERIOD_S or csv:FILE.") var profile = "constant:1500"
    @Option(name: .customLong("set"), help: "Pin a quantity: QUANTITY=VALUE (repeatable).") var pins: [String] = []
    @Option(help: "Initial energy_import counter (Wh).") var energyStart = 1_000_000.0
    @Option(help: "Fault from the start (as the fault command).") var fault = "none"
    @Option(help: "Extra writable holding registers FIRST-LAST (a BMS set-point block).") var holding: String?
    @Option(help: "The site's power follows the int32 (big-endian) set-point written at this holding register; 0 returns it to the profile.")
    var follow: Int?
    @Option(help: "Also append each holding-register write to this file as `TIME ADDRESS WORD…` (TIME: RFC 3339, UTC, ms).")
    var writeLog: String?

    func run() throws {
        unblockTerminationSignals()  // SIGTERM must stop it whatever mask the parent left
        let issues = ConfigIssues()
        guard let registerMap = RegisterMap.load(file: map, issues: issues) else { throw ConfigError(issues: issues.list) }
        var pinned: [Quantity: Double] = [:]
        for pin in pins {
            let parts = pin.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let quantity = Quantity(rawValue: String(parts[0])), let value = Double(parts[1]) else {
                throw ValidationError("--set \(pin): expected QUANTITY=VALUE with a known quantity")
            }
            pinned[quantity] = value
        }
        guard let initialFault = Fault(command: fault) else { throw ValidationError("--fault \(fault): unknown fault") }
        guard let parityValue = ModbusEndpoint.Parity(rawValue: parity) else { throw ValidationError("--parity must be N, E or O") }
        var extra: ClosedRange<Int>?
        if let holding {
            let bounds = holding.split(separator: "-").compactMap { Int($0) }
            guard bounds.count == 2, bounds[0] <= bounds[1], bounds[0] >= 0, bounds[1] <= 65535 else {
                throw ValidationError("--holding expects FIRST-LAST")
            }
            extra = bounds[0]...bounds[1]
        }
        let transport: SimulatorServer.Transport
        if let rtu {
            transport = .rtu(device: rtu, baud: baud, parity: parityValue, dataBits: dataBits, stopBits: stopBits, unit: unit)
        } else {
            let parts = listen.split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1]), (0...65535).contains(port) else {
                throw ValidationError("--listen expects HOST:PORT")
            }
            transport = .tcp(host: String(parts[0]), port: port)
        }
        let meter = SimulatedMeter(map: registerMap, profile: try PowerProfile(parsing: profile), pinned: pinned,
                                   energyStartWh: energyStart)
        let server = try SimulatorServer(meter: meter, transport: transport, extraHoldingRegisters: extra)
        server.fault.withLock { $0 = initialFault }
        server.follow = follow
        var logDescriptor: Int32?
        if let writeLog {
            let descriptor = open(writeLog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw ValidationError("--write-log \(writeLog): \(String(cString: strerror(errno)))") }
            logDescriptor = descriptor
        }
        server.onWrite = { [logDescriptor] address, words in
            let values = words.map(String.init).joined(separator: " ")
            StandardStream.output.write("write \(address) \(values)\n")
            if let logDescriptor {
                var line = "\(Timestamp.now().rfc3339) \(address) \(values)\n"
                _ = line.withUTF8 { writeAll(descriptor: logDescriptor, UnsafeRawBufferPointer($0)) }
            }
        }
        StandardStream.output.write("listening \(try server.open())\n")
        DispatchQueue.global().async {
            while let line = readLine() {
                if line == "quit" { server.stop(); return }
                if line.hasPrefix("fault "), let fault = Fault(command: String(line.dropFirst(6))) {
                    server.fault.withLock { $0 = fault }
                    StandardStream.output.write("fault \(line.dropFirst(6))\n")
                } else {
                    StandardStream.error.write("meter-sim: unknown command \(line)\n")
                }
            }
        }
        server.serve()
    }
}
