import Foundation
import GridCore
import Hummingbird
import Market
import MarketOperations
import SCD

/// Availability contracts under `/api/v1/market/contracts` (docs/market.md, "Availability
/// contracts"; docs/openapi.yaml).
extension API {
    struct ReleaseInput: Decodable {
        var day: String
        var isps: [Int]?
    }

    func addContractRoutes(_ api: RouterGroup<APIContext>, _ market: Marketplace) {
        let readers: Set<Role> = [.admin, .dso, .marketOperator, .aggregator]
        api.allowing([.admin, .dso]).post("/market/contracts") { request, context in
            let party = try party(context)
            let contract = try await decode(AvailabilityContract.self, request)
            return try await answer(status: .created) { try await market.registerContract(contract, by: party, now: market.clock()) }
        }
        api.allowing(readers).get("/market/contracts") { _, context in
            let party = try party(context)
            return try await answer { Items(items: try await market.contracts(visibleTo: party)) }
        }
        api.allowing(readers).get("/market/contracts/:id") { _, context in
            let party = try party(context), id = try context.parameters.require("id")
            return try await answer { try await market.contract(id, visibleTo: party) }
        }
        api.allowing([.admin, .dso]).post("/market/contracts/:id/releases") { request, context in
            let party = try party(context), id = try context.parameters.require("id")
            let input = try await decode(ReleaseInput.self, request)
            guard (input.isps?.count ?? 0) <= Bounds.listItems else { throw Problem(.badRequest, "isps: at most \(Bounds.listItems)", field: "isps") }
            return try await answer(status: .created) {
                try await market.releaseContract(id, day: input.day, isps: input.isps, by: party, now: market.clock())
            }
        }
        api.allowing(readers).get("/market/contracts/:id/months/:month") { _, context in
            let party = try party(context), id = try context.parameters.require("id"), month = try context.parameters.require("month")
            return try await answer {
                _ = try market.monthStart(month)
                return try await market.contractMonth(id, month: month, visibleTo: party)
            }
        }
    }
}
