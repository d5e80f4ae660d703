// Settling a month (issue 7): 10,000 PODs in 100 congestion points, each point ordered once a day
// for four ISPs (one order of 100 PODs: 400 set-points), 30 days: 3,000 orders, 1.2 million POD
// ISPs, settled from 1.2 million certified quarter-hour measures (1 % left uncertified) through
// the coordinator's monthly report (I-15), on SQLite and on PostgreSQL.
// Run: swift run -c release settlement-bench [sqlite|postgres|both] [PODS] [DAYS]
import Coordinator
import Foundation
import GridCore
import Logging
import Market
import SCD
import TestSupport

let arguments = CommandLine.arguments
let backends = arguments.count > 1 && arguments[1] != "both" ? [arguments[1]] : ["sqlite", "postgres"]
let podCount = arguments.count > 2 ? Int(arguments[2]) ?? 10_000 : 10_000
let dayCount = arguments.count > 3 ? Int(arguments[3]) ?? 30 : 30
let podsPerPoint = 100
let isps = 70...73
let machine = "\(ProcessInfo.processInfo.activeProcessorCount)-core \((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?")"
let logger = Logger(label: "settlement-bench")
let days = (1...dayCount).map { String(format: "2026-11-%02d", $0) }

func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

print("Machine: \(machine). \(podCount) PODs, \(dayCount) days, \(podCount / podsPerPoint) orders a day of \(podsPerPoint) PODs × \(isps.count) ISPs.")
for backend in backends {
    let folder = TemporaryDirectory("settlement-bench")
    var server: PostgresServer?
    let store: any SCDStore
    let url: String
    if backend == "postgres" {
        let postgres = try PostgresServer()
        server = postgres
        url = postgres.url() + "?sslmode=disable"
        store = try await PostgresStore(url: url, instance: "bench", logger: logger)
    } else {
        url = "sqlite://" + folder.file("scd.sqlite")
        store = try SQLiteStore(path: folder.file("scd.sqlite"))
    }
    try """
        [scd]
        url = "\(url)"
        [mqtt]
        host = "127.0.0.1"
        port = 1883
        share_group = "bench"
        [http]
        listen = "127.0.0.1:0"
        [market]
        time_zone = "UTC"
        penalty_per_mw = 11
        """.write(toFile: folder.file("coordinator.toml"), atomically: true, encoding: .utf8)
    let config = try CoordinatorConfig.load(file: folder.file("coordinator.toml"))
    let market = try MarketService(config: config, store: store, logger: logger).marketplace

    // The month's measures and orders.
    var random = SplitMix64(seed: 11)
    let loading = DispatchTime.now().uptimeNanoseconds
    let pods = (0..<podCount).map { String(format: "POD-%06d", $0) }
    for (dayIndex, day) in days.enumerated() {
        let midnight = Int64(dayIndex) * 86_400_000 + Timestamp(rfc3339: "2026-11-01T00:00:00.000Z")!.millisecondsSince1970
        var measures: [QuarterMeasure] = []
        measures.reserveCapacity(podCount * isps.count)
        for pod in pods {
            for isp in isps {
                let watts = 1000 + Double(random.below(1000))
                measures.append(QuarterMeasure(pod: pod, start: Timestamp(millisecondsSince1970: midnight + Int64(isp - 1) * 900_000),
                                               energyWh: watts / 4, averageW: watts, coverage: 1, samples: 225, certified: random.below(100) != 0))
            }
        }
        for chunk in stride(from: 0, to: measures.count, by: 10_000) {
            try await store.upsertMeasures(Array(measures[chunk..<min(chunk + 10_000, measures.count)]))
        }
        for point in 0..<(podCount / podsPerPoint) {
            let members = Array(pods[(point * podsPerPoint)..<((point + 1) * podsPerPoint)])
            let id = "da-\(day).\(point)"
            let award = Award(request: "r\(point)", offer: "o\(point)", aggregator: "agr-\(point % 20)", location: "cp-\(point)", factor: 100,
                              isps: [ISPSpan(start: isps.lowerBound, duration: isps.count, value: -50 * podsPerPoint)],
                              energyWh: 50 * podsPerPoint * isps.count / 4, price: 100, margin: false)
            var setPoints: [DispatchedSetPoint] = []
            for isp in isps {
                for (index, pod) in members.enumerated() {
                    setPoints.append(DispatchedSetPoint(id: "\(id).\(index).\(isp)", pod: pod, node: nil, isp: isp, from: "", until: "",
                                                        mode: "max", w: 1450, ordered: -50, baseline: 1500, status: .applied))
                }
            }
            let order = MarketOrder(id: id, round: "da-\(day)", award: award, issuer: "DSO", day: day, pods: members.map { OfferPOD(pod: $0) },
                                    setPoints: setPoints, created: midnight)
            try await store.putMarketDocument(MarketDocument(kind: .order, id: id, day: day, body: try MarketJSON.encode(order)), replace: false)
        }
    }
    print("\(backend): loaded \(podCount * dayCount * isps.count) measures and \(dayCount * podCount / podsPerPoint) orders in \(String(format: "%.1f", seconds(since: loading))) s")

    var best = Double.infinity
    var report: MonthlyReport?
    for _ in 0..<3 {
        let start = DispatchTime.now().uptimeNanoseconds
        report = try await market.monthlyReport(month: "2026-11", aggregator: nil)
        best = min(best, seconds(since: start))
    }
    let settled = report!
    let rows = settled.orders.reduce(0) { $0 + $1.pods.reduce(0) { $0 + $1.isps.count } }
    let unverified = settled.aggregators.reduce(0) { $0 + $1.unverified }
    let net = settled.aggregators.reduce(Decimal(0)) { $0 + $1.net }
    print("\(backend): month settled in \(String(format: "%.2f", best)) s (best of 3): \(settled.orders.count) orders, \(rows) POD ISPs "
          + "(\(String(format: "%.0f", Double(rows) / best)) a second), \(unverified) unverified, net \(net) to \(settled.aggregators.count) aggregators")
    _ = server
}
