import Foundation
import GridCore
import Hummingbird
import Market
import MarketOperations
import SCD

/// The DSO's data per congestion point under `/api/v1/congestion-points/{point}` (docs/market.md,
/// "The DSO's congestion-point data"; docs/openapi.yaml).
extension API {
    struct ProfileInput: Decodable {
        var forecastW: [Int?]?
        var maxW: [Int?]?
        enum CodingKeys: String, CodingKey { case forecastW = "forecast_w", maxW = "max_w" }
    }

    /// The planned day as the API gives it: per ISP, index 0 is ISP 1.
    struct PlannedDay: Encodable {
        var point: String
        var day: String
        var source: String
        var forecastW: [Int?]
        var maxW: [Int?]
        var measuredW: [Int?]
        var deficiencyW: [Int?]
        enum CodingKeys: String, CodingKey {
            case point, day, source, forecastW = "forecast_w", maxW = "max_w", measuredW = "measured_w", deficiencyW = "deficiency_w"
        }
    }

    struct DeficiencyInput: Decodable {
        var day: String
    }

    func addCongestionRoutes(_ api: RouterGroup<APIContext>, _ market: Marketplace) {
        api.allowing([.admin, .dso]).put("/congestion-points/:point/profiles/:day") { request, context in
            let party = try party(context), point = try context.parameters.require("point"), day = try context.parameters.require("day")
            guard let isps = market.calendar.ispCount(day) else { throw Problem(.badRequest, "day must be YYYY-MM-DD", field: "day") }
            let profile: CongestionProfile
            if request.headers[.contentType]?.lowercased().hasPrefix("text/csv") == true {
                let text = String(decoding: try await body(request), as: UTF8.self)
                do {
                    profile = try CongestionProfile.parse(csv: text, point: point, day: day, isps: isps)
                } catch let problem as CongestionProfile.Problem {
                    throw Problem(.badRequest, problem.description, field: problem.field)
                }
            } else {
                let input = try await decode(ProfileInput.self, request)
                let none = [Int?](repeating: nil, count: isps)
                profile = CongestionProfile(point: point, day: day, forecastW: input.forecastW ?? none, maxW: input.maxW ?? none)
            }
            return try await answer { try await market.importProfile(profile, by: party, now: market.clock()) }
        }
        api.allowing([.admin, .dso, .marketOperator]).get("/congestion-points/:point/profiles/:day") { _, context in
            let point = try context.parameters.require("point"), day = try context.parameters.require("day")
            return try await answer {
                guard let profile = try await market.profile(point: point, day: day) else {
                    throw MarketRefusal.notFound("no profile of \(point) for \(day)")
                }
                return profile
            }
        }
        api.allowing([.admin, .dso, .marketOperator]).get("/congestion-points/:point/days/:day") { request, context in
            let point = try context.parameters.require("point"), day = try context.parameters.require("day")
            guard market.calendar.ispCount(day) != nil else { throw Problem(.badRequest, "day must be YYYY-MM-DD", field: "day") }
            let prognoses = request.uri.queryParameters["prognoses"] == "include"
            return try await answer {
                guard let planned = try await market.congestionDay(point: point, day: day, prognoses: prognoses) else {
                    throw MarketRefusal.notFound("no congestion point \(point)")
                }
                return PlannedDay(point: point, day: day, source: planned.profile == nil ? "baselines" : "profile",
                                  forecastW: planned.forecast, maxW: planned.maxW, measuredW: planned.measured, deficiencyW: planned.deficiency)
            }
        }
        api.allowing([.admin, .dso]).post("/congestion-points/:point/requests") { request, context in
            let party = try party(context), point = try context.parameters.require("point")
            let input = try await decode(DeficiencyInput.self, request)
            return try await answer(status: .created) { try await market.requestDeficiency(point: point, day: input.day, by: party, now: market.clock()) }
        }
    }
}
