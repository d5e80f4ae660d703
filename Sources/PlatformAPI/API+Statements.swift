import Foundation
import GridCore
import Hummingbird
import Market
import MarketOperations
import SCD

/// Statements of account under `/api/v1/market/settlements/{month}/statements` (docs/market.md,
/// "Statements of account"; docs/openapi.yaml): a settlement run issues them; each party reads its own.
extension API {
    func addStatementRoutes(_ api: RouterGroup<APIContext>, _ market: Marketplace) {
        api.allowing([.admin, .marketOperator]).post("/market/settlements/:month/statements") { _, context in
            let month = try context.parameters.require("month")
            return try await answer { Items(items: try await market.closeMonth(month, now: market.clock()).map(\.summary)) }
        }
        let readers: Set<Role> = [.admin, .dso, .tso, .marketOperator, .aggregator]
        api.allowing(readers).get("/market/settlements/:month/statements") { _, context in
            let party = try party(context), month = try context.parameters.require("month")
            return try await answer { Items(items: try await market.statements(month: month, visibleTo: party).map(\.summary)) }
        }
        api.allowing(readers).get("/market/settlements/:month/statements/:role/:party/:version") { request, context in
            let caller = try party(context), month = try context.parameters.require("month")
            guard let role = Statement.Role(rawValue: try context.parameters.require("role")) else {
                throw Problem(.badRequest, "role: dso, tso or aggregator", field: "role")
            }
            guard let version = Statement.version(try context.parameters.require("version")) else {
                throw Problem(.badRequest, "version: v1, v2, …", field: "version")
            }
            let owner = try context.parameters.require("party")
            do {
                let statement = try await market.statement(month: month, role: role, party: owner, version: version, visibleTo: caller).statement
                guard request.uri.queryParameters["format"] == "csv" else { return try json(statement) }
                var headers = HTTPFields()
                headers[.contentType] = "text/csv; charset=utf-8"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: statement.csv)))
            } catch let refusal as MarketRefusal {
                throw Self.problem(refusal)
            }
        }
    }
}
