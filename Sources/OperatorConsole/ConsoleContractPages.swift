import Foundation
import GridCore
import Hummingbird
import Market
import MarketOperations
import PlatformAPI

/// Availability contracts on screen (FUSION FR07, FR17–FR19; docs/market.md, "Availability
/// contracts"): each contract the caller may see with its month's fee, obligations and misses; a
/// DSO registers contracts and releases days, as `…/market/contracts` does.
extension Console {
    package struct ContractsPage {
        package struct Row {
            package let id: String
            package let buyer: String
            package let aggregator: String
            package let point: String
            package let days: String
            package let weekdays: String
            package let isps: String
            package let power: String
            package let fee: String
            package let priceCap: String
            package let penaltyPerMiss: String
            package let releases: [String]
            /// The month's.
            package let availabilityFee: String
            package let obligations: Int
            package let misses: [String]
            let missCount: Int
            package let penalty: String
            package let net: String
            /// The caller may release its days.
            let releasable: Bool
        }
        let chrome: Chrome
        package let month: String
        let previousMonth: String
        let nextMonth: String
        package let contracts: [Row]
        /// The caller may register contracts; the administrator names the buyer.
        let registers: Bool
        let namesBuyer: Bool
        let firstDay: String
    }

    static let weekdayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    package func contracts(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let today = market.calendar.day(of: market.clock())
        let month = request.uri.queryParameters["month"].map(String.init) ?? String(today.prefix(7))
        _ = try market.monthStart(month)
        let party = party(session)
        let records = try await market.contracts(visibleTo: party)
        let months = Dictionary(try await market.contractMonths(month: month, aggregator: scope(session)).map { ($0.contract, $0) },
                                uniquingKeysWith: { first, _ in first })
        let planner = [.admin, .dso].contains(session.caller.role)
        return html(render("contracts", ContractsPage(
            chrome: chrome(session, "Availability contracts \(month)", "contracts"), month: month,
            previousMonth: Self.month(month, shiftedBy: -1), nextMonth: Self.month(month, shiftedBy: 1),
            contracts: records.sorted { $0.contract.id < $1.contract.id }.map { record in
                let contract = record.contract, month = months[contract.id]
                return .init(
                    id: contract.id, buyer: contract.buyer, aggregator: contract.aggregator, point: contract.congestionPoint,
                    days: "\(contract.first) to \(contract.last)",
                    weekdays: contract.weekdays.count == 7 ? "every day" : contract.weekdays.compactMap { Self.weekdayNames[safe: $0 - 1] }.joined(separator: ", "),
                    isps: Self.ispNumbers(contract.firstISP..<contract.lastISP + 1), power: Units.watts(Double(contract.power)),
                    fee: Self.fee(contract.fee), priceCap: Units.perMWh(contract.priceCapPerMWh), penaltyPerMiss: Units.euros(contract.penaltyPerMiss),
                    releases: record.releases.map { "\($0.day): \(Self.ispNumbers($0.isps)) by \($0.by)\($0.messageID.map { " (FlexReservationUpdate \($0))" } ?? "")" },
                    availabilityFee: Units.euros(month?.availabilityFee ?? .zero), obligations: month?.obligations ?? 0,
                    misses: (month?.misses ?? []).map { "\($0.day), request \($0.request): \($0.reason)" }, missCount: month?.misses.count ?? 0,
                    penalty: Units.euros(month?.penalty ?? .zero), net: Units.euros(month?.net ?? .zero), releasable: planner)
            },
            registers: planner, namesBuyer: session.caller.role == .admin,
            firstDay: market.calendar.day(after: today) ?? today)))
    }

    static func fee(_ fee: AvailabilityContract.Fee) -> String {
        switch fee {
        case .perMWPerISP(let rate): "\(Units.euros(rate)) per MW and service ISP"
        case .perPeriod(let sum): "\(Units.euros(sum)) for the period"
        }
    }

    package struct ContractForm: ConsoleForm {
        package var id: String
        package var buyer: String?
        package var aggregator: String
        package var congestionPoint: String
        package var firstDay: String
        package var lastDay: String
        package var weekdays: [String]?
        package var firstISP: String
        package var lastISP: String
        package var power: String
        package var feeKind: String
        package var fee: String
        package var priceCap: String
        package var penalty: String?
        package var csrf: String?

        enum CodingKeys: String, CodingKey {
            case id, buyer, aggregator, congestionPoint = "congestion_point", firstDay = "first_day", lastDay = "last_day", weekdays
            case firstISP = "first_isp", lastISP = "last_isp", power = "power_w", feeKind = "fee_kind", fee, priceCap = "price_cap_per_mwh"
            case penalty = "penalty_per_miss", csrf
        }

        /// The contract the form gives, or the first field that is not a number or an amount.
        func contract() throws -> AvailabilityContract {
            func number(_ text: String, _ field: String) throws -> Int {
                guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else { throw Problem(.badRequest, "\(field): a whole number", field: field) }
                return value
            }
            func amount(_ text: String, _ field: String) throws -> Money {
                guard let value = Money(text.trimmingCharacters(in: .whitespaces)) else { throw Problem(.badRequest, "\(field): an amount such as 12.50", field: field) }
                return value
            }
            let rate = try amount(fee, "fee")
            let kind: AvailabilityContract.Fee
            switch feeKind {
            case "per_mw_per_isp": kind = .perMWPerISP(rate)
            case "per_period": kind = .perPeriod(rate)
            default: throw Problem(.badRequest, "fee_kind: per_mw_per_isp or per_period", field: "fee_kind")
            }
            let days = try (weekdays ?? []).map { try number($0, "weekdays") }
            return AvailabilityContract(
                id: id.trimmingCharacters(in: .whitespaces), buyer: buyer?.trimmingCharacters(in: .whitespaces) ?? "",
                aggregator: aggregator.trimmingCharacters(in: .whitespaces), congestionPoint: congestionPoint.trimmingCharacters(in: .whitespaces),
                first: firstDay, last: lastDay, weekdays: days.isEmpty ? Array(1...7) : days,
                firstISP: try number(firstISP, "first_isp"), lastISP: try number(lastISP, "last_isp"), power: try number(power, "power_w"),
                fee: kind, priceCapPerMWh: try amount(priceCap, "price_cap_per_mwh"),
                penaltyPerMiss: try penalty.map { $0.trimmingCharacters(in: .whitespaces).isEmpty ? .zero : try amount($0, "penalty_per_miss") } ?? .zero)
        }
    }

    /// A DSO registers a contract (as `POST /api/v1/market/contracts`).
    package func registerContract(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let form = try await form(ContractForm.self, request, context)
        let record = try await market.registerContract(try form.contract(), by: party(session), now: market.clock())
        logger.notice("console: \(session.caller.role.rawValue) \(session.caller.participant ?? "-") registered contract \(record.contract.id)")
        return Self.redirect("/console/contracts?month=\(record.contract.first.prefix(7))#contract-\(record.contract.id)")
    }

    package struct ReleaseForm: ConsoleForm {
        package var day: String
        /// Service ISPs to release, as `40-43` or `40,41`; empty: every service ISP of the day.
        package var isps: String?
        package var csrf: String?
    }

    /// A DSO releases service ISPs of a day (as `POST /api/v1/market/contracts/{id}/releases`).
    package func releaseContract(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let form = try await form(ReleaseForm.self, request, context)
        let id = try context.parameters.require("id")
        guard let count = market.calendar.ispCount(form.day) else { throw Problem(.badRequest, "The day is a date YYYY-MM-DD.", field: "day") }
        let isps = try form.isps.flatMap { text -> [Int]? in
            let text = text.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { return nil }
            guard let numbers = Self.ispList(text, of: 1...count) else {
                throw Problem(.badRequest, "isps: ISP numbers of the day (1–\(count)) such as 40-43 or 40,41", field: "isps")
            }
            return numbers
        }
        _ = try await market.releaseContract(id, day: form.day, isps: isps, by: party(session), now: market.clock())
        logger.notice("console: \(session.caller.role.rawValue) \(session.caller.participant ?? "-") released contract \(id) on \(form.day)")
        return Self.redirect("/console/contracts?month=\(form.day.prefix(7))#contract-\(id)")
    }

    /// `40-43,45` as ISP numbers; nil unless every part is a number or an ascending range within `day`.
    static func ispList(_ text: String, of day: ClosedRange<Int>) -> [Int]? {
        var numbers: [Int] = []
        for part in text.split(separator: ",") {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard (1...2).contains(ends.count), let low = ends.first ?? nil, let high = ends.last ?? nil,
                  day.contains(low), day.contains(high), low <= high else { return nil }
            numbers += Array(low...high)
        }
        return numbers.isEmpty ? nil : Array(Set(numbers)).sorted()
    }
}
