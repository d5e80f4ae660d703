import Foundation
import GridCore
import Hummingbird
import Market
import MarketOperations
import PlatformAPI

/// The market as the DSO's operator works it from a congestion point's day: every aggregator
/// asked there, what it offered, whether it kept its contract (FUSION FR29) and how much of what
/// was ordered from it it delivered (FR44); the awards at the point, selected and ordered in one
/// confirmation (FR29/FR30, FR36/FR37).
extension Console {
    package struct PointAggregator {
        package let name: String
        package let pods: Int
        package let prognosis: String?
        /// Requests at the point it answered with an offer, of those made.
        package let answered: String
        /// Its contracts' misses on the day, with their reasons.
        package let misses: [String]
        package let orders: Int
        /// Cumulative over the day: ordered and delivered energy, settled from certified measures.
        package let ordered: String
        package let delivered: String
        package let share: String
        /// POD ISPs of its orders not (yet) settled: no certified, complete measure.
        package let unverified: Int
    }

    package struct PointAward {
        /// The order it becomes: `<round>.<index>`.
        package let id: String
        package let request: String
        package let offer: String
        package let aggregator: String
        package let isps: String
        package let energy: String
        package let price: String
        /// `final`, or `preliminary` while the DSO's validation (on the market day) is due.
        package let state: String
        package let order: String?
        package let selectable: Bool
    }

    /// The aggregators at `point` on `day` and the awards there, as `session` may act on them;
    /// `standing`: the day's orders here not cancelled, settled among `sharing` (`Marketplace.orders(at:in:)`).
    func pointMarket(point: String, day: String, planned: CongestionDay, book: MarketBook, requests: [MarketRequest],
                     standing: [MarketOrder], sharing: [MarketOrder], session: ConsoleSessions.Session) async throws
        -> (aggregators: [PointAggregator], awards: [PointAward]) {
        let offers = book.offers.filter { $0.entry.location == point && $0.status != .revoked }
        let misses = try await market.contractMisses(point: point, day: day)
        let settled = try await market.settle(standing, among: sharing)
        let orderedWh = Dictionary(standing.map { ($0.id, $0.award.energyWh) }, uniquingKeysWith: { first, _ in first })
        let names = Set(planned.members.keys).union(offers.map(\.entry.aggregator)).union(settled.map(\.aggregator)).union(misses.keys)
        let aggregators = names.sorted().map { name in
            let own = offers.filter { $0.entry.aggregator == name }
            let answered = requests.filter { request in own.contains { $0.answers(request, at: [point]) } }.count
            let orders = settled.filter { $0.aggregator == name }
            let delivered = orders.reduce(0) { $0 + market.energyWh($1.delivered) }
            let ordered = orders.reduce(0) { $0 + (orderedWh[$1.order] ?? 0) }
            return PointAggregator(
                name: name, pods: planned.members[name]?.count ?? 0,
                prognosis: planned.prognoses[name].map { "revision \($0.revision), \($0.isps.count) ISP span\($0.isps.count == 1 ? "" : "s")" },
                answered: requests.isEmpty ? "—" : "\(answered) of \(requests.count)",
                misses: (misses[name] ?? []).map { "\($0.contract): \($0.reason) (request \($0.request))" },
                orders: orders.count, ordered: Units.wattHours(Double(ordered)), delivered: Units.wattHours(Double(delivered)),
                share: ordered == 0 ? "—" : "\(delivered * 100 / ordered) %", unverified: orders.reduce(0) { $0 + $1.unverified.count })
        }
        let ordered = Set(sharing.map(\.id))
        let buyers = Dictionary(book.requests.map { ($0.key, $0.entry.buyer) }, uniquingKeysWith: { first, _ in first })
        let party = party(session), planner = [.admin, .dso].contains(session.caller.role)
        let awards = book.rounds.flatMap { round in
            (round.final?.awards ?? round.preliminary.awards).enumerated().filter { $0.element.location == point }.map { index, award in
                let id = Marketplace.orderID(round: round.id, award: index)
                let order = ordered.contains(id) ? id : nil
                return PointAward(
                    id: id, request: award.request, offer: award.offer, aggregator: award.aggregator,
                    isps: award.isps.map { "\(Self.ispNumbers($0.isps)): \(Units.watts(Double($0.value)))" }.joined(separator: "; "),
                    energy: Units.wattHours(Double(award.energyWh)), price: Units.price(award.price, perMWh: award.pricePerMWh),
                    state: round.state.rawValue, order: order,
                    selectable: planner && round.state == .final && order == nil
                        && Marketplace.mayOrder(request: award.request, buyer: buyers[award.request], by: party))
            }
        }
        return (aggregators, awards)
    }

    package struct SelectionForm: ConsoleForm {
        package var day: String
        /// The selected awards, each as the order it becomes (`<round>.<index>`).
        package var award: [String]?
        package var csrf: String?
    }

    /// Orders the awards the operator selected at a congestion point, one after another; the
    /// first refused stops it, naming what was ordered before it.
    func orderSelected(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let form = try await form(SelectionForm.self, request, context)
        let point = try context.parameters.require("point")
        let selected = form.award ?? []
        guard !selected.isEmpty else { throw Problem(.badRequest, "Select at least one award to order.", field: "award") }
        guard selected.count <= 500 else { throw Problem(.badRequest, "At most 500 awards are ordered at once.", field: "award") }
        var placed: [String] = []
        for id in selected {
            guard let dot = id.lastIndex(of: "."), let index = Int(id[id.index(after: dot)...]) else {
                throw Problem(.badRequest, "\"\(id)\" names no award (<round>.<index>).", field: "award")
            }
            do {
                placed.append(try await market.order(round: String(id[..<dot]), award: index, by: party(session), now: market.clock()).id)
            } catch let refusal as MarketRefusal where !placed.isEmpty {
                throw Problem(.conflict, "Ordered \(placed.joined(separator: ", ")); award \(id) was refused: \(refusal.description)")
            }
        }
        logger.notice("console: \(session.caller.role.rawValue) \(session.caller.participant ?? "-") ordered at \(point): \(placed.joined(separator: ", "))")
        return Self.redirect("/console/congestion/\(point)?day=\(form.day)#awards")
    }
}
