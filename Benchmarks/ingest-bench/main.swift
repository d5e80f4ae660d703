// The coordinator's ingest at scale, in one run (numbers for docs/benchmarks.md):
//   stream [NODES] [ROUNDS] [RUNS]
//                            NODES simulated Light Nodes (default 100,000) publishing one signed
//                            reading every 4 s for ROUNDS rounds (default 15) through Mosquitto:
//                            the broker alone delivering to `mosquitto_sub > /dev/null`, then
//                            `coordinator serve` on SQLite and on PostgreSQL; paced (25,000/s for
//                            100,000 nodes) and as fast as the publisher goes. RUNS narrows this to
//                            a comma-separated subset of paced, unpaced, broker, sqlite, postgres
//                            (for profiling one configuration)
//   store [NODES] [ROUNDS]   the SCD write path alone, in steady state: NODES nodes (default
//                            100,000) each adding a reading a round, committed every 250 ms of
//                            a simulated 4-s round, certified 32 s after arrival and sealed
//                            every 64 readings, as the ingest does (default 80 rounds, so every
//                            node seals a block); store time per reading on SQLite and PostgreSQL
//   storage [NODES] [HOURS]  bytes per reading at rest after HOURS (default 24) of 4-s readings
//                            of NODES nodes (default 40) in SQLite and PostgreSQL, and the p99 of a
//                            24-hour raw measurement query through the HTTP API
// Run: swift run -c release ingest-bench stream | storage
import Certification
import Foundation
import GridCore
import Ledger
import Logging
import SCD
import SCDPostgres
import SCDSQLite
import Sodium
import Synchronization
import TestSupport

let mode = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "stream"
func argument(_ index: Int, _ fallback: Int) -> Int {
    CommandLine.arguments.count > index ? Int(CommandLine.arguments[index]) ?? fallback : fallback
}
let machine = "\(ProcessInfo.processInfo.activeProcessorCount)-core \((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?"), \(ProcessInfo.processInfo.physicalMemory >> 30) GiB"
/// Readings of the storage and store runs start a day ago, on a quarter hour.
let t0 = Timestamp(millisecondsSince1970: Timestamp.now().millisecondsSince1970 / 900_000 * 900_000 - 86_400_000)

/// A three-phase meter's reading body as the Light Node writes it (about 320 bytes).
func body(seq: UInt64, time: Timestamp, node: Int) -> [UInt8] {
    var state = UInt64(truncatingIfNeeded: node) &* 0x9E37_79B9_7F4A_7C15 &+ seq
    func noise() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 40) / Double(1 << 24) - 0.5
    }
    let power = 1500 + 400 * noise()
    let energy = 1_234_567.0 + Double(seq) * 1.6667
    func fixed(_ value: Double, _ scale: Double) -> String { "\((value * scale).rounded() / scale)" }
    return Array("""
        {"t":"\(time.rfc3339)","k":"reading","m":"main","q":"good","v":{"energy_import":\(fixed(energy, 10)),"energy_export":100000,\
        "voltage_l1":\(fixed(230 + noise() * 2, 10)),"voltage_l2":\(fixed(230 + noise() * 2, 10)),"voltage_l3":\(fixed(230 + noise() * 2, 10)),\
        "current_l1":\(fixed(power / 690, 100)),"current_l2":\(fixed(power / 690, 100)),"current_l3":\(fixed(power / 690, 100)),\
        "active_power":\(fixed(power, 100)),"frequency":\(fixed(50 + noise() * 0.05, 100)),"power_factor":0.98}}
        """.utf8)
}

/// The readings message a Light Node publishes for `entries` (contract: DESIGN.md, MQTT payloads).
func payload(node: String, pod: String, _ entries: [LedgerEntry]) -> [UInt8] {
    var out = Array(#"{"node":"\#(node)","pod":"\#(pod)","entries":["#.utf8)
    for (index, entry) in entries.enumerated() {
        if index > 0 { out.append(UInt8(ascii: ",")) }
        out += Array(#"{"seq":\#(entry.seq),"body":"#.utf8)
        JSONText.appendQuoted(entry.bodyText, to: &out)
        out += Array(#","prev":"\#(Hex.encode(entry.prev.bytes))","hash":"\#(Hex.encode(entry.hash.bytes))","sig":"\#(Base64.encode(entry.signature.bytes))"}"#.utf8)
    }
    out += Array("]}".utf8)
    return out
}

/// Per node: a public key and its chain of `count` readings every 4 s from `start` (signed on all
/// cores; each secret key lives only while its chain is signed: guarded memory is scarce).
final class Fleet: @unchecked Sendable {
    var keys: [PublicKey]
    var chains: [[LedgerEntry]]

    init(nodes: Int, readings count: Int, start: Timestamp = t0) {
        keys = Array(repeating: SigningKey.generate().publicKey, count: nodes)
        chains = Array(repeating: [], count: nodes)
        let lock = NSLock()
        let workers = ProcessInfo.processInfo.activeProcessorCount * 4
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var mine: [(Int, PublicKey, [LedgerEntry])] = []
            for node in stride(from: worker, to: nodes, by: workers) {
                let key = SigningKey.generate()
                var prev = SHA256Digest.zero
                var chain: [LedgerEntry] = []
                chain.reserveCapacity(count)
                for seq in 1...UInt64(count) {
                    let entry = LedgerEntry.make(seq: seq, body: body(seq: seq, time: start.adding(milliseconds: Int64(seq - 1) * 4000), node: node),
                                                 prev: prev, signer: key)
                    prev = entry.hash
                    chain.append(entry)
                }
                mine.append((node, key.publicKey, chain))
            }
            lock.withLock { for (node, key, chain) in mine { keys[node] = key; chains[node] = chain } }
        }
    }

    static func id(_ node: Int) -> String { "ln-\(node)" }
    static func pod(_ node: Int) -> String { "POD-\(node)" }

    var records: [NodeRecord] {
        keys.indices.map { NodeRecord(id: Self.id($0), pod: Self.pod($0), meter: "main", keys: [keys[$0]]) }
    }
}

/// glibc's `malloc_trim` (not in the Glibc module): hands freed heap pages back to the system.
@_silgen_name("malloc_trim") func mallocTrim(_ pad: Int) -> Int32

func seconds(since start: UInt64) -> Double { Double(MonotonicClock.nanoseconds() - start) / 1e9 }
func format(_ value: Double, _ places: Int = 1) -> String { String(format: "%.\(places)f", value) }

// MARK: stream

/// The broker on a port of its own, queueing without limit for the platform's subscription.
func startBroker(_ folder: TemporaryDirectory) throws -> (Process, Int) {
    let port = FreePort.allocate()
    try """
        listener \(port) 127.0.0.1
        allow_anonymous true
        max_queued_messages 0
        max_inflight_messages 1000
        user root
        """.write(toFile: folder.file("mosquitto.conf"), atomically: true, encoding: .utf8)
    let broker = Process()
    broker.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
    broker.arguments = ["-c", folder.file("mosquitto.conf")]
    broker.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    broker.standardError = FileHandle(forWritingAtPath: "/dev/null")
    unblockTerminationSignals()  // the child inherits this thread's mask: let SIGTERM reach it
    try broker.run()
    guard waitUntil(timeoutSeconds: 30, { FreePort.isListening(port) }) else { fatalError("mosquitto did not start") }
    return (broker, port)
}

/// Publishes round after round, each round one message per node; paced spreads a round over 4 s.
/// Returns the publisher (stop it once everything is delivered) and when the last message was
/// written to the broker (monotonic time).
func publish(_ messages: [[(topic: String, payload: [UInt8])]], port: Int, paced: Bool) throws -> (FleetPublisher, UInt64) {
    let publisher = try FleetPublisher(port: port, clientID: "bench-fleet-\(getpid())")
    let start = MonotonicClock.nanoseconds()
    for (round, batch) in messages.enumerated() {
        for (index, message) in batch.enumerated() {
            if paced && index % 250 == 0 {
                try publisher.flush()
                let due = start + UInt64(round) * 4_000_000_000 + UInt64(index) * 4_000_000_000 / UInt64(batch.count)
                let now = MonotonicClock.nanoseconds()
                if due > now { usleep(UInt32((due - now) / 1000)) }
            }
            try publisher.publish(topic: message.topic, payload: message.payload)
        }
    }
    try publisher.flush()
    return (publisher, MonotonicClock.nanoseconds())
}

/// CPU seconds (user + system) a process used so far.
func cpuSeconds(_ pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return (Double(fields[11]) ?? 0) / 100 + (Double(fields[12]) ?? 0) / 100
}

func residentMiB(_ pid: Int32) -> Double {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
    return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
}

struct RunResult {
    var seconds: Double          // first publish → last message delivered
    var drain: Double            // last publish → last message delivered
    var cpu: Double
    var peakMiB: Double
    var maxCertificationLag: Double = 0
    var maxQueue: Double = 0
}

func baselineRun(_ messages: [[(topic: String, payload: [UInt8])]], paced: Bool) throws -> RunResult {
    let folder = TemporaryDirectory("ingest-bench")
    let (broker, port) = try startBroker(folder)
    defer { broker.terminate(); broker.waitUntilExit() }
    let total = messages.reduce(0) { $0 + $1.count }
    let sub = Process()
    sub.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
    sub.arguments = ["-h", "127.0.0.1", "-p", String(port), "-q", "1", "-i", "bench-sub", "-C", String(total),
                     "-t", "$share/bench/lightnode/v1/+/readings"]
    sub.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    sub.standardError = FileHandle(forWritingAtPath: "/dev/null")
    unblockTerminationSignals()
    try sub.run()
    // mosquitto_sub gives no readiness signal: half a second to subscribe (a benchmark, not a test).
    usleep(500_000)
    let start = MonotonicClock.nanoseconds()
    let cpuBefore = cpuSeconds(broker.processIdentifier)
    let (client, lastPublish) = try publish(messages, port: port, paced: paced)
    sub.waitUntilExit()
    let end = MonotonicClock.nanoseconds()
    client.stop()
    return RunResult(seconds: Double(end - start) / 1e9, drain: Double(end - min(end, lastPublish)) / 1e9,
                     cpu: cpuSeconds(broker.processIdentifier) - cpuBefore + cpuSeconds(sub.processIdentifier),
                     peakMiB: residentMiB(sub.processIdentifier))
}

func metric(_ text: String, _ series: String) -> Double {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") { return Double(line.split(separator: " ").last!) ?? 0 }
    return 0
}

/// A fresh SCD on `backend` ("sqlite" in `folder`, or "postgres" on a server of its own), and
/// the URL a coordinator in `folder` reaches it by.
func openStore(_ backend: String, in folder: TemporaryDirectory) async throws -> (store: any SCDStore, url: String, postgres: PostgresServer?) {
    guard backend == "postgres" else {
        return (try SQLiteStore(path: folder.file("scd.sqlite")), "sqlite://scd.sqlite", nil)
    }
    let server = try PostgresServer()
    let url = server.url() + "?sslmode=disable"
    return (try await PostgresStore(url: url, instance: "bench", logger: Logger(label: "bench")), url, server)
}

/// A fresh SCD holding the fleet's nodes, closed again: a SQLite file serves one process, and the
/// coordinator under test is the one.
func registerFleet(_ fleet: Fleet, _ backend: String, in folder: TemporaryDirectory) async throws -> (url: String, postgres: PostgresServer?) {
    let (store, url, postgres) = try await openStore(backend, in: folder)
    try await store.addNodes(fleet.records)
    return (url, postgres)
}

func coordinatorRun(_ messages: [[(topic: String, payload: [UInt8])]], fleet: Fleet, backend: String, paced: Bool) async throws -> RunResult {
    let folder = TemporaryDirectory("ingest-bench")
    let (broker, port) = try startBroker(folder)
    defer { broker.terminate(); broker.waitUntilExit() }
    let (url, postgres) = try await registerFleet(fleet, backend, in: folder)
    let coordinator = try CoordinatorProcess(mqttPort: port, scdURL: url, clientID: "bench-coordinator", extraConfig: """
        [ingest]
        commit_interval_ms = 250
        """, folder: folder)
    try coordinator.start()
    let pid = coordinator.process!.child.pid
    let total = Double(messages.reduce(0) { $0 + $1.count })
    let cpuBefore = cpuSeconds(pid)
    let start = MonotonicClock.nanoseconds()
    let lastPublish = Mutex<UInt64>(0)
    let publisher = Task.detached { () -> FleetPublisher? in
        guard let (publisher, last) = try? publish(messages, port: port, paced: paced) else { return nil }
        lastPublish.withLock { $0 = last }
        return publisher
    }
    var result = RunResult(seconds: 0, drain: 0, cpu: 0, peakMiB: 0)
    while true {
        let text = String(decoding: try coordinator.get("/metrics").body, as: UTF8.self)
        result.maxCertificationLag = max(result.maxCertificationLag, metric(text, "coordinator_certification_lag_seconds"))
        result.maxQueue = max(result.maxQueue, metric(text, "coordinator_ingest_queue_messages"))
        if metric(text, "coordinator_ingest_committed_total") >= total { break }
        if seconds(since: start) > 1800 { fatalError("ingest incomplete after 30 min:\n\(text)") }
        usleep(100_000)
    }
    let end = MonotonicClock.nanoseconds()
    await publisher.value?.stop()
    result.seconds = Double(end - start) / 1e9
    result.drain = Double(end - min(end, lastPublish.withLock { $0 })) / 1e9
    result.cpu = cpuSeconds(pid) - cpuBefore
    result.peakMiB = residentMiB(pid)
    let text = String(decoding: try coordinator.get("/metrics").body, as: UTF8.self)
    let dropped = text.split(separator: "\n").filter { $0.hasPrefix("coordinator_ingest_dropped_total{") && !$0.hasSuffix(" 0") }
    precondition(dropped.isEmpty, "dropped: \(dropped)")
    // Retried commits and other trouble show in the log, not in the figures.
    let trouble = coordinator.log.split(separator: "\n").filter { $0.contains(" error ") || $0.contains(" critical ") }
    if !trouble.isEmpty { FileHandle.standardError.write(Data("\(backend): \(trouble.count) error lines, first: \(trouble.prefix(3))\n".utf8)) }
    coordinator.stop()
    postgres?.stop()
    return result
}

switch mode {
case "stream":
    let nodes = argument(2, 100_000)
    let rounds = argument(3, 15)
    /// The fleet and its signed messages, one reading each, round by round, dated from `start`.
    func generate(start: Timestamp) -> (Fleet, [[(topic: String, payload: [UInt8])]]) {
        let fleet = Fleet(nodes: nodes, readings: rounds, start: start)
        let messages: [[(topic: String, payload: [UInt8])]] = (0..<rounds).map { round in
            (0..<nodes).map { node in
                ("lightnode/v1/\(Fleet.id(node))/readings", payload(node: Fleet.id(node), pod: Fleet.pod(node), [fleet.chains[node][round]]))
            }
        }
        fleet.chains = []
        return (fleet, messages)
    }
    let generation = MonotonicClock.nanoseconds()
    var (fleet, messages) = generate(start: .now())
    let generationSeconds = seconds(since: generation)
    var generated = MonotonicClock.nanoseconds()
    let bytes = messages.reduce(0) { $0 + $1.reduce(0) { $0 + $1.payload.count } }
    print("Machine: \(machine). \(nodes) nodes × \(rounds) rounds = \(nodes * rounds) signed readings in "
        + "\(bytes >> 20) MiB of messages (one reading a message, QoS 1), generated in \(format(generationSeconds)) s.\n")
    /// A coordinator takes the readings as from live nodes, dated about when they arrive (its
    /// quarter-hour measures fall due as they would): the messages are generated anew, dated from
    /// when the run will start, unless they were generated just before.
    func current() -> [[(topic: String, payload: [UInt8])]] {
        if seconds(since: generated) > 30 {
            messages = []
            // What the last stream held goes back to the system before the next is made (13 GiB each).
            _ = mallocTrim(0)
            (fleet, messages) = generate(start: Timestamp.now().adding(milliseconds: Int64(generationSeconds * 1000) + 5000))
            generated = MonotonicClock.nanoseconds()
        }
        return messages
    }
    let total = Double(nodes * rounds)
    let runs = Set((CommandLine.arguments.count > 4 ? CommandLine.arguments[4] : "paced,unpaced,broker,sqlite,postgres")
        .split(separator: ",").map(String.init))
    for paced in [true, false] where runs.contains(paced ? "paced" : "unpaced") {
        // The coordinators first, while the readings are fresh; the broker alone does not read them.
        var sqlite: RunResult?
        if runs.contains("sqlite") {
            let stream = current()
            sqlite = try await coordinatorRun(stream, fleet: fleet, backend: "sqlite", paced: paced)
        }
        var postgres: RunResult?
        if runs.contains("postgres") && PostgresServer.available {
            let stream = current()
            postgres = try await coordinatorRun(stream, fleet: fleet, backend: "postgres", paced: paced)
        }
        let baseline = runs.contains("broker") ? try baselineRun(messages, paced: paced) : nil
        print(paced ? "Paced: \(nodes) nodes every 4 s (\(Int(Double(nodes) / 4)) readings/s)\n"
                    : "Unpaced: the publisher as fast as it goes\n")
        print("| run | readings/s end to end | catch-up after the last publish | CPU s (coordinator or broker+sub) | peak RSS | max certification lag | max queue |")
        print("|---|---|---|---|---|---|---|")
        func row(_ name: String, _ r: RunResult) {
            print("| \(name) | \(Int(total / r.seconds)) | \(format(r.drain, 2)) s | \(format(r.cpu)) | \(Int(r.peakMiB)) MiB | "
                + "\(format(r.maxCertificationLag)) s | \(Int(r.maxQueue)) |")
        }
        if let baseline { row("mosquitto_sub > /dev/null (broker alone)", baseline) }
        if let sqlite { row("coordinator, SQLite", sqlite) }
        if let postgres { row("coordinator, PostgreSQL", postgres) }
        if let baseline {
            print("\nRatio coordinator ÷ broker alone (readings/s):"
                + (sqlite.map { " SQLite \(format(baseline.seconds / $0.seconds, 2))" } ?? "")
                + (postgres.map { " PostgreSQL \(format(baseline.seconds / $0.seconds, 2))" } ?? "") + "\n")
        }
    }

case "storage":
    let nodes = argument(2, 40)
    let hours = argument(3, 24)
    let readings = hours * 900
    let fleet = Fleet(nodes: nodes, readings: readings)
    print("Machine: \(machine). \(nodes) nodes × \(hours) h of 4-s readings = \(nodes * readings) readings (bodies about "
        + "\(fleet.chains[0][0].body.count) B), committed certified and sealed as ingest does.\n")
    print("| backend | bytes at rest per reading (raw blocks + indexes) | of which block rows | certification log per reading | disk for 100,000 nodes × 35 days |")
    print("|---|---|---|---|---|")
    for backend in PostgresServer.available ? ["sqlite", "postgres"] : ["sqlite"] {
        let folder = TemporaryDirectory("ingest-bench")
        // The store is released before the coordinator starts on the same SQLite file (one process a file).
        var store: (any SCDStore)?
        var postgres: PostgresServer?
        (store, _, postgres) = try await openStore(backend, in: folder)
        try await store!.addNodes(fleet.records)
        // An hour at a time for every node, as the ingest commits and seals.
        for hour in 0..<hours {
            var commit = IngestCommit()
            let range = (hour * 900)..<((hour + 1) * 900)
            for node in 0..<nodes {
                for entry in fleet.chains[node][range] {
                    commit.entries.append(StagedEntry(node: Fleet.id(node), entry: entry, reading: try ReadingBody(parsing: entry.body)))
                }
                commit.chains.append(ChainState(node: Fleet.id(node), holding: fleet.chains[node][..<range.upperBound],
                                                certifiedThrough: UInt64(range.upperBound)))
            }
            _ = try await store!.commit(commit)
            let through = UInt64(range.upperBound) / blockSize * blockSize
            _ = try await store!.seal((0..<nodes).map { SealRequest(node: Fleet.id($0), through: through, keys: [fleet.keys[$0]]) })
        }
        let stats = try await store!.rawStorageStats()
        var rawBytes = 0.0, logBytes = 0.0
        if let postgres {
            func size(_ sql: String) throws -> Double {
                Double(try postgres.psql(sql).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            }
            _ = try postgres.psql("VACUUM ANALYZE")
            rawBytes = try size("SELECT pg_total_relation_size('raw_blocks')")
            logBytes = try size("SELECT pg_total_relation_size('log_tiles')")
        } else {
            // dbstat: the pages of each table and index.
            let db = folder.file("scd.sqlite")
            func size(_ names: String) throws -> Double {
                let out = try Processes.run("/usr/bin/sqlite3", [db, "SELECT sum(pgsize) FROM dbstat WHERE name IN (\(names))"])
                return Double(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            }
            rawBytes = try size("'raw_blocks', 'raw_blocks_time', 'raw_blocks_expiry'")
            logBytes = try size("'log_tiles'")
        }
        let perReading = rawBytes / Double(stats.blockEntries)
        let disk = perReading * 100_000 * 21_600 * 35 / 1e12
        print("| \(backend == "sqlite" ? "SQLite" : "PostgreSQL") | \(format(perReading)) B | \(format(Double(stats.blockBytes) / Double(stats.blockEntries))) B "
            + "| \(format(logBytes / Double(stats.blockEntries), 2)) B | \(format(disk, 2)) TB raw (+ \(format(logBytes / Double(stats.blockEntries) * 100_000 * 21_600 * 365 / 1e9)) GB log a year) |")
        store = nil
        if backend == "sqlite" {
            // The API: a 24-hour raw query for one POD, through HTTP.
            let (broker, port) = try startBroker(folder)
            defer { broker.terminate(); broker.waitUntilExit() }
            let coordinator = try CoordinatorProcess(mqttPort: port, folder: folder)
            try coordinator.start()
            let token = try coordinator.command(["token", "add", "--role", "MO"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let from = t0.rfc3339, to = t0.adding(milliseconds: 86_400_000).rfc3339
            var latencies: [Double] = []
            var items = 0
            for index in 0..<200 {
                let start = MonotonicClock.nanoseconds()
                let answer = try coordinator.get("/api/v1/pods/\(Fleet.pod(index % nodes))/measurements?from=\(from)&to=\(to)&resolution=raw", token: token)
                latencies.append(seconds(since: start) * 1000)
                precondition(answer.status == 200)
                items = answer.body.count
            }
            latencies.sort()
            storageQuery = "API: 24-hour raw query of one POD (\(min(readings, 21_600)) readings, \(items >> 10) KiB of JSON) through HTTP, "
                + "200 sequential requests on SQLite: p50 \(format(latencies[100])) ms, p99 \(format(latencies[197])) ms, max \(format(latencies[199])) ms."
            coordinator.stop()
        }
        postgres?.stop()
    }
    print("\n" + storageQuery)

case "store":
    let nodes = argument(2, 100_000)
    let rounds = argument(3, 80)
    let runs = Set((CommandLine.arguments.count > 4 ? CommandLine.arguments[4] : "sqlite,postgres").split(separator: ",").map(String.init))
    print("Machine: \(machine). The SCD write path alone: \(nodes) nodes × \(rounds) rounds = \(nodes * rounds) readings, "
        + "16 commits a round, certification 32 s after arrival, sealing every 64 readings.\n")
    print("| backend | readings/s of store time | store time per reading | commit | seal | CPU s (bench process) |")
    print("|---|---|---|---|---|---|")
    for backend in ["sqlite", "postgres"] where runs.contains(backend) && (backend == "sqlite" || PostgresServer.available) {
        let folder = TemporaryDirectory("ingest-bench")
        let (store, _, postgres) = try await openStore(backend, in: folder)
        // One key for the fleet: only each block's last entry needs a real signature.
        let signer = SigningKey.generate()
        try await store.addNodes((0..<nodes).map { NodeRecord(id: Fleet.id($0), pod: Fleet.pod($0), meter: "main", keys: [signer.publicKey]) })
        var hasher = EntryHasher()
        var last = [LedgerEntry?](repeating: nil, count: nodes)
        var certifiedThrough = [UInt64](repeating: 0, count: nodes)
        var sealedThrough = [UInt64](repeating: 0, count: nodes)
        let unsigned = Signature(unchecked: [UInt8](repeating: 0, count: 64))
        var commitNs: UInt64 = 0, sealNs: UInt64 = 0
        let cpuBefore = cpuSeconds(getpid())
        let slice = (nodes + 15) / 16
        var certifiedSinceSeal: [Int] = []
        for round in 1...rounds {
            let seq = UInt64(round)
            for part in 0..<16 {
                var commit = IngestCommit()
                var touched: [Int] = []
                for node in (part * slice)..<min(nodes, (part + 1) * slice) {
                    let time = t0.adding(milliseconds: Int64(round - 1) * 4000 + Int64(part) * 250)
                    let text = body(seq: seq, time: time, node: node)
                    let prev = last[node]?.hash ?? .zero
                    let hash = hasher.hash(seq: seq, prev: prev, body: text)
                    let entry = LedgerEntry(seq: seq, body: text, prev: prev, hash: hash,
                                            signature: seq % blockSize == 0 ? signer.sign(hash.bytes) : unsigned)
                    last[node] = entry
                    commit.entries.append(StagedEntry(node: Fleet.id(node), entry: entry, reading: try ReadingBody(parsing: text)))
                    // Certified 32 s (8 rounds) after the oldest uncertified entry arrived; the
                    // chain state is persisted then.
                    if seq >= certifiedThrough[node] + 8 {
                        certifiedThrough[node] = seq
                        touched.append(node)
                    }
                }
                commit.chains = touched.map { node in
                    let tip = last[node]!
                    return ChainState(node: Fleet.id(node), segments: [NodeChain.Segment(
                        first: 1, last: tip.seq, firstPrev: .zero, lastHash: tip.hash,
                        certifiedThrough: certifiedThrough[node], lastSignature: tip.signature)], quarantine: nil)
                }
                var start = MonotonicClock.nanoseconds()
                _ = try await store.commit(commit)
                commitNs += MonotonicClock.nanoseconds() - start
                certifiedSinceSeal += touched
                // The ingest seals once a second.
                guard part % 4 == 3 else { continue }
                let requests = certifiedSinceSeal.compactMap { node -> SealRequest? in
                    let boundary = certifiedThrough[node] / blockSize * blockSize
                    guard boundary > sealedThrough[node] else { return nil }
                    sealedThrough[node] = boundary
                    return SealRequest(node: Fleet.id(node), through: boundary, keys: [signer.publicKey])
                }
                start = MonotonicClock.nanoseconds()
                _ = try await store.seal(requests)
                sealNs += MonotonicClock.nanoseconds() - start
                certifiedSinceSeal = []
            }
        }
        let cpu = cpuSeconds(getpid()) - cpuBefore
        let total = Double(nodes * rounds)
        let storeSeconds = Double(commitNs + sealNs) / 1e9
        print("| \(backend == "sqlite" ? "SQLite" : "PostgreSQL") | \(Int(total / storeSeconds)) | \(format(storeSeconds / total * 1e6)) µs | "
            + "\(format(Double(commitNs) / 1e9)) s | \(format(Double(sealNs) / 1e9)) s | \(format(cpu)) |")
        postgres?.stop()
    }

default:
    print("usage: ingest-bench stream [NODES] [ROUNDS] [RUNS] | store [NODES] [ROUNDS] [RUNS] | storage [NODES] [HOURS]")
}

nonisolated(unsafe) var storageQuery = ""
