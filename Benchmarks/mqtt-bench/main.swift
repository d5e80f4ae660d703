// The Light Node's MQTT path on a real Mosquitto, in one run (numbers for docs/benchmarks.md):
//   drain [HOURS]     backlog drain: HOURS (default 24) of readings from 4 meters published by the
//                     outbox, beside mosquitto_pub sending the very same messages at QoS 1
//   latency [SECONDS] reading-to-broker latency of `lightnode run` with 4 meters at a 4 s cadence
//                     (default 400 s: 100 cycles), as received by a subscriber on the broker
// Run: swift run -c release mqtt-bench drain | latency
import Foundation
import GridCore
import Ledger
import LightNode
import Logging
import MQTT
import Sodium
import Synchronization
import TestSupport
import Wire

let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
let mapPath = Paths.packageRoot.appendingPathComponent("firmware-config/registers/eastron-sdm630.toml").path
let mode = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "drain"
let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mqtt-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: folder) }

func launch(_ path: String, _ arguments: [String], stdout: Any? = nil, stdin: Any? = nil) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    // Never the bench's own stdout: a child left running would hold the caller's pipe open.
    process.standardOutput = stdout ?? FileHandle(forWritingAtPath: "/dev/null")
    if let stdin { process.standardInput = stdin }
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    return process
}

// The broker alone, on a port of its own.
let brokerPort = FreePort.allocate()
try "listener \(brokerPort) 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n"
    .write(toFile: folder + "/mosquitto.conf", atomically: true, encoding: .utf8)
let broker = try launch("/usr/sbin/mosquitto", ["-c", folder + "/mosquitto.conf"])
defer { broker.terminate(); broker.waitUntilExit() }

/// Counts ledger entries arriving on the readings topic and, for each, the latency from its
/// time `t` to its arrival.
final class Subscriber: Sendable {
    let client: MQTTClient
    let counter: Counter

    init(port: Int, measureLatency: Bool) throws {
        let counter = Counter()
        self.counter = counter
        client = try MQTTClient(options: MQTTOptions(host: "127.0.0.1", port: port, clientID: "bench-subscriber-\(getpid())"),
                                subscriptions: ["lightnode/v1/+/readings"], onMessage: { message in
            if measureLatency {
                counter.count(message.payload, now: Timestamp.now().millisecondsSince1970)
            } else {
                counter.noteLast(message.payload)
            }
        })
        try client.start()
        guard client.waitForConnection(timeoutMs: 30_000) else { fatalError("subscriber could not connect") }
    }

    final class Counter: Sendable {
        let entries = Atomic(0)
        let latencies = Mutex<[Int64]>([])
        private static let entryStart = Array(#"{"seq":"#.utf8)
        private static let timeKey = Array(#"\"t\":\""#.utf8)

        /// The highest seq received: each message's last entry, found from the end (cheap, so the
        /// subscriber's own CPU use stays small beside the publisher's on the same machine).
        let highest = Atomic(0)

        func noteLast(_ payload: [UInt8]) {
            var index = payload.count - Self.entryStart.count
            while index > 0 && !payload[index..<(index + Self.entryStart.count)].elementsEqual(Self.entryStart) { index -= 1 }
            var seq = 0
            index += Self.entryStart.count
            while index < payload.count, payload[index] >= 0x30 && payload[index] <= 0x39 {
                seq = seq * 10 + Int(payload[index] - 0x30)
                index += 1
            }
            highest.max(seq, ordering: .relaxed)
        }

        /// Entries are counted by their `{"seq":` openings; with `now`, each entry's latency is
        /// taken from the `t` at the start of its body (`"body":"{\"t\":\"…`).
        func count(_ payload: [UInt8], now: Int64?) {
            var found = 0
            var times: [Int64] = []
            payload.withUnsafeBufferPointer { bytes in
                var index = 0
                while index + Self.entryStart.count < bytes.count {
                    if bytes[index] == 0x7B, bytes[index..<(index + Self.entryStart.count)].elementsEqual(Self.entryStart) {
                        found += 1
                        if now != nil, let start = Self.find(Self.timeKey, in: bytes, from: index),
                           let time = Timestamp(rfc3339: String(decoding: bytes[(start + Self.timeKey.count)..<(start + Self.timeKey.count + 24)], as: UTF8.self)) {
                            times.append(time.millisecondsSince1970)
                        }
                        index += Self.entryStart.count
                    } else {
                        index += 1
                    }
                }
            }
            if let now { latencies.withLock { $0.append(contentsOf: times.map { now - $0 }) } }
            entries.add(found, ordering: .relaxed)
        }

        static func find(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
            var index = from
            while index + needle.count + 24 <= bytes.count {
                if bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
                index += 1
            }
            return nil
        }
    }
}

let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
    .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?"
let machine = "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores"

func config(meterPorts: [Int], intervalMs: Int, extra: String = "") throws -> String {
    let key = folder + "/node-\(UUID().uuidString).key"
    try SigningKey(seed: Array(repeating: 7, count: 32)).write(toNewFile: key)
    let path = folder + "/lightnode-\(UUID().uuidString).toml"
    try """
        [node]
        id = "ln-bench"
        pod = "IT001E00000099"
        data_dir = "data-\(UUID().uuidString)"
        key_file = "\(key)"
        [acquisition]
        interval_ms = \(intervalMs)
        \(meterPorts.enumerated().map { "[[meters]]\nname = \"m\($0.offset + 1)\"\ntransport = \"tcp\"\nhost = \"127.0.0.1\"\nport = \($0.element)\nregister_map = \"\(mapPath)\"\n" }.joined())
        [mqtt]
        host = "127.0.0.1"
        port = \(brokerPort)
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

switch mode {
case "drain":
    let hours = CommandLine.arguments.count > 2 ? Double(CommandLine.arguments[2]) ?? 24 : 24
    let cycles = Int(hours * 900)  // 4 s cadence
    let total = cycles * 4
    // One backlog, built like the agent builds it: 4 SDM630 readings per cycle.
    let values: [(quantity: String, value: Double)] = [
        ("active_power", 1534.2), ("active_power_l1", 511.4), ("active_power_l2", 512.0), ("active_power_l3", 510.8),
        ("reactive_power", -120.5), ("voltage_l1", 230.1), ("voltage_l2", 229.8), ("voltage_l3", 231.0),
        ("current_l1", 2.22), ("current_l2", 2.23), ("current_l3", 2.21), ("frequency", 50.01), ("power_factor", 0.99),
        ("energy_import", 1234567.8), ("energy_export", 2345.6),
    ]
    func backlog() throws -> AgentConfig {
        let path = try config(meterPorts: [5021, 5022, 5023, 5024], intervalMs: 4000,
                              extra: "drain_messages_per_s = 0\nreconnect_jitter_s = 0")
        let config = try AgentConfig.load(file: path)
        let ledger = try Ledger(dataDirectory: config.node.dataDirectory, node: config.node.id, pod: config.node.pod,
                                signer: try SigningKey(contentsOfFile: config.node.keyFile))
        let start = Timestamp.now().adding(milliseconds: -Int64(cycles) * 4000)
        for first in stride(from: 0, to: cycles, by: 250) {
            try ledger.append(contentsOf: (first..<min(first + 250, cycles)).flatMap { cycle in
                (1...4).map { EntryBody.reading(time: start.adding(milliseconds: Int64(cycle) * 4000), meter: "m\($0)", values: values) }
            })
        }
        return config
    }

    // The messages the outbox sends, written one per line for mosquitto_pub -l.
    func messagesFile(_ config: AgentConfig) throws -> (path: String, count: Int, bytes: Int) {
        let ledger = try Ledger(readingFile: config.node.dataDirectory + "/" + Ledger.fileName)
        var file = [UInt8]()
        var count = 0
        for first in stride(from: 1, through: total, by: ReadingsMessage.Writer.maximumSentEntries) {
            var writer = ReadingsMessage.Writer(node: "ln-bench", pod: "IT001E00000099")
            try ledger.forEachEntry(from: UInt64(first), through: UInt64(first + ReadingsMessage.Writer.maximumSentEntries - 1)) { entry in
                _ = writer.append(entry)
            }
            file += (writer.finish() ?? []) + [0x0A]
            count += 1
        }
        let path = folder + "/messages.jsonl"
        try Data(file).write(to: URL(fileURLWithPath: path))
        return (path, count, file.count - count)
    }

    func outboxRun() throws -> Double {
        let config = try backlog()
        let subscriber = try Subscriber(port: brokerPort, measureLatency: false)
        let ledger = try Ledger(dataDirectory: config.node.dataDirectory, node: config.node.id, pod: config.node.pod,
                                signer: try SigningKey(contentsOfFile: config.node.keyFile))
        let client = try MQTTClient(options: try Publisher.clientOptions(config.mqtt!, node: config.node))
        let publisher = Publisher(client: client, mqtt: config.mqtt!, node: config.node, retentionDays: 35, ledger: ledger,
                                  logger: Logger(label: "bench"))
        let start = MonotonicClock.nanoseconds()
        try client.start()
        publisher.start()
        // Done when the subscriber has every entry and the outbox has taken every acknowledgement.
        guard waitUntil(timeoutSeconds: 600, pollMilliseconds: 1, {
            subscriber.counter.highest.load(ordering: .relaxed) >= total
                && (try? ledger.cursor(Ledger.publishedCursor)) == UInt64(total)
        }) else { fatalError("outbox drain incomplete") }
        let seconds = Double(MonotonicClock.nanoseconds() - start) / 1e9
        publisher.stop()
        client.stop()
        subscriber.client.stop()
        let published = try ledger.cursor(Ledger.publishedCursor)
        precondition(published == UInt64(total), "cursor \(published) after the drain")
        return seconds
    }

    func mosquittoPubRun(_ messages: (path: String, count: Int, bytes: Int)) throws -> Double {
        let subscriber = try Subscriber(port: brokerPort, measureLatency: false)
        let start = MonotonicClock.nanoseconds()
        let pub = try launch("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", String(brokerPort), "-q", "1", "-i", "bench-pub",
                                                        "-t", "lightnode/v1/ln-bench/readings", "-l"],
                             stdin: FileHandle(forReadingAtPath: messages.path)!)
        guard waitUntil(timeoutSeconds: 600, pollMilliseconds: 1, { subscriber.counter.highest.load(ordering: .relaxed) >= total }) else { fatalError("mosquitto_pub incomplete") }
        let seconds = Double(MonotonicClock.nanoseconds() - start) / 1e9
        pub.waitUntilExit()
        subscriber.client.stop()
        return seconds
    }

    let messages = try messagesFile(try backlog())
    var outbox: [Double] = [], baseline: [Double] = []
    for _ in 0..<5 {  // alternate, so neither gets the warmer turn
        baseline.append(try mosquittoPubRun(messages))
        outbox.append(try outboxRun())
    }
    let (o, b) = (outbox.min()!, baseline.min()!)
    print("Machine: \(machine). Backlog: \(hours) h × 4 meters = \(total) entries in \(messages.count) messages "
        + "(\(messages.bytes / 1024) KiB); loopback Mosquitto; best of 5 alternating runs each; drain limit off.\n")
    print("| measure | outbox (Publisher) | mosquitto_pub -q 1 -l, same messages | outbox ÷ mosquitto_pub |")
    print("|---|---|---|---|")
    print("| drain time | \(String(format: "%.2f", o)) s | \(String(format: "%.2f", b)) s | |")
    print("| throughput | \(Int(Double(total) / o)) entries/s | \(Int(Double(total) / b)) entries/s | \(String(format: "%.2f", b / o)) |")
    print("| at the default drain limit (20 messages/s) | \(Int(Double(total) / (Double(messages.count) / 20))) entries/s max | | |")

case "latency":
    let seconds = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 400 : 400
    var simulators: [Process] = []
    var ports: [Int] = []
    for _ in 0..<4 {
        let output = Pipe()
        let simulator = try launch(products.appendingPathComponent("meter-sim").path, ["--map", mapPath, "--listen", "127.0.0.1:0"],
                                   stdout: output, stdin: Pipe())
        var line = [UInt8]()
        while let byte = try output.fileHandleForReading.read(upToCount: 1)?.first, byte != 0x0A { line.append(byte) }
        ports.append(Int(String(decoding: line, as: UTF8.self).split(separator: ":").last!)!)
        simulators.append(simulator)
    }
    defer { for simulator in simulators { simulator.terminate() } }
    let subscriber = try Subscriber(port: brokerPort, measureLatency: true)
    let agent = try launch(products.appendingPathComponent("lightnode").path,
                           ["run", "--config", try config(meterPorts: ports, intervalMs: 4000), "--log-level", "warning"])
    Thread.sleep(forTimeInterval: Double(seconds))  // the measurement window itself
    agent.interrupt()
    agent.waitUntilExit()
    var latencies = subscriber.counter.latencies.withLock { $0 }.sorted()
    // Entries of kind event (start) have no meter reading behind them; all count: they go the same path.
    guard !latencies.isEmpty else { fatalError("no entries received") }
    func quantile(_ q: Double) -> Int64 { latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))] }
    latencies = latencies.filter { $0 >= 0 }
    print("Machine: \(machine). `lightnode run` (release), 4 meter-sim meters on loopback TCP, interval 4000 ms, "
        + "\(seconds) s: \(latencies.count) entries; latency = arrival at a subscriber on the same Mosquitto − the reading's time t "
        + "(its wall-clock deadline), so it includes the Modbus reads, the fsynced append and the publish.\n")
    print("| measure | p50 | p99 | max | target |")
    print("|---|---|---|---|---|")
    print("| reading-to-broker latency | \(quantile(0.5)) ms | \(quantile(0.99)) ms | \(latencies.last!) ms | p99 ≤ 100 ms |")

default:
    print("usage: mqtt-bench drain [HOURS] | latency [SECONDS]")
    exit(2)
}
