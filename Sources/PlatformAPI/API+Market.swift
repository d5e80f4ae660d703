import Foundation
import GridCore
import Hummingbird
import Market
import MarketOperations
import ReadingsIngest
import SCD
import UFTPGateway

/// The market's REST resources under `/api/v1/market` (docs/market.md, docs/openapi.yaml).
extension API {
    func addMarketRoutes(_ api: RouterGroup<APIContext>, _ market: Marketplace) {
        addBookRoutes(api, market)
        addOrderRoutes(api, market)
        addContractRoutes(api, market)
        addStatementRoutes(api, market)
        addCongestionRoutes(api, market)
    }

    /// Requests, offers, the day's book, clearing rounds and their validation.
    func addBookRoutes(_ api: RouterGroup<APIContext>, _ market: Marketplace) {
        api.allowing([.dso, .tso]).post("/market/requests") { request, context in
            let caller = try caller(context)
            let submission = try await decode(Marketplace.RequestSubmission.self, request)
            let buyer: Buyer = caller.role == .dso ? .dso : .tso
            return try await answer(status: .created) {
                try await market.submitRequest(submission, buyer: buyer, participant: caller.participant, now: market.clock())
            }
        }
        api.allowing([.aggregator]).post("/market/offers") { request, context in
            guard let aggregator = try caller(context).participant else { throw Problem(.forbidden, "the token names no aggregator") }
            let submission = try await decode(Marketplace.OfferSubmission.self, request)
            return try await answer(status: .created) { try await market.submitOffer(submission, aggregator: aggregator, now: market.clock()) }
        }
        api.allowing([.dso, .tso, .marketOperator, .admin]).delete("/market/requests/:id") { request, context in
            let id = try context.parameters.require("id"), reason = try reason(request)
            return try await answer { try await market.withdrawRequest(id, by: party(context), reason: reason, now: market.clock()) }
        }
        api.allowing([.aggregator, .marketOperator, .admin]).delete("/market/offers/:id") { request, context in
            let party = try party(context)
            guard party.role != .aggregator || party.participant != nil else { throw Problem(.forbidden, "the token names no aggregator") }
            let id = try context.parameters.require("id"), reason = try reason(request)
            return try await answer { try await market.revokeOffer(id, by: party, reason: reason, now: market.clock()) }
        }
        api.allowing([.admin, .dso, .tso, .marketOperator, .aggregator]).get("/market/days/:day") { _, context in
            let caller = try caller(context)
            let day = try context.parameters.require("day")
            return try await answer { try await market.book(day: day).visible(to: caller.role == .aggregator ? caller.participant ?? "" : nil) }
        }
        api.allowing([.admin, .marketOperator]).post("/market/sessions/:session/:day/clear") { _, context in
            guard let session = SessionKind(rawValue: try context.parameters.require("session")) else {
                throw Problem(.notFound, "sessions are day-ahead or real-time", field: "session")
            }
            let day = try context.parameters.require("day")
            guard market.calendar.start(of: day) != nil else { throw Problem(.badRequest, "day must be YYYY-MM-DD", field: "day") }
            return try await answer(status: .created) {
                guard let round = try await market.clear(session, day: day, now: market.clock()) else {
                    throw MarketRefusal.conflict("the \(session.rawValue) session of \(day) has no open request")
                }
                return round
            }
        }
        api.allowing([.admin, .dso, .tso, .marketOperator, .aggregator]).get("/market/rounds/:id") { _, context in
            let caller = try caller(context)
            let id = try context.parameters.require("id")
            return try await answer { try await market.round(id).visible(to: caller.role == .aggregator ? caller.participant ?? "" : nil) }
        }
        api.allowing([.admin, .dso]).put("/market/rounds/:id/validation") { request, context in
            let id = try context.parameters.require("id")
            let input = try await decode(ValidationInput.self, request)
            var rejections: [Int: String] = [:]
            guard input.rejected.count <= Bounds.listItems else {
                throw Problem(.badRequest, "rejected: at most \(Bounds.listItems) awards", field: "rejected")
            }
            for (index, item) in input.rejected.enumerated() {
                guard !item.reason.isEmpty, item.reason.utf8.count <= 512 else {
                    throw Problem(.badRequest, "rejected[\(index)].reason: 1–512 bytes", field: "rejected[\(index)].reason")
                }
                guard rejections.updateValue(item.reason, forKey: item.award) == nil else {
                    throw Problem(.badRequest, "rejected[\(index)].award: award \(item.award) is listed twice", field: "rejected[\(index)].award")
                }
            }
            return try await answer { try await market.validate(round: id, rejections: rejections, by: party(context), now: market.clock()) }
        }
    }

    /// Orders, their settlement, notifications and the monthly settlements.
    func addOrderRoutes(_ api: RouterGroup<APIContext>, _ market: Marketplace) {
        api.allowing([.admin, .dso, .tso]).post("/market/orders") { request, context in
            let party = try party(context)
            let input = try await decode(OrderInput.self, request)
            return try await answer(status: .created) { try await market.order(round: input.round, award: input.award, by: party, now: market.clock()) }
        }
        api.allowing([.admin, .dso, .tso, .marketOperator, .aggregator]).get("/market/orders") { request, context in
            let caller = try caller(context)
            guard let day = request.uri.queryParameters["day"].map(String.init), market.calendar.start(of: day) != nil else {
                throw Problem(.badRequest, "day=YYYY-MM-DD is required", field: "day")
            }
            return try await answer {
                Items(items: try await market.orders(days: day...day).filter { caller.role != .aggregator || $0.award.aggregator == caller.participant })
            }
        }
        api.allowing([.admin, .dso, .tso, .marketOperator, .aggregator]).get("/market/orders/:id") { _, context in
            try await answer { try await visibleOrder(market, context) }
        }
        api.allowing([.admin, .dso, .tso]).delete("/market/orders/:id") { request, context in
            let id = try context.parameters.require("id"), reason = try reason(request)
            return try await answer { try await market.cancel(order: id, by: party(context), reason: reason, now: market.clock()) }
        }
        api.allowing([.admin, .marketOperator]).get("/market/notifications") { request, context in
            guard let day = request.uri.queryParameters["day"].map(String.init), market.calendar.start(of: day) != nil else {
                throw Problem(.badRequest, "day=YYYY-MM-DD is required", field: "day")
            }
            return try await answer { Items(items: try await market.notifications(day: day)) }
        }
        api.allowing([.admin, .dso, .tso, .marketOperator, .aggregator]).get("/market/orders/:id/settlement") { _, context in
            try await answer { try await market.settle(try await visibleOrder(market, context)) }
        }
        api.allowing([.admin, .marketOperator]).post("/market/settlements/:month/flex-settlements") { _, context in
            let month = try context.parameters.require("month")
            return try await answer { try await market.sendFlexSettlements(month: month, now: market.clock()) }
        }
        api.allowing([.admin, .dso, .marketOperator, .aggregator]).get("/market/settlements/:month") { request, context in
            let caller = try caller(context)
            let month = try context.parameters.require("month")
            let aggregator = caller.role == .aggregator ? caller.participant ?? "" : request.uri.queryParameters["aggregator"].map(String.init)
            let csv = request.uri.queryParameters["format"] == "csv"
            do {
                var report = try await market.monthlyReport(month: month, aggregator: aggregator)
                // A DSO sees the contracts it buys, not another DSO's.
                if caller.role == .dso { report.contracts = report.contracts.filter { $0.buyer == caller.participant } }
                guard csv else { return try json(report) }
                var headers = HTTPFields()
                headers[.contentType] = "text/csv; charset=utf-8"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: report.csv)))
            } catch let refusal as MarketRefusal {
                throw Self.problem(refusal)
            }
        }
    }

    package struct ValidationInput: Decodable {
        package var rejected: [AwardRejection]
    }

    /// `?reason=`, kept on a withdrawal, revocation or cancellation: 1–512 bytes.
    package func reason(_ request: Request) throws -> String? {
        let reason = request.uri.queryParameters["reason"].map(String.init)
        if let reason, reason.isEmpty || reason.utf8.count > 512 { throw Problem(.badRequest, "reason: 1–512 bytes", field: "reason") }
        return reason
    }

    /// The caller as a market party: its role and participant.
    package func party(_ context: APIContext) throws -> Marketplace.Party {
        let caller = try caller(context)
        return Marketplace.Party(role: caller.role, participant: caller.participant)
    }

    package struct OrderInput: Decodable {
        package var round: String
        package var award: Int
    }

    /// The order named in the path, if the caller may see it (an aggregator: its own; another's is "not found").
    func visibleOrder(_ market: Marketplace, _ context: APIContext) async throws -> MarketOrder {
        let caller = try caller(context)
        let id = try context.parameters.require("id")
        guard let order = try await market.order(id), caller.role != .aggregator || order.award.aggregator == caller.participant else {
            throw MarketRefusal.notFound("no order \(id)")
        }
        return order
    }

    /// The market's answer as JSON, or its refusal as a problem.
    func answer(status: HTTPResponse.Status = .ok, _ body: () async throws -> some Encodable) async throws -> Response {
        do {
            return try json(try await body(), status: status)
        } catch let refusal as MarketRefusal {
            throw Self.problem(refusal)
        }
    }

    package static func problem(_ refusal: MarketRefusal) -> Problem {
        switch refusal {
        case .invalid(let field, let message): Problem(.badRequest, message, field: field)
        case .notFound(let message): Problem(.notFound, message)
        case .conflict(let message): Problem(.conflict, message)
        case .forbidden(let message): Problem(.forbidden, message)
        }
    }
}
