import Foundation
import GridCore
import Hummingbird
import Market
import MarketOperations
import PlatformAPI
import ReadingsIngest
import SCD
import UFTP

/// The DSO's view of its congestion points (FUSION FR24, FR25, FR35, FR36): the day's forecast
/// against the maximum load, the deficiency/availability profile, who sent a D-prognosis, and the
/// requests and open offers there.
extension Console {
    static let gridRoles: Set<Role> = [.admin, .dso, .marketOperator]

    package struct CongestionIndexPage {
        package struct Point {
            package let id: String
            package let pods: Int
            package let aggregators: String
            package let maxLoad: String
            let flexLimit: String
        }
        let chrome: Chrome
        package let day: String
        package let points: [Point]
    }

    /// Every congestion point the platform knows: from the PODs' registry and the `[market]` tables.
    package func congestionPoints(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let config = market.config
        var pods: [String: Int] = [:], aggregators: [String: Set<String>] = [:]
        for pod in try await store.pods(aggregator: nil) {
            guard let point = pod.congestionPoint else { continue }
            pods[point, default: 0] += 1
            if let aggregator = pod.aggregator { aggregators[point, default: []].insert(aggregator) }
        }
        let ids = Set(pods.keys).union(config.maxLoadW.keys).union(config.limits.limitW.keys).sorted()
        let tomorrow = market.calendar.day(after: market.calendar.day(of: Timestamp.now())) ?? ""
        return html(render("congestion-index", CongestionIndexPage(
            chrome: chrome(session, "Congestion points", "grid"), day: tomorrow,
            points: ids.map { id in
                .init(id: id, pods: pods[id] ?? 0, aggregators: aggregators[id]?.sorted().joined(separator: ", ") ?? "—",
                      maxLoad: config.maxLoadW[id].map { Units.watts(Double($0)) } ?? "not set",
                      flexLimit: config.limits.limitW[id].map { Units.watts(Double($0)) } ?? "none")
            })))
    }

    package struct CongestionPage {
        package struct ISPRow {
            package let isp: Int
            package let span: String
            package let forecast: String
            package let headroom: String
            let deficit: Bool
            package let requested: String
            package let offered: String
        }
        package struct Aggregator {
            package let name: String
            package let pods: Int
            package let prognosis: String?
        }
        package struct RequestRow {
            package let id: String
            package let buyer: String
            package let session: String
            package let isps: String
            package let status: String
        }
        package struct OfferRow {
            package let id: String
            package let aggregator: String
            package let session: String
            package let price: String
            package let isps: String
            package let left: String
        }
        let chrome: Chrome
        package let point: String
        package let day: String
        let previousDay: String?
        let nextDay: String?
        package let zone: String
        let includePrognoses: Bool
        package let pods: Int
        let withBaseline: Int
        package let maxLoad: String?
        let flexLimit: String?
        package let chart: String?
        let deficitISPs: Int
        let worstDeficit: String
        package let rows: [ISPRow]
        package let aggregators: [Aggregator]
        package let requests: [RequestRow]
        package let offers: [OfferRow]
    }

    func congestionDay(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let point = try context.parameters.require("point")
        let calendar = market.calendar
        // FR25: the day to plan is tomorrow unless the operator picks another.
        let day = request.uri.queryParameters["day"].map(String.init)
            ?? calendar.day(after: calendar.day(of: Timestamp.now())) ?? calendar.day(of: Timestamp.now())
        guard let start = calendar.start(of: day), let count = calendar.ispCount(day) else {
            throw Problem(.badRequest, "The day is a date YYYY-MM-DD.")
        }
        let includePrognoses = request.uri.queryParameters["prognoses"] == "include"
        let pods = try await store.pods(congestionPoint: point)
        var members: [String: Set<String>] = [:]
        for pod in pods { if let aggregator = pod.aggregator { members[aggregator, default: []].insert(pod.id) } }
        for entry in try await store.customerList(day: day, aggregator: nil) where entry.congestionPoint == point {
            members[entry.aggregator, default: []].insert(entry.pod)
        }
        let config = market.config
        guard !pods.isEmpty || !members.isEmpty || config.maxLoadW[point] != nil || config.limits.limitW[point] != nil else {
            throw Problem(.notFound, "No POD is behind \"\(point)\" and no [market] table names it.")
        }
        var prognoses: [String: DPrognosis] = [:]
        for aggregator in members.keys {
            prognoses[aggregator] = try await market.latestPrognosis(aggregator: aggregator, location: point, day: day)
        }
        let (forecast, withBaseline) = try await forecast(pods: pods, day: day, isps: count,
                                                          prognoses: includePrognoses ? prognoses : [:], members: members)
        // Entries outside today's bounds (kept from before them) are left out of the sums, as the clearing leaves them out.
        let book = try await market.book(day: day)
        let requests = book.requests.filter { $0.entry.area.contains(point) && $0.entry.withinBounds }
        let offers = book.offers.filter { $0.entry.location == point && $0.status == .open && $0.awarded < 100 && $0.entry.withinBounds }
        let (requestedLow, requestedHigh, requestedAny, offered) = Self.flexByISP(requests: requests, offers: offers, isps: count)
        let time = self.time
        let maxLoad = config.maxLoadW[point]
        var labels: [String] = [], rows: [CongestionPage.ISPRow] = []
        var deficits = 0, worst = 0
        for isp in 1...count {
            let interval = calendar.interval(day: day, isp: isp)
            let from = interval.map { time.shown($0.lowerBound, seconds: false) } ?? ""
            labels.append(from)
            let headroom = maxLoad.flatMap { limit in forecast[isp - 1].map { limit - $0 } }
            if let headroom, headroom < 0 {
                deficits += 1
                worst = min(worst, headroom)
            }
            rows.append(.init(
                isp: isp, span: "\(from)–\(interval.map { time.shown($0.upperBound, seconds: false) } ?? "")",
                forecast: forecast[isp - 1].map { Units.watts(Double($0)) } ?? "—",
                headroom: headroom.map { $0 < 0 ? "deficiency \(Units.watts(Double(-$0)))" : "available \(Units.watts(Double($0)))" } ?? "—",
                deficit: (headroom ?? 0) < 0,
                requested: requestedAny[isp - 1] ? "\(Units.watts(Double(requestedLow[isp - 1]))) to \(Units.watts(Double(requestedHigh[isp - 1])))" : "—",
                offered: offered[isp - 1] != 0 ? Units.watts(Double(offered[isp - 1])) : "—"))
        }
        let chart = forecast.contains { $0 != nil } ? ProfileChart().svg(
            forecast: forecast, maxLoad: maxLoad, labels: labels,
            title: "Forecast at \(point) on \(day)\(includePrognoses ? " with D-prognoses" : "")",
            description: "\(count) ISPs; \(maxLoad.map { "maximum load \(Units.watts(Double($0))), dashed; " } ?? "")\(deficits) ISP\(deficits == 1 ? "" : "s") in deficiency, shaded.") : nil
        return html(render("congestion", CongestionPage(
            chrome: chrome(session, "Congestion point \(point)", "grid"), point: point, day: day,
            previousDay: calendar.day(after: day, by: -1), nextDay: calendar.day(after: day), zone: time.zoneLabel(at: start),
            includePrognoses: includePrognoses, pods: pods.count, withBaseline: withBaseline,
            maxLoad: maxLoad.map { Units.watts(Double($0)) }, flexLimit: config.limits.limitW[point].map { Units.watts(Double($0)) },
            chart: chart, deficitISPs: deficits, worstDeficit: Units.watts(Double(-worst)), rows: rows,
            aggregators: members.keys.sorted().map { name in
                .init(name: name, pods: members[name]?.count ?? 0,
                      prognosis: prognoses[name].map { "revision \($0.revision), \($0.isps.count) ISP span\($0.isps.count == 1 ? "" : "s")" })
            },
            requests: requests.map {
                .init(id: $0.entry.id, buyer: $0.entry.buyer, session: $0.session.rawValue,
                      isps: Self.spans($0.entry.isps.map { ($0.range, "\(Units.watts(Double($0.minPower))) to \(Units.watts(Double($0.maxPower)))") }),
                      status: $0.status.rawValue)
            },
            offers: offers.map {
                .init(id: $0.entry.id, aggregator: $0.entry.aggregator, session: $0.session.rawValue,
                      price: Units.price($0.entry.price, perMWh: $0.entry.pricePerMWh(ispMinutes: calendar.ispMinutes)),
                      isps: Self.spans($0.entry.isps.map { ($0.range, Units.watts(Double($0.power))) }),
                      left: "\(100 - $0.awarded) %")
            })))
    }

    /// The forecast per ISP: the BRP's baselines of the point's PODs; an aggregator whose
    /// D-prognosis is given stands for its PODs with it. Also how many PODs have a baseline.
    func forecast(pods: [PODRecord], day: String, isps count: Int, prognoses: [String: DPrognosis],
                  members: [String: Set<String>]) async throws -> (forecast: [Int?], withBaseline: Int) {
        let replaced = Set(prognoses.keys.flatMap { members[$0] ?? [] })
        let baselines = try await market.baselinesByISP(pods: pods.map(\.id), day: day)
        var forecast = [Int?](repeating: nil, count: count)
        for (pod, byISP) in baselines where !replaced.contains(pod) {
            for (isp, watts) in byISP where (1...count).contains(isp) { forecast[isp - 1] = (forecast[isp - 1] ?? 0) + watts }
        }
        for prognosis in prognoses.values {
            for (isp, power) in prognosis.powerByISP where (1...count).contains(isp) {
                forecast[isp - 1] = (forecast[isp - 1] ?? 0) + power
            }
        }
        return (forecast, baselines.count)
    }

    /// ISP spans with what each holds: "1–4: 2 kW; 9: 1 kW".
    static func spans(_ isps: [(range: Range<Int>, text: String)]) -> String {
        isps.map { "\(ispNumbers($0.range)): \($0.text)" }.joined(separator: "; ")
    }

    /// Per ISP: the flexibility requested (lowest and highest sums, and whether any) and the
    /// flexibility still offered (each offer's part not awarded yet).
    static func flexByISP(requests: [MarketRequest], offers: [MarketOffer], isps count: Int)
        -> (low: [Int], high: [Int], any: [Bool], offered: [Int]) {
        var low = [Int](repeating: 0, count: count), high = [Int](repeating: 0, count: count)
        var any = [Bool](repeating: false, count: count)
        for request in requests {
            for span in request.entry.isps {
                for isp in span.range where (1...count).contains(isp) {
                    low[isp - 1] += span.minPower
                    high[isp - 1] += span.maxPower
                    any[isp - 1] = true
                }
            }
        }
        var offered = [Int](repeating: 0, count: count)
        for offer in offers {
            for span in offer.entry.isps {
                for isp in span.range where (1...count).contains(isp) {
                    offered[isp - 1] += span.power * (100 - offer.awarded) / 100
                }
            }
        }
        return (low, high, any, offered)
    }
}
