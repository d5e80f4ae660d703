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
            package let maximum: String
            package let headroom: String
            let deficit: Bool
            package let measured: String
            /// Ordered here: whether the measured load stayed under the maximum; next to an
            /// activation: the load above the forecast (rebound).
            package let outcome: String
            let over: Bool
            package let requested: String
            package let offered: String
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
        /// Where the forecast and the maximum come from.
        package let source: String
        let imported: Bool
        let canPlan: Bool
        /// A DSO may request the deficiency: there is one.
        let requestable: Bool
        let flexLimit: String?
        package let chart: String?
        let deficitISPs: Int
        let worstDeficit: String
        package let rows: [ISPRow]
        package let aggregators: [PointAggregator]
        package let awards: [PointAward]
        /// Some award here may be ordered by the caller.
        let selectable: Bool
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
        guard let planned = try await market.congestionDay(point: point, day: day, prognoses: includePrognoses) else {
            throw Problem(.notFound, "No POD is behind \"\(point)\", no profile and no [market] table names it.")
        }
        // Entries outside today's bounds (kept from before them) are left out of the sums, as the clearing leaves them out.
        let book = try await market.book(day: day)
        let requests = book.requests.filter { $0.entry.area.contains(point) && $0.entry.withinBounds }
        let offers = book.offers.filter { $0.entry.location == point && $0.status == .open && $0.awarded < 100 && $0.entry.withinBounds }
        let (requestedLow, requestedHigh, requestedAny, offered) = Self.flexByISP(requests: requests, offers: offers, isps: count)
        let (standing, sharing) = try await market.orders(at: point, in: book)
        let ordered = Set(standing.flatMap { $0.award.isps.filter { $0.value != 0 }.flatMap(\.isps) })
        let operates = (try? market.mustOperate(point, party(session))) != nil
        let here = try await pointMarket(point: point, day: day, planned: planned, book: book, requests: requests, standing: standing,
                                         sharing: sharing, session: session)
        let time = self.time
        var labels: [String] = [], rows: [CongestionPage.ISPRow] = []
        var deficits = 0, worst = 0
        for isp in 1...count {
            let index = isp - 1
            let interval = calendar.interval(day: day, isp: isp)
            let from = interval.map { time.shown($0.lowerBound, seconds: false) } ?? ""
            labels.append(from)
            let limit = planned.maxW[index], forecast = planned.forecast[index], measured = planned.measured[index]
            let headroom = limit.flatMap { limit in forecast.map { limit - $0 } }
            if let headroom, headroom < 0 {
                deficits += 1
                worst = min(worst, headroom)
            }
            let (outcome, over) = Self.outcome(isp: isp, ordered: ordered, measured: measured, forecast: forecast, limit: limit)
            rows.append(.init(
                isp: isp, span: "\(from)–\(interval.map { time.shown($0.upperBound, seconds: false) } ?? "")",
                forecast: forecast.map { Units.watts(Double($0)) } ?? "—", maximum: limit.map { Units.watts(Double($0)) } ?? "—",
                headroom: headroom.map { $0 < 0 ? "deficiency \(Units.watts(Double(-$0)))" : "available \(Units.watts(Double($0)))" } ?? "—",
                deficit: (headroom ?? 0) < 0, measured: measured.map { Units.watts(Double($0)) } ?? "—", outcome: outcome, over: over,
                requested: requestedAny[index] ? "\(Units.watts(Double(requestedLow[index]))) to \(Units.watts(Double(requestedHigh[index])))" : "—",
                offered: offered[index] != 0 ? Units.watts(Double(offered[index])) : "—"))
        }
        let limits = Set(planned.maxW.compactMap { $0 })
        let chart = planned.forecast.contains { $0 != nil } ? ProfileChart().svg(
            forecast: planned.forecast, maxLoad: planned.maxW, measured: planned.measured, labels: labels,
            title: "Forecast at \(point) on \(day)\(includePrognoses ? " with D-prognoses" : "")",
            description: "\(count) ISPs; \(limits.isEmpty ? "" : "maximum load, dashed; ")measured load, green; \(deficits) ISP\(deficits == 1 ? "" : "s") in deficiency, shaded.") : nil
        let profile = planned.profile
        let source = profile.map { "the DSO's profile, imported by \($0.importedBy) at \(time.shown(Timestamp(rfc3339: $0.t) ?? start, seconds: false)), with the aggregators' D-prognoses" }
            ?? "the BRPs' baselines\(includePrognoses ? ", each aggregator that sent a D-prognosis counted by it instead of its PODs' baselines" : ""), and [market] max_load_w"
        return html(render("congestion", CongestionPage(
            chrome: chrome(session, "Congestion point \(point)", "grid"), point: point, day: day,
            previousDay: calendar.day(after: day, by: -1), nextDay: calendar.day(after: day), zone: time.zoneLabel(at: start),
            includePrognoses: includePrognoses, pods: planned.pods.count, withBaseline: planned.withBaseline,
            maxLoad: limits.min().map { low in limits.count == 1 ? Units.watts(Double(low)) : "\(Units.watts(Double(low))) to \(Units.watts(Double(limits.max() ?? low)))" },
            source: source, imported: profile != nil, canPlan: operates,
            requestable: operates && deficits > 0,
            flexLimit: market.config.limits.limitW[point].map { Units.watts(Double($0)) },
            chart: chart, deficitISPs: deficits, worstDeficit: Units.watts(Double(-worst)), rows: rows,
            aggregators: here.aggregators, awards: here.awards, selectable: here.awards.contains(where: \.selectable),
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

    /// What the measured load says of an ISP (FR45): at an activated one, whether it stayed under
    /// the maximum; within two ISPs of an activation, the load above the forecast as rebound.
    static func outcome(isp: Int, ordered: Set<Int>, measured: Int?, forecast: Int?, limit: Int?) -> (String, Bool) {
        guard let measured else { return ("", false) }
        if ordered.contains(isp) {
            guard let limit else { return ("activated", false) }
            return measured > limit ? ("activated, still \(Units.watts(Double(measured - limit))) over", true) : ("activated, under the maximum", false)
        }
        guard (isp - 2...isp + 2).contains(where: ordered.contains), let forecast, measured > forecast else { return ("", false) }
        return ("rebound \(Units.watts(Double(measured - forecast)))", false)
    }

    package struct ProfileForm: ConsoleForm {
        package var day: String
        /// Pasted or typed.
        package var csv: String?
        /// An uploaded CSV file (multipart/form-data); it wins over `csv`.
        package var file: String?
        package var csrf: String?
    }

    /// The DSO's profile of a day, uploaded as a CSV file or pasted (as `PUT …/congestion-points/{point}/profiles/{day}`).
    func importProfile(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let form = try await form(ProfileForm.self, request, context)
        let point = try context.parameters.require("point")
        guard let isps = market.calendar.ispCount(form.day) else { throw Problem(.badRequest, "The day is a date YYYY-MM-DD.", field: "day") }
        guard let csv = [form.file, form.csv].compactMap({ $0 }).first(where: { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) else {
            throw Problem(.badRequest, "Choose the profile's CSV file or paste it.", field: "file")
        }
        let profile: CongestionProfile
        do {
            profile = try CongestionProfile.parse(csv: csv, point: point, day: form.day, isps: isps)
        } catch {
            throw Problem(.badRequest, error.description, field: "csv")
        }
        _ = try await market.importProfile(profile, by: party(session), now: market.clock())
        return Self.redirect("/console/congestion/\(point)?day=\(form.day)")
    }

    package struct DeficiencyForm: ConsoleForm {
        package var day: String
        package var csrf: String?
    }

    /// A request for the day's deficiency (FR26), then the market day where it is cleared and ordered.
    func requestDeficiency(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let form = try await form(DeficiencyForm.self, request, context)
        let point = try context.parameters.require("point")
        let filed = try await market.requestDeficiency(point: point, day: form.day, by: party(session), now: market.clock())
        logger.notice("console: \(session.caller.role.rawValue) \(session.caller.participant ?? "-") requested the deficiency of \(point) on \(form.day): \(filed.key)")
        return Self.redirect("/console/market/\(form.day)")
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
