import Certification
import Foundation
import GridCore
import Hummingbird
import Ledger
import MarketOperations
import Prometheus
import ReadingsIngest
import SCD
import Sodium
import UFTP
import UFTPGateway

// MARK: Day-ahead customer lists (I-02) and BRP baselines (I-03)
extension API {
    func day(_ context: APIContext) throws -> String {
        let day = try context.parameters.require("day")
        guard Baseline.start(of: day) != nil else { throw Problem(.badRequest, "day must be a date YYYY-MM-DD", field: "day") }
        return day
    }

    package struct CustomerListInput: Decodable {
        package let pods: [String]
    }

    /// An aggregator files the PODs it brings to the day-ahead market; only its own.
    func writeCustomerList(_ request: Request, _ context: APIContext) async throws -> Response {
        let caller = try caller(context)
        guard let aggregator = caller.participant else { throw Problem(.forbidden, "the token names no aggregator") }
        let day = try day(context)
        let input = try await decode(CustomerListInput.self, request)
        guard Set(input.pods).count == input.pods.count else { throw Problem(.badRequest, "pods repeats a POD", field: "pods") }
        for (index, id) in input.pods.enumerated() {
            guard let pod = try await store.pod(id), pod.aggregator == aggregator else {
                throw Problem(.badRequest, "POD \"\(id)\" is not one of \(aggregator)'s", field: "pods[\(index)]")
            }
        }
        try await store.putCustomerList(day: day, aggregator: aggregator, pods: input.pods)
        return try json(Items(items: try await store.customerList(day: day, aggregator: aggregator)))
    }

    func readCustomerList(_ context: APIContext) async throws -> Response {
        let caller = try caller(context)
        let day = try day(context)
        let aggregator = caller.role == .aggregator ? caller.participant ?? "" : nil
        return try json(Items(items: try await store.customerList(day: day, aggregator: aggregator)))
    }

    package struct BaselineInput: Decodable {
        package let energyWh: [Double]

        enum CodingKeys: String, CodingKey {
            case energyWh = "energy_wh"
        }
    }

    package struct BaselineView: Encodable {
        package let pod: String
        package let day: String
        package let brp: String
        package let energyWh: [Double]

        enum CodingKeys: String, CodingKey {
            case pod, day, brp
            case energyWh = "energy_wh"
        }
    }

    /// The POD's BRP files its day-ahead profile: 96 quarter-hour energies of the UTC day.
    func writeBaseline(_ request: Request, _ context: APIContext) async throws -> Response {
        let pod = try await visiblePOD(context)
        let day = try day(context)
        let brp = try caller(context).participant ?? ""
        let input = try await decode(BaselineInput.self, request)
        guard input.energyWh.count == Baseline.quarters else {
            throw Problem(.badRequest, "energy_wh holds one value per quarter hour: \(Baseline.quarters)", field: "energy_wh")
        }
        if let index = input.energyWh.firstIndex(where: { !$0.isFinite || abs($0) > 1e9 }) {
            throw Problem(.badRequest, "energy_wh[\(index)] is not a plausible energy in Wh", field: "energy_wh[\(index)]")
        }
        let baseline = Baseline(pod: pod.id, day: day, brp: brp, energyWh: input.energyWh)
        try await store.putBaseline(baseline)
        return try json(BaselineView(pod: pod.id, day: day, brp: brp, energyWh: baseline.energyWh))
    }

    func readBaseline(_ context: APIContext) async throws -> Response {
        let pod = try await visiblePOD(context)
        let day = try day(context)
        guard let baseline = try await store.baseline(pod: pod.id, day: day) else {
            throw Problem(.notFound, "no baseline of \(pod.id) for \(day)", field: "day")
        }
        return try json(BaselineView(pod: pod.id, day: day, brp: baseline.brp, energyWh: baseline.energyWh))
    }
}
