import Coordinator
import Foundation
import GridCore
import Logging
import Market
import MarketOperations
import SCD
import SCDPostgres
import SCDSQLite
import TestSupport

/// The benchmarks' month: 10,000 PODs in congestion points of 100 (aggregators agr-0 … agr-19),
/// each point ordered once a day for four ISPs (an order of 100 PODs: 400 set-points), with the
/// certified quarter-hour measures of every ordered POD ISP (1 % left uncertified), in an SCD on
/// SQLite or PostgreSQL with the coordinator's market over it.
struct BenchMonth {
    static let podsPerPoint = 100
    static let isps = 70...73
    let store: any SCDStore
    let config: CoordinatorConfig
    let market: Marketplace
    let folder: TemporaryDirectory
    let server: PostgresServer?
    let pods: [String]
    let days: [String]

    static func pod(_ index: Int) -> String { String(format: "POD-%06d", index) }
    static func point(_ index: Int) -> String { String(format: "cp-%03d", index / podsPerPoint) }
    static func aggregator(_ index: Int) -> String { "agr-\(index / podsPerPoint % 20)" }

    /// `configuration`: more TOML after the month's `[market]` keys.
    init(backend: String, podCount: Int, dayCount: Int, configuration: String = "", logger: Logger) async throws {
        folder = TemporaryDirectory("settlement-bench")
        let url: String
        if backend == "postgres" {
            let postgres = try PostgresServer()
            server = postgres
            url = postgres.url() + "?sslmode=disable"
            store = try await PostgresStore(url: url, instance: "bench", logger: logger)
        } else {
            server = nil
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
            \(configuration)
            """.write(toFile: folder.file("coordinator.toml"), atomically: true, encoding: .utf8)
        config = try CoordinatorConfig.load(file: folder.file("coordinator.toml"))
        market = try MarketService(config: config, store: store, logger: logger).marketplace
        pods = (0..<podCount).map(Self.pod)
        days = (1...dayCount).map { String(format: "2026-11-%02d", $0) }
    }

    /// The month's measures and orders.
    func loadOrders() async throws {
        var random = SplitMix64(seed: 11)
        let podCount = pods.count, podsPerPoint = Self.podsPerPoint, isps = Self.isps
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
                let award = Award(request: "dso-\(point % 2 + 1):r\(point)", offer: "o\(point)", aggregator: Self.aggregator(point * podsPerPoint),
                                  location: Self.point(point * podsPerPoint), factor: 100,
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
    }

    /// Every measure left uncertified, certified late (as the certification of a node that was
    /// offline would).
    func certifyLate() async throws {
        let isps = Self.isps
        for day in days {
            guard let midnight = Timestamp(rfc3339: day + "T00:00:00.000Z") else { continue }
            for chunk in stride(from: 0, to: pods.count, by: 1_000) {
                let members = Array(pods[chunk..<min(chunk + 1_000, pods.count)])
                let measures = try await store.measures(pods: members, from: midnight.adding(milliseconds: Int64(isps.lowerBound - 1) * 900_000),
                                                        to: midnight.adding(milliseconds: Int64(isps.upperBound) * 900_000))
                let late = measures.filter { !$0.certified }.map { measure in
                    var certified = measure
                    certified.certified = true
                    return certified
                }
                if !late.isEmpty { try await store.upsertMeasures(late) }
            }
        }
    }
}

let machine = "\(ProcessInfo.processInfo.activeProcessorCount)-core \((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?")"

func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
