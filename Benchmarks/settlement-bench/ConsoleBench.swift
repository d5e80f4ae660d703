import Coordinator
import Foundation
import GridCore
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import Logging
import MarketOperations
import OperatorConsole
import PlatformAPI
import Prometheus
import ReadingsIngest
import SCD
import Sodium

/// Every screen of the operator console (issue 9) on the benchmark month: 10,000 PODs and their
/// Light Nodes, 3,000 orders with their measures, a day's baselines for every POD, a market day
/// of 100 requests and 200 offers cleared, and a day of 4-s readings of one node, sealed under a
/// checkpoint. Each screen is requested through the coordinator's router as a logged-in browser
/// would (session cookie), `renders` times after three warm-ups; latency from request to the
/// last byte of the page, p50/p95/max.
enum ConsoleBench {
    static let day = "2026-11-15"
    static let node = "ln-000007"

    static func run(backend: String, renders: Int, logger: Logger) async throws {
        // Day-ahead entries for the day are open on the 14th: the coordinator's clock says so.
        SimulatedClock.install(SimulatedClock(start: Timestamp(rfc3339: "2026-11-14T08:00:00.000Z")!, realStart: Timestamp.realNow(), speed: 1))
        var quiet = logger
        quiet.logLevel = .error
        let month = try await BenchMonth(backend: backend, podCount: 10_000, dayCount: 30,
                                         configuration: "[market.congestion_point_max_load]\n\"cp-000\" = 120000", logger: quiet)
        let store = month.store
        print("Machine: \(machine). Console on \(backend): 10,000 PODs, 30 days of orders (3,000), \(renders) renders a screen.")
        let loading = DispatchTime.now().uptimeNanoseconds
        try await month.loadOrders()
        let key = SigningKey.generate()
        var nodes: [NodeRecord] = []
        for index in month.pods.indices {
            try await store.upsertPOD(PODRecord(id: month.pods[index], customer: "Customer \(index)", congestionPoint: BenchMonth.point(index),
                                                aggregator: BenchMonth.aggregator(index), brp: "brp-1"))
            nodes.append(NodeRecord(id: String(format: "ln-%06d", index), pod: month.pods[index], meter: "main", keys: [key.publicKey]))
            try await store.putBaseline(Baseline(pod: month.pods[index], day: day, brp: "brp-1",
                                                 energyWh: (0..<96).map { 250 + Double(($0 * 7 + index) % 100) }))
        }
        try await store.addNodes(nodes)
        // A day of one node's readings, committed certified and sealed as the ingest does.
        let midnight = Timestamp(rfc3339: day + "T00:00:00.000Z")!.millisecondsSince1970
        var prev = SHA256Digest.zero
        var chain: [LedgerEntry] = []
        for step in 0..<21_600 {
            let time = Timestamp(millisecondsSince1970: midnight + Int64(step) * 4000)
            let watts = 1500 + 500 * sin(Double(step) / 300)
            let body = Array(#"{"t":"\#(time.rfc3339)","k":"reading","m":"main","q":"good","v":{"active_power":\#(String(format: "%.1f", watts))}}"#.utf8)
            let entry = LedgerEntry.make(seq: UInt64(step + 1), body: body, prev: prev, signer: key)
            prev = entry.hash
            chain.append(entry)
        }
        for hour in stride(from: 0, to: chain.count, by: 900) {
            var commit = IngestCommit()
            for entry in chain[hour..<(hour + 900)] {
                commit.entries.append(StagedEntry(node: node, entry: entry, reading: try ReadingBody(parsing: entry.body)))
            }
            commit.chains = [ChainState(node: node, holding: chain[..<(hour + 900)], certifiedThrough: UInt64(hour + 900))]
            _ = try await store.commit(commit)
        }
        _ = try await store.seal([SealRequest(node: node, through: UInt64(chain.count), keys: [key.publicKey])])
        let log = try CertificationLog(store: store, signer: SigningKey.generate(), origin: "bench.example/log")
        _ = try await log.checkpointIfGrown(now: .now())
        var tokens: [String: String] = [:]
        let participants: [(String, Role, String?)] = [("MO", .marketOperator, nil), ("DSO", .dso, "dso-1")]
            + (0..<20).map { ("agr-\($0)", .aggregator, "agr-\($0)") }
        for (name, role, participant) in participants {
            let token = "scd_bench_\(name)"
            try await store.addToken(TokenRecord(hash: SHA256.hash(Array(token.utf8)), role: role, participant: participant))
            tokens[name] = token
        }

        let registry = PrometheusCollectorRegistry()
        let ingest = Ingest(store: store, settings: month.config.ingest, topicPrefix: month.config.mqtt.topicPrefix,
                            metrics: IngestMetrics(registry: registry), logger: quiet)
        try await ingest.restore(now: .now())
        let router = API(store: store, log: log, metrics: registry, readiness: Readiness(), maxRequestBytes: 1 << 20,
                         market: month.market).router()
        try Console(store: store, ingest: ingest, market: month.market, log: log, sessions: ConsoleSessions(), secureCookies: false,
                    readingIntervalMs: 4000, logger: quiet).register(on: router)
        let bearer = tokens, market = month.market
        try await Application(router: router).test(.router) { client in
            func call(_ method: HTTPRequest.Method, _ path: String, as name: String, _ body: String? = nil) async throws -> Int {
                try await client.execute(uri: path, method: method, headers: [.authorization: "Bearer \(bearer[name]!)", .contentType: "application/json"],
                                         body: body.map { ByteBuffer(string: $0) }) { Int($0.status.code) }
            }
            // The market day: a request at each of the 100 points, two offers at each by its aggregator.
            for point in 0..<100 {
                let members = (0..<10).map { "{\"pod\":\"\(BenchMonth.pod(point * 100 + $0))\"}" }.joined(separator: ",")
                let others = (10..<20).map { "{\"pod\":\"\(BenchMonth.pod(point * 100 + $0))\"}" }.joined(separator: ",")
                let location = BenchMonth.point(point * 100), aggregator = BenchMonth.aggregator(point * 100)
                var status = try await call(.post, "/api/v1/market/requests", as: "DSO", #"{"session":"day-ahead","day":"\#(day)","id":"r-\#(point)","area":["\#(location)"],"isps":[{"start":40,"duration":8,"min_power":-3000,"max_power":-2000}]}"#)
                precondition(status == 201, "request: \(status)")
                for (index, pods) in [members, others].enumerated() {
                    status = try await call(.post, "/api/v1/market/offers", as: aggregator, #"{"session":"day-ahead","day":"\#(day)","id":"o-\#(point)-\#(index)","location":"\#(location)","price":\#(20 + index * 5),"isps":[{"start":40,"duration":8,"power":-2000}],"pods":[\#(pods)]}"#)
                    precondition(status == 201, "offer: \(status)")
                }
            }
            // An availability contract of dso-1's at each point, with the point's aggregator.
            for point in 0..<100 {
                let location = BenchMonth.point(point * 100), aggregator = BenchMonth.aggregator(point * 100)
                let status = try await call(.post, "/api/v1/market/contracts", as: "DSO", #"{"id":"fo-\#(point)","aggregator":"\#(aggregator)","congestion_point":"\#(location)","first_day":"2026-11-01","last_day":"2026-12-31","first_isp":40,"last_isp":47,"power_w":-2000,"fee":{"per_mw_per_isp":"1.50"},"price_cap_per_mwh":"300","penalty_per_miss":"10"}"#)
                precondition(status == 201, "contract: \(status)")
            }
            let cleared = try await call(.post, "/api/v1/market/sessions/day-ahead/\(day)/clear", as: "MO")
            precondition(cleared == 200 || cleared == 201, "clear: \(cleared)")
            // The month's statements of account, issued by a settlement run.
            _ = try await market.closeMonth("2026-11", now: Timestamp(rfc3339: "2026-12-02T08:00:00.000Z")!)
            print("loaded in \(String(format: "%.1f", seconds(since: loading))) s")

            var cookies: [String: String] = [:]
            for name in ["MO", "DSO", "agr-7"] {
                let csrf = try await client.execute(uri: "/console/login", method: .get) { response in
                    (response.headers[values: .setCookie].first { $0.hasPrefix("console_login=") }?.split(separator: ";")[0].dropFirst(14)).map(String.init) ?? ""
                }
                cookies[name] = try await client.execute(
                    uri: "/console/login", method: .post,
                    headers: [.contentType: "application/x-www-form-urlencoded", .cookie: "console_login=\(csrf)"],
                    body: ByteBuffer(string: "token=\(bearer[name]!)&csrf=\(csrf)")) { response in
                        response.headers[values: .setCookie].first { $0.hasPrefix("console_session=") }.map { String($0.split(separator: ";")[0]) } ?? ""
                    }
            }
            let screens: [(String, String, String)] = [
                ("fleet overview, first page of 10,000 nodes", "MO", "/console/fleet"),
                ("fleet overview, offline nodes, page 50", "MO", "/console/fleet?show=offline&page=50"),
                ("Light Node day (21,600 readings, sealed)", "MO", "/console/nodes/\(node)?day=\(day)"),
                ("reading proof", "MO", "/console/nodes/\(node)/readings/10000"),
                ("congestion points (100)", "DSO", "/console/congestion"),
                ("congestion point day (100 PODs)", "DSO", "/console/congestion/cp-000?day=\(day)&prognoses=include"),
                ("market day (100 requests, 200 offers, 100 orders)", "DSO", "/console/market/\(day)"),
                ("market day as an aggregator", "agr-7", "/console/market/\(day)"),
                ("order (400 set-points, settled)", "DSO", "/console/orders/da-\(day).7"),
                ("monthly settlement (3,000 orders), kept", "MO", "/console/settlements/2026-11"),
                ("monthly settlement at one point", "MO", "/console/settlements/2026-11?point=cp-007"),
                ("monthly settlement as an aggregator", "agr-7", "/console/settlements/2026-11"),
                ("statements of the month (22 parties)", "MO", "/console/statements/2026-11"),
                ("a DSO's statement (1,500 orders), first page", "DSO", "/console/statements/2026-11/dso/dso-1/v1"),
                ("a DSO's statement, every line (to print)", "DSO", "/console/statements/2026-11/dso/dso-1/v1?page=all"),
                ("an aggregator's statement", "agr-7", "/console/statements/2026-11/aggregator/agr-7/v1"),
                ("availability contracts (100) and their month", "DSO", "/console/contracts?month=2026-11"),
            ]
            func render(_ path: String, as name: String) async throws -> (Double, Int) {
                let start = DispatchTime.now().uptimeNanoseconds
                let (status, bytes) = try await client.execute(uri: path, method: .get, headers: [.cookie: cookies[name]!]) {
                    (Int($0.status.code), $0.body.readableBytes)
                }
                precondition(status == 200, "\(path) as \(name): \(status)")
                return (seconds(since: start) * 1000, bytes)
            }
            let (cold, _) = try await render("/console/settlements/2026-11", as: "MO")
            print(String(format: "monthly settlement, first view (settles 3,000 orders): %.0f ms", cold))
            print("| screen | p50 | p95 | max | page |")
            print("|---|---|---|---|---|")
            for (title, name, path) in screens {
                for _ in 0..<3 { _ = try await render(path, as: name) }
                var times: [Double] = []
                var size = 0
                for _ in 0..<renders {
                    let (ms, bytes) = try await render(path, as: name)
                    times.append(ms)
                    size = bytes
                }
                times.sort()
                let p95 = times[min(times.count - 1, Int((Double(times.count) * 0.95).rounded(.up)) - 1)]
                print(String(format: "| %@ | %.1f ms | %.1f ms | %.1f ms | %d kB |", title, times[times.count / 2], p95, times.last!, size / 1024))
            }
        }
        _ = month
    }
}
