import Foundation
import GridCore
import Market
import SCD
import UFTPGateway

/// A registered availability contract and the days its DSO released (FUSION FR17–FR19).
package struct MarketContract: Codable, Sendable {
    /// Released service ISPs of one day, and the FlexReservationUpdate that told a UFTP aggregator.
    package struct Release: Codable, Sendable {
        package var day: String
        package var isps: [Int]
        package var by: String
        package var t: String
        package var messageID: String?

        enum CodingKeys: String, CodingKey { case day, isps, by, t, messageID = "message_id" }
    }

    package var contract: AvailabilityContract
    package var registered: Int64
    package var registeredBy: String
    package var releases: [Release]

    enum CodingKeys: String, CodingKey { case contract, registered, registeredBy = "registered_by", releases }

    /// Released ISPs by day.
    package var released: [String: Set<Int>] {
        releases.reduce(into: [:]) { $0[$1.day, default: []].formUnion($1.isps) }
    }
}

extension MarketContract: MarketRecord {
    package static var kind: MarketDocument.Kind { .contract }
    package var recordID: String { contract.id }
    package var day: String { contract.first }
}

/// A contract's month: the availability fee, the requests it was owed and missed, and the
/// penalties (docs/market.md, "Availability contracts").
public struct ContractMonth: Encodable, Sendable, Equatable {
    public var contract: String
    public var buyer: String
    public var aggregator: String
    public var congestionPoint: String
    public var month: String
    public var availabilityFee: Money
    /// Requests of the buyer at the point that bound the contract (cleared, in service, its way).
    public var obligations: Int
    public var misses: [ObligationMiss]
    public var penalty: Money
    public var net: Money

    enum CodingKeys: String, CodingKey {
        case contract, buyer, aggregator, congestionPoint = "congestion_point", month, availabilityFee = "availability_fee"
        case obligations, misses, penalty, net
    }
}

extension Marketplace {
    /// Every day a contract can name: contracts are kept under their first day.
    static let allDays = "0000-01-01"..."9999-12-31"

    /// Registers a DSO's contract (FR07, FR17): a DSO buys for itself; the administrator names the buyer.
    package func registerContract(_ contract: AvailabilityContract, by party: Party, now: Timestamp) async throws -> MarketContract {
        var contract = contract
        if party.role == .dso {
            guard let participant = party.participant else { throw MarketRefusal.forbidden("the token names no DSO") }
            contract.buyer = participant
        }
        guard Identifier.isValid(contract.id) else { throw MarketRefusal.invalid(field: "id", "id must be \(Identifier.rule)") }
        guard !contract.buyer.isEmpty else { throw MarketRefusal.invalid(field: "buyer", "buyer: the DSO that pays for it") }
        try mustOperate(contract.congestionPoint, Party(role: .dso, participant: contract.buyer))
        if let (field, problem) = contract.problem(calendar: calendar) { throw MarketRefusal.invalid(field: field, problem) }
        let record = MarketContract(contract: contract, registered: now.millisecondsSince1970, registeredBy: party.description, releases: [])
        guard try await store.put(record, replace: false) else { throw MarketRefusal.conflict("a contract \(contract.id) exists already") }
        logger.info("availability contract \(contract.id): \(contract.aggregator) at \(contract.congestionPoint) for \(contract.buyer)")
        return record
    }

    /// The contracts `party` may see: a DSO its own, an aggregator those it holds, the
    /// administrator and the market operator all.
    package nonisolated func contracts(visibleTo party: Party) async throws -> [MarketContract] {
        try await store.records(MarketContract.self, days: Self.allDays).filter { Self.sees(party, $0.contract) }
    }

    package nonisolated func contract(_ id: String, visibleTo party: Party) async throws -> MarketContract {
        guard let record = try await store.record(MarketContract.self, id: id), Self.sees(party, record.contract) else {
            throw MarketRefusal.notFound("no contract \(id)")
        }
        return record
    }

    nonisolated static func sees(_ party: Party, _ contract: AvailabilityContract) -> Bool {
        switch party.role {
        case .admin, .marketOperator: true
        case .dso: party.participant == contract.buyer
        case .aggregator: party.participant == contract.aggregator
        default: false
        }
    }

    /// Releases service ISPs of a day not begun (all of them when `isps` is nil; FR18, FR19):
    /// they bind no request and earn no per-ISP fee. A UFTP aggregator is told by a
    /// FlexReservationUpdate giving the power still reserved at each service ISP of the day.
    package func releaseContract(_ id: String, day: String, isps: [Int]?, by party: Party, now: Timestamp) async throws -> MarketContract {
        var record = try await contract(id, visibleTo: party)
        guard party.role != .aggregator else { throw MarketRefusal.forbidden("the DSO releases its contract, not the aggregator") }
        let service = record.contract.serviceISPs(on: day, calendar: calendar)
        guard !service.isEmpty else { throw MarketRefusal.invalid(field: "day", "\(day) has no service ISP of contract \(id)") }
        let released = isps ?? service
        guard !released.isEmpty, Set(released).isSubset(of: service) else {
            throw MarketRefusal.invalid(field: "isps", "isps: service ISPs of \(day), \(service.first!)–\(service.last!)")
        }
        guard let begins = calendar.interval(day: day, isp: released.min()!)?.lowerBound, now < begins else {
            throw MarketRefusal.conflict("ISP \(released.min()!) of \(day) has begun: only ISPs ahead can be released")
        }
        var release = MarketContract.Release(day: day, isps: released.sorted(), by: party.description, t: now.rfc3339)
        let free = record.released[day, default: []].union(released)
        if let uftp, config.uftpAggregators.contains(record.contract.aggregator) {
            let powers = service.map { UFTPActions.PowerDraft(start: $0, power: free.contains($0) ? 0 : record.contract.power) }
            let receipt = try await uftp.flexReservationUpdate(UFTPActions.FlexReservationUpdateDraft(
                recipient: record.contract.aggregator, congestionPoint: record.contract.congestionPoint, period: day,
                contractID: id, reference: nil, isps: powers), now: now)
            release.messageID = receipt.messageID
        }
        record.releases.append(release)
        try await store.put(record, replace: true)
        logger.info("availability contract \(id): \(released.count) ISPs of \(day) released by \(party.description)")
        return record
    }

    /// One contract's month, for a party that may see the contract.
    package nonisolated func contractMonth(_ id: String, month: String, visibleTo party: Party) async throws -> ContractMonth {
        let contract = try await contract(id, visibleTo: party).contract
        return try await contractMonths(month: month, aggregator: contract.aggregator).first { $0.contract == id }
            ?? ContractMonth(contract: id, buyer: contract.buyer, aggregator: contract.aggregator, congestionPoint: contract.congestionPoint,
                             month: month, availabilityFee: .zero, obligations: 0, misses: [], penalty: .zero, net: .zero)
    }

    /// Each contract's month (`aggregator` limits it to one's): fees, obligations, misses.
    package nonisolated func contractMonths(month: String, aggregator: String?) async throws -> [ContractMonth] {
        let days = Self.days(ofMonth: month)
        let contracts = try await store.records(MarketContract.self, days: Self.allDays).filter {
            (aggregator == nil || $0.contract.aggregator == aggregator) && $0.contract.months(calendar: calendar).contains(month)
        }
        guard !contracts.isEmpty else { return [] }
        let (requests, offers) = try await obligationInputs(days: days)
        return contracts.sorted { $0.contract.id < $1.contract.id }.map { record in
            let contract = record.contract, released = record.released
            let (owed, misses) = assess(record, requests: requests, offers: offers)
            let fee = contract.availabilityFees(released: released, calendar: calendar)[month] ?? .zero
            let penalty = Money(cents: contract.penaltyPerMiss.cents * Int64(misses.count))
            return ContractMonth(contract: contract.id, buyer: contract.buyer, aggregator: contract.aggregator,
                                 congestionPoint: contract.congestionPoint, month: month, availabilityFee: fee, obligations: owed,
                                 misses: misses, penalty: penalty, net: fee - penalty)
        }
    }

    /// The misses of the contracts at `point` on `day`, by aggregator (FR29 marks them).
    package nonisolated func contractMisses(point: String, day: String) async throws -> [String: [ObligationMiss]] {
        let contracts = try await store.records(MarketContract.self, days: Self.allDays).filter {
            $0.contract.congestionPoint == point && !$0.contract.serviceISPs(on: day, calendar: calendar).isEmpty
        }
        guard !contracts.isEmpty else { return [:] }
        let (requests, offers) = try await obligationInputs(days: day...day)
        return contracts.reduce(into: [:]) { misses, record in
            misses[record.contract.aggregator, default: []] += assess(record, requests: requests, offers: offers).misses
        }
    }

    /// The cleared requests of `days` that may bind a contract, and the offers that may answer them, by day and session.
    private nonisolated func obligationInputs(days: ClosedRange<String>) async throws -> ([MarketRequest], [String: [MarketOffer]]) {
        let requests = try await store.records(MarketRequest.self, days: days).filter { $0.status == .cleared }
        let offers = Dictionary(grouping: try await store.records(MarketOffer.self, days: days).filter { $0.status != .revoked }) {
            "\($0.day) \($0.session.rawValue)"
        }
        return (requests, offers)
    }

    /// The requests that bound `record`'s contract and those it missed.
    private nonisolated func assess(_ record: MarketContract, requests: [MarketRequest], offers: [String: [MarketOffer]])
        -> (owed: Int, misses: [ObligationMiss]) {
        let contract = record.contract, released = record.released
        var owed = 0, misses: [ObligationMiss] = []
        for request in requests where request.owner == contract.buyer {
            let free = released[request.day] ?? []
            guard !contract.obligation(day: request.day, request: request.entry, released: free, calendar: calendar).isEmpty else { continue }
            owed += 1
            let answers = offers["\(request.day) \(request.session.rawValue)", default: []].map(\.entry)
            if let miss = contract.assess(request: request.key, day: request.day, request.entry, offers: answers, released: free, calendar: calendar) {
                misses.append(miss)
            }
        }
        return (owed, misses)
    }
}
