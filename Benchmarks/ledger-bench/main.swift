// Ledger benchmark: the Swift ledger beside raw C loops over the same libsodium and SQLite,
// in one run, on one machine. Run: swift run -c release ledger-bench [ENTRIES]
// Prints a Markdown table for docs/benchmarks.md.
#if canImport(Glibc)
import Glibc
#endif
import CBaseline
import GridCore
import Ledger
import Sodium
import SQLite

func seconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

func fileSize(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}

func machine() -> String {
    let cpuinfo = (try? readText("/proc/cpuinfo")) ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":", maxSplits: 1).last.map { $0.trimmingPrefix(" ") } ?? "unknown CPU"
    return "\(model), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cores"
}

func readText(_ path: String) throws -> String {
    guard let file = fopen(path, "r") else { return "" }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count <= 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A realistic three-phase reading, as an SDM630 register map yields it.
func reading(_ index: Int) -> EntryBody {
    let t = Timestamp(millisecondsSince1970: 1_764_000_000_000 + Int64(index) * 4000)
    let p = 1500 + Double(index % 997) / 10
    let phase = (p / 3 * 10).rounded() / 10  // meters report ~4 significant digits, not 17
    return EntryBody.reading(time: t, meter: "main", values: [
        ("active_power", p), ("active_power_l1", phase + 1.1), ("active_power_l2", phase - 2.3),
        ("active_power_l3", phase + 1.2), ("voltage_l1", 231.4), ("voltage_l2", 229.8), ("voltage_l3", 230.6),
        ("frequency", 50.01), ("energy_import", 12_345_678.9 + Double(index)),
    ])
}

let entries = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 100_000 : 100_000
let singles = 300
let batch = 1000
let root = "/tmp/ledger-bench-\(getpid())"
mkdir(root, 0o700)
defer { _ = system("rm -rf \(root)") }

let key = SigningKey.generate()
let bodies = (0..<entries).map(reading)
let sampleBody = bodies[0].bytes
var rows: [(String, String, String, String)] = []

// 1. Batched append + sign + commit.
let ledger = try Ledger(dataDirectory: root + "/batched", node: "ln-bench", pod: "IT001E00000001", signer: key)
var start = seconds()
var index = 0
while index < entries {
    try ledger.append(contentsOf: Array(bodies[index..<min(index + batch, entries)]))
    index += batch
}
let swiftBatched = Double(entries) / (seconds() - start)
let cBatched = cb_append(root + "/c-batched.sqlite", sampleBody, Int32(sampleBody.count), Int32(entries), Int32(batch), nil)
rows.append(("append + sign + commit, batches of \(batch)", "\(Int(swiftBatched)) entries/s",
             "\(Int(cBatched)) entries/s", String(format2(swiftBatched / cBatched))))

// 2. Single durable append latency (the agent's real case: one entry, one fsync).
let single = try Ledger(dataDirectory: root + "/single", node: "ln-bench", pod: "IT001E00000001", signer: key)
var latencies: [Double] = []
for i in 0..<singles {
    let t0 = seconds()
    try single.append(bodies[i])
    latencies.append((seconds() - t0) * 1e6)
}
var cLatencies = [Double](repeating: 0, count: singles)
_ = cb_append(root + "/c-single.sqlite", sampleBody, Int32(sampleBody.count), Int32(singles), 1, &cLatencies)
rows.append(("single durable append p50", "\(Int(percentile(latencies, 0.5))) µs",
             "\(Int(percentile(cLatencies, 0.5))) µs", format2(percentile(latencies, 0.5) / percentile(cLatencies, 0.5))))
rows.append(("single durable append p99", "\(Int(percentile(latencies, 0.99))) µs",
             "\(Int(percentile(cLatencies, 0.99))) µs", format2(percentile(latencies, 0.99) / percentile(cLatencies, 0.99))))

// 3. Verify with every signature; 4. links only (plus the newest signature).
let reader = try Ledger(readingFile: root + "/batched/ledger.sqlite")
start = seconds()
let full = try reader.verify(signatures: .every)
let swiftVerify = Double(full.entriesChecked) / (seconds() - start)
precondition(full.fault == nil && full.entriesChecked == entries)
let rawVerify = cb_verify_rate(Int32(min(entries, 50_000)))
let cVerifyAll = cb_verify_all_rate(root + "/c-batched.sqlite")
rows.append(("verify, every signature", "\(Int(swiftVerify)) entries/s",
             "\(Int(cVerifyAll)) entries/s (scan+hash+verify); libsodium verify alone \(Int(rawVerify))/s",
             "\(format2(swiftVerify / cVerifyAll)) (vs verify alone \(format2(swiftVerify / rawVerify)))"))

start = seconds()
let quick = try reader.verify(signatures: .newestOnly)
let swiftLinks = Double(quick.entriesChecked) / (seconds() - start)
precondition(quick.fault == nil)
let cLinks = cb_links_rate(root + "/c-batched.sqlite")
rows.append(("verify, links + newest signature", "\(Int(swiftLinks)) entries/s",
             "\(Int(cLinks)) entries/s (scan+hash)", format2(swiftLinks / cLinks)))

// 5. Bytes on disk per reading entry: the database's logical size (page_count × page_size, which
// includes pages still in the WAL) over the entries, for the full reading and a minimal one.
func bytesPerEntry(_ path: String, entries: Int) throws -> Int {
    let connection = try Connection(path: path, mode: .readOnly)
    let pages = try connection.scalarInteger("PRAGMA page_count") ?? 0
    let pageSize = try connection.scalarInteger("PRAGMA page_size") ?? 0
    return Int(pages * pageSize) / entries
}
func meanBody(_ path: String, entries: Int) throws -> Int {
    let connection = try Connection(path: path, mode: .readOnly)
    return Int(try connection.scalarInteger("SELECT sum(length(body)) FROM entries") ?? 0) / entries
}
let minimal = try Ledger(dataDirectory: root + "/minimal", node: "ln-bench", pod: "IT001E00000001", signer: key)
let minimalBodies = (0..<20_000).map { i in
    EntryBody.reading(time: Timestamp(millisecondsSince1970: 1_764_000_000_000 + Int64(i) * 4000), meter: "main",
                      values: [("active_power", 1500 + Double(i % 997) / 10), ("energy_import", 12_345_678.9 + Double(i))])
}
for chunk in stride(from: 0, to: minimalBodies.count, by: batch) {
    try minimal.append(contentsOf: Array(minimalBodies[chunk..<min(chunk + batch, minimalBodies.count)]))
}
rows.append(("bytes on disk per reading entry, 9 quantities (mean body \(try meanBody(root + "/batched/ledger.sqlite", entries: entries)) B)",
             "\(try bytesPerEntry(root + "/batched/ledger.sqlite", entries: entries)) B", "—", "—"))
rows.append(("bytes on disk per reading entry, 2 quantities (mean body \(try meanBody(root + "/minimal/ledger.sqlite", entries: minimalBodies.count)) B)",
             "\(try bytesPerEntry(root + "/minimal/ledger.sqlite", entries: minimalBodies.count)) B", "—", "—"))

func format2(_ value: Double) -> String {
    let scaled = (value * 100).rounded() / 100
    return "\(scaled)"
}

print("Machine: \(machine()); \(entries) entries; Swift ledger vs raw C loops in the same run.\n")
print("| measure | Swift ledger | raw C baseline | Swift ÷ C |")
print("|---|---|---|---|")
for row in rows { print("| \(row.0) | \(row.1) | \(row.2) | \(row.3) |") }
