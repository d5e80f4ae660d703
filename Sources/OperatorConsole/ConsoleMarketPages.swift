import Foundation
import GridCore
import Hummingbird
import Market
import MarketOperations
import PlatformAPI
import ReadingsIngest
import SCD

/// The market's screens: a day's requests against offers and its clearing, an order's activation,
/// and a month's settlement.
extension Console {
    static let marketRoles: Set<Role> = [.admin, .dso, .tso, .marketOperator, .aggregator]

    /// `ISP 40` or `ISPs 40–43`.
    static func ispNumbers(_ isps: Range<Int>) -> String {
        isps.count == 1 ? "ISP \(isps.lowerBound)" : "ISPs \(isps.lowerBound)–\(isps.upperBound - 1)"
    }

    /// `ISPs 72–75, ISP 80`: ISP numbers in runs.
    static func ispNumbers(_ isps: [Int]) -> String {
        var runs: [Range<Int>] = []
        for isp in isps.sorted() {
            if let last = runs.last, last.upperBound == isp { runs[runs.count - 1] = last.lowerBound..<(isp + 1) } else { runs.append(isp..<(isp + 1)) }
        }
        return runs.map { ispNumbers($0) }.joined(separator: ", ")
    }

    // MARK: Market day

    package struct MarketPage {
        package struct Need {
            package let id: String
            package let key: String
            package let buyer: String
            package let participant: String?
            package let area: String
            package let session: String
            package let isps: [ISPRow]
            package let priceLimit: String
            package let status: String
            package let served: String
            /// The caller may withdraw it (its buyer, or the market operator, while it is open).
            let withdrawable: Bool
        }
        package struct ISPRow {
            package let isps: String
            package let span: String
            package let power: String
        }
        package struct Offer {
            package let id: String
            package let aggregator: String
            package let location: String
            package let session: String
            package let price: String
            package let isps: [ISPRow]
            package let status: String
            package let awarded: String
        }
        package struct Round {
            package let id: String
            package let session: String
            package let cleared: String
            package let state: String
            package let validatedBy: String?
            package let awards: [AwardRow]
            package let rejected: [AwardRow]
            package let final: Bool
            /// The caller may decide it (DSO validation of a preliminary round).
            let validatable: Bool
            /// Entries the clearing left out, and why.
            package let excluded: [Excluded]
        }
        package struct Excluded {
            package let kind: String
            package let id: String
            package let reason: String
        }
        package struct Failure {
            package let session: String
            package let reason: String
            package let since: String
            package let attempts: Int
        }
        package struct AwardRow {
            package let index: Int
            package let request: String
            package let offer: String
            package let aggregator: String
            package let location: String
            package let factor: String
            package let isps: String
            package let energy: String
            package let price: String
            package let margin: Bool
            package let reason: String?
            package let order: String?
            /// The caller may order it (the award's buyer, not yet ordered, in a final outcome).
            let orderable: Bool
        }
        let chrome: Chrome
        package let day: String
        let previousDay: String?
        let nextDay: String?
        package let zone: String
        package let needs: [Need]
        package let offers: [Offer]
        package let rounds: [Round]
        /// Sessions of the day the scheduler has failed to clear so far.
        package let failures: [Failure]
        /// Documents of the day that cannot be read.
        package let unreadable: [Excluded]
        let aggregatorView: Bool
    }

    func marketDay(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let day = try context.parameters.require("day")
        let calendar = market.calendar
        guard let start = calendar.start(of: day) else { throw Problem(.badRequest, "The day is a date YYYY-MM-DD.") }
        // Awards are numbered in the whole round (an order is `<round>.<award>`); an aggregator is
        // shown its own rows of them, and otherwise the book as the API shows it.
        let whole = try await market.book(day: day)
        let aggregator = scope(session)
        let book = whole.visible(to: aggregator)
        let ordered = try await market.orderIDs(day: day)
        let time = self.time
        func span(_ isps: Range<Int>) -> String {
            guard let first = calendar.interval(day: day, isp: isps.lowerBound), let last = calendar.interval(day: day, isp: isps.upperBound - 1) else { return "" }
            return "\(time.shown(first.lowerBound, seconds: false))–\(time.shown(last.upperBound, seconds: false))"
        }
        func ispRow(_ range: Range<Int>, power: String) -> MarketPage.ISPRow {
            .init(isps: Self.ispNumbers(range), span: span(range), power: power)
        }
        let buyers = Dictionary(book.requests.map { ($0.key, $0.entry.buyer) }, uniquingKeysWith: { first, _ in first })
        let role = session.caller.role
        let party = party(session)
        func awardRow(_ award: Award, index: Int, round: ClearingRound, reason: String?, final: Bool) -> MarketPage.AwardRow {
            let id = Marketplace.orderID(round: round.id, award: index)
            let order = reason == nil && ordered.contains(id) ? id : nil
            let mayOrder = Marketplace.mayOrder(request: award.request, buyer: buyers[award.request], by: party)
            return .init(index: index, request: award.request, offer: award.offer, aggregator: award.aggregator, location: award.location,
                         factor: "\(award.factor) %",
                         isps: award.isps.map { "\(Self.ispNumbers($0.isps)) \(span($0.isps)): \(Units.watts(Double($0.value)))" }.joined(separator: "; "),
                         energy: Units.wattHours(Double(award.energyWh)), price: Units.price(award.price, perMWh: award.pricePerMWh), margin: award.margin,
                         reason: reason, order: order, orderable: final && reason == nil && order == nil && mayOrder)
        }
        let needs = book.requests.map { request in
            let outcome = book.rounds.compactMap { $0.preliminary.requests.first { $0.request == request.key } }.last
            let mayWithdraw = [.admin, .marketOperator].contains(role) || ([.dso, .tso].contains(role) && request.owner == party.owner)
            return MarketPage.Need(
                id: request.entry.id, key: request.key, buyer: request.entry.buyer, participant: request.participant, area: request.entry.area.joined(separator: ", "),
                session: request.session.rawValue,
                isps: request.entry.isps.map {
                    ispRow($0.range, power: "\(Units.watts(Double($0.minPower))) to \(Units.watts(Double($0.maxPower)))")
                },
                priceLimit: request.entry.priceLimit.map(Units.perMWh) ?? "none",
                status: request.status.rawValue,
                served: outcome.map(Self.served) ?? "not cleared yet", withdrawable: request.status == .open && mayWithdraw)
        }
        let offers = book.offers.map { offer in
            MarketPage.Offer(
                id: offer.entry.id, aggregator: offer.entry.aggregator, location: offer.entry.location, session: offer.session.rawValue,
                price: Units.price(offer.entry.price, perMWh: offer.entry.pricePerMWh(ispMinutes: calendar.ispMinutes)),
                isps: offer.entry.isps.map { ispRow($0.range, power: Units.watts(Double($0.power))) },
                status: offer.status.rawValue, awarded: offer.awarded > 0 ? "\(offer.awarded) %" : "—")
        }
        let excluded = Dictionary(book.rounds.map { ($0.id, $0.preliminary.excluded) }, uniquingKeysWith: { first, _ in first })
        let rounds = whole.rounds.map { round in
            let final = round.final
            let shown = final?.awards ?? round.preliminary.awards
            let own = { (award: Award) in aggregator == nil || award.aggregator == aggregator }
            return MarketPage.Round(
                id: round.id, session: round.session.rawValue, cleared: time.format(Timestamp(millisecondsSince1970: round.cleared)),
                state: round.state.rawValue, validatedBy: round.validatedBy,
                awards: shown.enumerated().filter { own($0.element) }.map {
                    awardRow($0.element, index: $0.offset, round: round, reason: nil, final: final != nil)
                },
                rejected: (final?.rejected ?? []).enumerated().filter { own($0.element.award) }.map {
                    awardRow($0.element.award, index: $0.offset, round: round, reason: $0.element.reason, final: true)
                },
                final: final != nil, validatable: final == nil && [.admin, .dso].contains(role),
                excluded: (excluded[round.id] ?? []).map { .init(kind: $0.kind.rawValue, id: $0.id, reason: $0.reason) })
        }
        return html(render("market", MarketPage(
            chrome: chrome(session, "Market day \(day)", "market"), day: day, previousDay: calendar.day(after: day, by: -1),
            nextDay: calendar.day(after: day), zone: time.zoneLabel(at: start), needs: needs, offers: offers, rounds: rounds,
            failures: book.failures.map { .init(session: $0.session.rawValue, reason: $0.reason, since: $0.since, attempts: $0.attempts) },
            unreadable: book.unreadable.map { .init(kind: $0.kind.rawValue, id: $0.id, reason: $0.reason) },
            aggregatorView: role == .aggregator)))
    }

    /// How far a request was served: an aggregator is told only whether in full.
    package static func served(_ outcome: RequestOutcome) -> String {
        if outcome.satisfied { return "in full" }
        if outcome.served.isEmpty { return "not in full" }
        return outcome.served.allSatisfy { $0.value == 0 } ? "not served" : "in part"
    }

    package struct ValidationForm: ConsoleForm {
        /// By award index, the reason it is rejected; an empty reason approves it.
        package var reject: [String]?
        package var csrf: String?
    }

    /// The DSO decides a preliminary round (as `PUT /api/v1/market/rounds/{id}/validation` does).
    func validateRound(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let day = try context.parameters.require("day"), round = try context.parameters.require("round")
        let form = try await form(ValidationForm.self, request, context)
        var rejections: [Int: String] = [:]
        for (index, reason) in (form.reject ?? []).enumerated() {
            let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !reason.isEmpty else { continue }
            guard reason.utf8.count <= 512 else { throw Problem(.badRequest, "The reason for award \(index) is longer than 512 bytes.") }
            rejections[index] = reason
        }
        let decided = try await market.validate(round: round, rejections: rejections, by: party(session), now: market.clock())
        logger.notice("console: \(session.caller.role.rawValue) \(session.caller.participant ?? "-") validated \(decided.id): \(rejections.count) rejected")
        return Self.redirect("/console/market/\(day)#round-\(decided.id)")
    }

    package struct OrderForm: ConsoleForm {
        package var round: String
        package var award: Int
        package var csrf: String?
    }

    /// The operator orders a final award (as `POST /api/v1/market/orders` does).
    package func placeOrder(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let form = try await form(OrderForm.self, request, context)
        let order = try await market.order(round: form.round, award: form.award, by: party(session), now: market.clock())
        logger.notice("console: \(session.caller.role.rawValue) \(session.caller.participant ?? "-") ordered award \(form.award) of \(form.round): \(order.id)")
        return Self.redirect("/console/orders/\(order.id)")
    }

    // MARK: Activation (an order)

    package struct OrderPage {
        package struct SetPointRow {
            package let pod: String
            package let node: String?
            package let isp: Int
            package let span: String
            package let mode: String
            package let watts: String
            package let ordered: String
            package let baseline: String
            package let status: String
            package let reason: String?
            package let seq: String
        }
        package struct Delivery {
            package let pod: String
            package let isp: Int
            package let ordered: String
            package let delivered: String
            package let deficiency: String
            /// How it was settled: `settled`, `unverified`, `not-dispatched`, `cancelled`, and why.
            package let status: String
            package let net: String
        }
        package struct Alert {
            package let time: String
            package let pod: String
            package let problem: String
        }
        let chrome: Chrome
        package let id: String
        package let round: String
        package let day: String
        package let aggregator: String
        package let issuer: String
        package let created: String
        package let award: String
        package let setPoints: [SetPointRow]
        package let alerts: [Alert]
        package let deliveries: [Delivery]
        package let delivered: String
        package let deficiency: String
        package let fee: String
        package let penalty: String
        package let net: String
        package let unverified: Int
        package let notDispatched: Int
        package let uftp: String?
        /// The caller may cancel what has not begun.
        let cancellable: Bool
    }

    package func order(_ context: APIContext) async throws -> Response {
        let session = try session(context)
        let id = try context.parameters.require("id")
        guard let order = try await market.order(id) else { throw Problem(.notFound, "There is no order \(id).") }
        if let aggregator = scope(session), order.award.aggregator != aggregator {
            denied(session, "order \(id) of \(order.award.aggregator)")
            throw Problem(.notFound, "There is no order \(id).")
        }
        let settled = try await market.settle(order)
        let time = self.time
        return html(render("order", OrderPage(
            chrome: chrome(session, "Order \(order.id)", "market"), id: order.id, round: order.round, day: order.day,
            aggregator: order.award.aggregator, issuer: order.placedBy ?? order.issuer,
            created: time.format(Timestamp(millisecondsSince1970: order.created), seconds: true),
            award: "\(order.award.offer) for \(order.award.request), \(order.award.factor) %, \(Units.wattHours(Double(order.award.energyWh)))",
            setPoints: order.setPoints.map {
                .init(pod: $0.pod, node: $0.node, isp: $0.isp, span: "\(time.shown(rfc3339: $0.from))–\(time.shown(rfc3339: $0.until))", mode: $0.mode,
                      watts: $0.w.map { Units.watts(Double($0)) } ?? "—", ordered: Units.watts(Double($0.ordered)),
                      baseline: $0.baseline.map { Units.watts(Double($0)) } ?? "—", status: $0.status.rawValue, reason: $0.reason,
                      seq: $0.seq.map(String.init) ?? "—")
            },
            alerts: order.alerts.map { .init(time: time.shown(rfc3339: $0.t), pod: $0.pod, problem: $0.problem) },
            deliveries: settled.pods.flatMap { row in
                row.isps.map { .init(pod: row.pod, isp: $0.isp, ordered: Units.watts(Double($0.ordered)), delivered: Units.watts(Double($0.delivered)),
                                     deficiency: Units.watts(Double($0.deficiency)),
                                     status: $0.status.rawValue + ($0.reason.map { ": \($0)" } ?? ""), net: Units.euros($0.net)) }
            },
            delivered: energy(settled.delivered), deficiency: energy(settled.deficiency),
            fee: Units.euros(settled.fee), penalty: Units.euros(settled.penalty), net: Units.euros(settled.net), unverified: settled.unverified.count,
            notDispatched: settled.notDispatched.count,
            uftp: order.uftp.map { "FlexOrder \($0.flexOrder ?? "—"): \($0.state.rawValue)" + ($0.disposition.map { ", settlement \($0)" } ?? "") },
            cancellable: try await market.mayCancel(order, by: party(session)))))
    }

    package struct CancelForm: ConsoleForm {
        package var reason: String?
        package var csrf: String?
    }

    /// The buyer cancels an order's ISPs that have not begun (as `DELETE /api/v1/market/orders/{id}` does).
    package func cancelOrder(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let id = try context.parameters.require("id")
        let form = try await form(CancelForm.self, request, context)
        let reason = try Self.reason(form.reason)
        let order = try await market.cancel(order: id, by: party(session), reason: reason, now: market.clock())
        logger.notice("console: \(party(session)) cancelled what had not begun of \(order.id)")
        return Self.redirect("/console/orders/\(order.id)")
    }

    package struct WithdrawForm: ConsoleForm {
        package var reason: String?
        package var csrf: String?
    }

    /// A buyer (or the market operator) withdraws an open request (as `DELETE /api/v1/market/requests/{id}` does).
    package func withdrawRequest(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let day = try context.parameters.require("day"), key = try context.parameters.require("request")
        let form = try await form(WithdrawForm.self, request, context)
        let withdrawn = try await market.withdrawRequest(key, by: party(session), reason: try Self.reason(form.reason), now: market.clock())
        logger.notice("console: \(party(session)) withdrew request \(withdrawn.key)")
        return Self.redirect("/console/market/\(day)")
    }

    /// A form's reason: none when left empty, else 1–512 bytes.
    package static func reason(_ text: String?) throws -> String? {
        guard let text = text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else { return nil }
        guard text.utf8.count <= 512 else { throw Problem(.badRequest, "The reason is longer than 512 bytes.") }
        return text
    }

    package func party(_ session: ConsoleSessions.Session) -> Marketplace.Party {
        Marketplace.Party(role: session.caller.role, participant: session.caller.participant)
    }

    /// An order's settled power (W summed over its ISPs) as energy.
    package func energy(_ ispWatts: Int) -> String {
        Units.wattHours(Double(market.energyWh(ispWatts)))
    }
}
