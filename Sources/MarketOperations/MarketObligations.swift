import Foundation
import Market
import SCD
import UFTPGateway

/// How an aggregator met its obligation to offer flexibility upon request in a month (FUSION
/// FR52), at a congestion point or all of them: the requests at points where it represents PODs,
/// how many it answered with an offer, what it revoked, and what it delivered of its orders.
/// What availability contracts oblige beyond this (contracted power at or under a price cap) is
/// assessed per contract (`contractMonths`, `contractMisses`).
public struct Obligation: Sendable {
    public var aggregator: String
    /// Requests at congestion points where the aggregator represents PODs.
    public var requests: Int
    /// Of those, the ones it offered on: at the point, the same day and session, on a requested ISP.
    public var answered: Int
    public var offers: Int
    public var revoked: Int
    public var orders: Int
    public var deliveredWh: Int
    public var deficiencyWh: Int

    /// Answered requests as a share of requests (nil when there were none).
    public var responseRate: Double? { requests == 0 ? nil : Double(answered) / Double(requests) }
    /// Delivered energy as a share of what was ordered (nil without orders).
    public var deliveryRate: Double? {
        deliveredWh + deficiencyWh == 0 ? nil : Double(deliveredWh) / Double(deliveredWh + deficiencyWh)
    }
}

public struct ObligationReport: Sendable {
    /// The congestion points where the aggregators in view hold PODs (to choose among).
    public var points: [String]
    public var aggregators: [Obligation]
}

extension Marketplace {
    /// The month's obligations per aggregator (or one's), at `point` or every congestion point;
    /// `report` is the month's settlement, whose orders give the deliveries.
    package nonisolated func obligations(month: String, report: MonthlyReport, aggregator: String?, point: String?) async throws -> ObligationReport {
        let days = Self.days(ofMonth: month)
        var points: [String: Set<String>] = [:], every: Set<String> = []
        for pod in try await store.pods(aggregator: aggregator) {
            guard let owner = pod.aggregator, let location = pod.congestionPoint else { continue }
            every.insert(location)
            if point == nil || location == point { points[owner, default: []].insert(location) }
        }
        let requests = try await store.records(MarketRequest.self, days: days)
        let offers = try await store.records(MarketOffer.self, days: days).filter {
            (aggregator == nil || $0.entry.aggregator == aggregator) && (point == nil || $0.entry.location == point)
        }
        let orders = report.orders.filter { point == nil || $0.location == point }
        let names = Set(points.keys).union(offers.map(\.entry.aggregator)).union(orders.map(\.aggregator))
            .filter { aggregator == nil || $0 == aggregator }
        return ObligationReport(points: every.sorted(), aggregators: names.sorted().map { name in
            let held = points[name] ?? []
            let own = offers.filter { $0.entry.aggregator == name }
            var obligation = Obligation(aggregator: name, requests: 0, answered: 0, offers: own.count,
                                        revoked: own.filter { $0.status == .revoked }.count, orders: 0, deliveredWh: 0, deficiencyWh: 0)
            for request in requests {
                let area = Set(request.entry.area).intersection(held)
                guard !area.isEmpty else { continue }
                obligation.requests += 1
                if own.contains(where: { $0.answers(request, at: area) }) { obligation.answered += 1 }
            }
            for order in orders where order.aggregator == name {
                obligation.orders += 1
                obligation.deliveredWh += energyWh(order.delivered)
                obligation.deficiencyWh += energyWh(order.deficiency)
            }
            return obligation
        })
    }
}

extension MarketOffer {
    /// Whether the offer answers `request` (FR52): the same day and session, at one of `area`, on
    /// a requested ISP.
    package func answers(_ request: MarketRequest, at area: Set<String>) -> Bool {
        guard day == request.day, session == request.session, area.contains(entry.location) else { return false }
        let asked = Set(request.entry.isps.flatMap(\.range))
        return entry.isps.contains { !asked.isDisjoint(with: $0.range) }
    }
}
