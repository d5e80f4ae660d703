import Foundation
import GridCore
import Market
import SCD
import UFTPGateway

/// Settlement of orders from certified quarter-hour measurements against their baselines
/// (I-03), per POD and ISP across every order standing there (UFTP §2.6, docs/market.md), and
/// the monthly report per aggregator (I-15) with its CSV. Amounts in cents.
public struct SettledOrder: Encodable, Sendable {
    public struct PODRow: Encodable, Sendable {
        public var pod: String
        public var isps: [SettledISP]
    }

    /// A POD's ISP not settled as measured, and why.
    public struct Unsettled: Encodable, Sendable {
        public var pod: String
        public var isp: Int
        public var reason: String
    }

    public var order: String
    public var day: String
    /// The request the order answers (`<buyer>:<id>`): its buyer's.
    public var request: String
    public var aggregator: String
    /// The congestion point of the order's award.
    public var location: String
    public var price: Money
    public var delivered: Int
    public var deficiency: Int
    public var fee: Money
    public var penalty: Money
    public var net: Money
    public var pods: [PODRow]
    /// POD ISPs without a certified, complete measure (or a baseline): neither paid nor charged.
    public var unverified: [Unsettled]
    /// POD ISPs never dispatched to the site (trimmed, undeliverable, refused or unacknowledged
    /// by the node): neither paid nor charged.
    public var notDispatched: [Unsettled]

    enum CodingKeys: String, CodingKey {
        case order, day, request, aggregator, location, price, delivered, deficiency, fee, penalty, net, pods, unverified, notDispatched = "not_dispatched"
    }
}

public struct AggregatorReport: Encodable, Sendable {
    public var aggregator: String
    public var orders: Int
    /// Energy delivered, Wh (the delivered W over each ISP's length).
    public var deliveredWh: Int
    public var deficiencyWh: Int
    /// Activation: the orders' fees, penalties and net.
    public var fee: Money
    public var penalty: Money
    public var net: Money
    public var unverified: Int
    /// Availability: its contracts' fees and the penalties for their misses.
    public var availabilityFee: Money = .zero
    public var contractPenalty: Money = .zero
    /// Activation net plus availability fees minus contract penalties (summed with the month).
    public var total: Money = .zero

    enum CodingKeys: String, CodingKey {
        case aggregator, orders, deliveredWh = "delivered_wh", deficiencyWh = "deficiency_wh", fee, penalty, net, unverified
        case availabilityFee = "availability_fee", contractPenalty = "contract_penalty", total
    }
}

public struct MonthlyReport: Encodable, Sendable {
    public var month: String
    public var aggregators: [AggregatorReport]
    public var orders: [SettledOrder]
    /// The availability contracts' months (docs/market.md, "Availability contracts").
    public var contracts: [ContractMonth] = []
}

extension Marketplace {
    nonisolated var settlementTerms: SettlementTerms {
        SettlementTerms(penaltyPerMW: config.penaltyPerMW, cancellationFeePercent: config.cancellationFeePercent)
    }

    /// Settles every order of the market days in `days`.
    package nonisolated func settle(days: ClosedRange<String>) async throws -> [SettledOrder] {
        let orders = try await store.records(MarketOrder.self, days: days)
        return try await settle(orders, among: orders)
    }

    /// Settles one order, with the other orders of its day at its PODs.
    package nonisolated func settle(_ order: MarketOrder) async throws -> SettledOrder {
        var others: [String: MarketOrder] = [order.id: order]
        for other in try await orders(day: order.day, pods: Set(order.setPoints.map(\.pod))) { others[other.id] = other }
        return try await settle([order], among: Array(others.values))[0]
    }

    /// Settles `orders`, sharing each POD and ISP's measurement among every order of `among`
    /// standing there (a superset of `orders` holding all of them at their PODs and days).
    package nonisolated func settle(_ orders: [MarketOrder], among all: [MarketOrder]) async throws -> [SettledOrder] {
        let calendar = config.calendar
        // Each POD and ISP's parts, in the orders' creation order.
        var parts: [String: [(order: MarketOrder, part: DispatchedSetPoint)]] = [:]
        for order in all.sorted(by: { ($0.created, $0.id) < ($1.created, $1.id) }) {
            for part in order.setPoints { parts[Self.place(order.day, part.pod, part.isp), default: []].append((order, part)) }
        }
        var lines: [String: SettledISP] = [:]
        for (day, dayOrders) in Dictionary(grouping: orders, by: \.day) {
            let places = Set(dayOrders.flatMap { $0.setPoints.map { Self.place(day, $0.pod, $0.isp) } })
            let measures = try await quarterMeasures(day: day, parts: places.flatMap { parts[$0] ?? [] }.map(\.part))
            for place in places.sorted() {
                guard let standing = parts[place], let first = standing.first else { continue }
                let quarters = calendar.interval(day: day, isp: first.part.isp).map { interval in
                    (0..<(calendar.ispMinutes / 15)).map { interval.lowerBound.millisecondsSince1970 + Int64($0) * 900_000 }
                }
                let baseline = (standing.first { $0.part.standing == .dispatched } ?? first).part.baseline
                var (allocation, problem) = allocation(quarters: quarters, measures: measures[first.part.pod] ?? [:])
                if baseline == nil { problem = "no baseline" }
                let interval = PODInterval(pod: first.part.pod, isp: first.part.isp, baseline: baseline ?? 0, allocation: allocation,
                                           unverified: problem, parts: standing.map { .init(order: $0.order.id, ordered: $0.part.ordered, standing: $0.part.standing) })
                for (line, part) in zip(Settlement.share(interval), standing) { lines[part.part.id] = line }
            }
        }
        let terms = settlementTerms
        return orders.map { order in
            let priced = Settlement.price(order.setPoints.compactMap { lines[$0.id] }, price: order.award.price, terms: terms)
            let byPOD = Dictionary(grouping: priced.isps, by: \.pod)
            func unsettled(_ status: SettledISP.Status) -> [SettledOrder.Unsettled] {
                priced.isps.filter { $0.status == status }.map { .init(pod: $0.pod, isp: $0.isp, reason: $0.reason ?? status.rawValue) }
            }
            return SettledOrder(order: order.id, day: order.day, request: order.award.request, aggregator: order.award.aggregator, location: order.award.location,
                                price: order.award.price, delivered: priced.delivered, deficiency: priced.deficiency, fee: priced.fee,
                                penalty: priced.penalty, net: priced.net,
                                pods: order.pods.map { SettledOrder.PODRow(pod: $0.pod, isps: byPOD[$0.pod] ?? []) },
                                unverified: unsettled(.unverified), notDispatched: unsettled(.notDispatched))
        }
    }

    private static func place(_ day: String, _ pod: String, _ isp: Int) -> String { "\(day) \(pod) \(isp)" }

    /// The quarter-hour measures of the PODs and ISPs of `parts` on `day`, by POD and quarter start
    /// (ms). A quarter is measured 10 s after it ends; one not measured yet is measured here the
    /// same way, from its readings so far (a running ISP settles provisionally, as its coverage shows).
    private nonisolated func quarterMeasures(day: String, parts: [DispatchedSetPoint]) async throws -> [String: [Int64: QuarterMeasure]] {
        let calendar = config.calendar
        var quarters: [Int: [Int64]] = [:]
        for isp in Set(parts.map(\.isp)) {
            guard let interval = calendar.interval(day: day, isp: isp) else { continue }
            quarters[isp] = (0..<(calendar.ispMinutes / 15)).map { interval.lowerBound.millisecondsSince1970 + Int64($0) * 900_000 }
        }
        var measures: [String: [Int64: QuarterMeasure]] = [:]
        let starts = quarters.values.flatMap { $0 }
        let pods = Array(Set(parts.map(\.pod))).sorted()
        if let first = starts.min(), let last = starts.max() {
            for measure in try await store.measures(pods: pods, from: Timestamp(millisecondsSince1970: first),
                                                    to: Timestamp(millisecondsSince1970: last + 900_000)) {
                measures[measure.pod, default: [:]][measure.start.millisecondsSince1970] = measure
            }
        }
        for (pod, podParts) in Dictionary(grouping: parts, by: \.pod) {
            let missing = Set(podParts.flatMap { quarters[$0.isp] ?? [] }).filter { measures[pod]?[$0] == nil }.sorted()
            guard !missing.isEmpty, let nodeID = podParts.first(where: { $0.node != nil })?.node,
                  let node = try await store.node(nodeID) else { continue }
            for start in missing.map({ Timestamp(millisecondsSince1970: $0) }) {
                let readings = try await store.readings(node: node.id, meter: node.meter, from: start.adding(milliseconds: -900_000),
                                                        to: start.adding(milliseconds: 900_000))
                if let measure = QuarterHours.measure(pod: pod, start: start, readings: readings, intervalMs: Int64(readingIntervalMs)) {
                    measures[pod, default: [:]][start.millisecondsSince1970] = measure
                }
            }
        }
        return measures
    }

    /// The ISP's average power from its quarter-hour measures (`quarters`: their starts), if every
    /// one is certified and covers enough of its quarter; else why not.
    private nonisolated func allocation(quarters: [Int64]?, measures: [Int64: QuarterMeasure]) -> (Int?, String?) {
        guard let quarters else { return (nil, "no such ISP") }
        var total = 0.0
        for start in quarters {
            guard let measure = measures[start] else { return (nil, "no measurement") }
            guard let watts = Bounds.watts(measure.averageW) else { return (nil, "implausible measurement (\(measure.averageW) W)") }
            guard measure.certified else { return (watts, "not certified") }
            guard measure.coverage >= config.settlementMinCoverage else {
                return (watts, "incomplete (coverage \(Int((measure.coverage * 100).rounded(.down))) %)")
            }
            total += measure.averageW
        }
        return (Bounds.watts(total / Double(quarters.count)), nil)
    }

    /// Watts summed over ISPs (a settled order's delivered or missing power) as energy, Wh.
    package nonisolated func energyWh(_ ispWatts: Int) -> Int {
        Int((Double(ispWatts) * Double(config.calendar.ispMinutes) / 60).rounded())
    }

    /// The first instant of `month` (`YYYY-MM`), or the refusal that names it.
    package nonisolated func monthStart(_ month: String) throws -> Timestamp {
        guard month.utf8.count == 7, let start = calendar.start(of: month + "-01") else {
            throw MarketRefusal.invalid(field: "month", "month must be YYYY-MM")
        }
        return start
    }

    /// The market days of `month` as stored documents name them.
    package nonisolated static func days(ofMonth month: String) -> ClosedRange<String> { (month + "-01")...(month + "-31") }

    /// The month's settlement (I-15): per aggregator, and every order; `aggregator` limits it to one.
    public nonisolated func monthlyReport(month: String, aggregator: String?) async throws -> MonthlyReport {
        _ = try monthStart(month)
        var orders = try await settle(days: Self.days(ofMonth: month))
        if let aggregator { orders = orders.filter { $0.aggregator == aggregator } }
        var reports: [String: AggregatorReport] = [:]
        for order in orders {
            var report = reports[order.aggregator] ?? AggregatorReport(aggregator: order.aggregator, orders: 0, deliveredWh: 0, deficiencyWh: 0,
                                                                       fee: 0, penalty: 0, net: 0, unverified: 0)
            report.orders += 1
            report.deliveredWh += energyWh(order.delivered)
            report.deficiencyWh += energyWh(order.deficiency)
            report.fee += order.fee
            report.penalty += order.penalty
            report.net += order.net
            report.unverified += order.unverified.count
            reports[order.aggregator] = report
        }
        let contracts = try await contractMonths(month: month, aggregator: aggregator)
        for contract in contracts {
            var report = reports[contract.aggregator] ?? AggregatorReport(aggregator: contract.aggregator, orders: 0, deliveredWh: 0,
                                                                          deficiencyWh: 0, fee: 0, penalty: 0, net: 0, unverified: 0)
            report.availabilityFee += contract.availabilityFee
            report.contractPenalty += contract.penalty
            reports[contract.aggregator] = report
        }
        let totals = reports.keys.sorted().compactMap { reports[$0] }.map { report in
            var report = report
            report.total = report.net + report.availabilityFee - report.contractPenalty
            return report
        }
        return MonthlyReport(month: month, aggregators: totals, orders: orders, contracts: contracts)
    }
}

extension MonthlyReport {
    /// The report of one aggregator.
    public func only(aggregator: String) -> MonthlyReport {
        MonthlyReport(month: month, aggregators: aggregators.filter { $0.aggregator == aggregator },
                      orders: orders.filter { $0.aggregator == aggregator }, contracts: contracts.filter { $0.aggregator == aggregator })
    }

    /// One line per order, POD and ISP.
    public var csv: String {
        var lines = ["order,day,aggregator,pod,isp,baseline_w,ordered_w,allocation_w,realized_w,delivered_w,deficiency_w,fee,penalty,net,status"]
        for order in orders {
            for pod in order.pods {
                for isp in pod.isps {
                    lines.append([order.order, order.day, order.aggregator, pod.pod, "\(isp.isp)", "\(isp.baseline)", "\(isp.ordered)",
                                  isp.allocation.map(String.init) ?? "", "\(isp.realized)", "\(isp.delivered)", "\(isp.deficiency)",
                                  "\(isp.fee)", "\(isp.penalty)", "\(isp.net)", isp.status.rawValue].joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The console's monthly reports, kept between views: settling a month of 10,000 PODs reads and
/// settles every order (seconds), too slow for a page. A view older than `maxAge` is answered
/// from the kept report while one recomputation runs (stale-while-revalidate); the page says when
/// the figures were settled. The API and the CSV always settle afresh.
public actor SettlementSnapshots {
    public struct Snapshot: Sendable {
        public let report: MonthlyReport
        /// Milliseconds since 1970.
        public let settled: Int64
    }

    private var kept: [String: Snapshot] = [:]
    private var refreshing: Set<String> = []
    package let maxAgeMs: Int64

    public init(maxAgeSeconds: Int = 60) {
        maxAgeMs = Int64(maxAgeSeconds) * 1000
    }

    /// The month's report: kept (recomputed behind it when old), or settled now when none is kept.
    package func report(month: String, now: Int64, settle: @escaping @Sendable () async throws -> MonthlyReport) async throws -> Snapshot {
        if let snapshot = kept[month] {
            if now - snapshot.settled > maxAgeMs, refreshing.insert(month).inserted {
                Task { await self.refresh(month, settle: settle) }
            }
            return snapshot
        }
        let snapshot = Snapshot(report: try await settle(), settled: now)
        kept[month] = snapshot
        return snapshot
    }

    private func refresh(_ month: String, settle: @Sendable () async throws -> MonthlyReport) async {
        defer { refreshing.remove(month) }
        let started = Timestamp.realNow().millisecondsSince1970
        if let report = try? await settle() { kept[month] = Snapshot(report: report, settled: started) }
    }
}
