import Foundation
import GridCore
import Market
@testable import MarketOperations
import SCD
import Testing
import TestSupport

/// Availability contracts through the market: registered, owed, missed, released, paid.
@Suite struct MarketContractTests {
    static let dso = Marketplace.Party(role: .dso, participant: "dso-1")

    /// agr-1 keeps 1,000 W of reduction at cp-1 at ISPs 40–43 every day of November 2026, for
    /// 2.00 per MW and ISP, under a 10,000 per MWh cap (the offers below ask 6,667); 30.00 a miss.
    static let contract = AvailabilityContract(
        id: "fo-1", buyer: "", aggregator: "agr-1", congestionPoint: "cp-1", first: "2026-11-01", last: "2026-11-30",
        weekdays: Array(1...7), firstISP: 40, lastISP: 43, power: -1000, fee: .perMWPerISP(2), priceCapPerMWh: 10_000, penaltyPerMiss: 30)

    static func request(day: String, id: String) -> Marketplace.RequestSubmission {
        .init(session: .dayAhead, day: day, id: id, area: ["cp-1"], isps: [.init(start: 40, minPower: -1000, maxPower: -1000)], priceLimit: nil)
    }

    static func offer(day: String, id: String, power: Int) -> Marketplace.OfferSubmission {
        .init(session: .dayAhead, day: day, id: id, location: "cp-1", price: 1, minActivationFactor: nil,
              isps: [.init(start: 40, power: power)], pods: [.init(pod: "POD-1")], validUntil: nil)
    }

    @Test func aShortOfferIsAMissAReleasedDayOwesNothingAndTheFeeIsPaid() async throws {
        let (market, _, _, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        let registered = try await market.registerContract(Self.contract, by: Self.dso, now: MarketplaceTests.date("2026-10-20T08:00:00Z"))
        #expect(registered.contract.buyer == "dso-1", "a DSO buys for itself")
        await #expect(throws: MarketRefusal.self, "ids are unique") {
            try await market.registerContract(Self.contract, by: Self.dso, now: MarketplaceTests.date("2026-10-20T08:00:00Z"))
        }
        // The 26th: agr-1 offers 600 W of the 1,000 W contracted.
        let eve = MarketplaceTests.date("2026-11-25T08:00:00Z")
        _ = try await market.submitRequest(Self.request(day: "2026-11-26", id: "r1"), buyer: .dso, participant: "dso-1", now: eve)
        _ = try await market.submitOffer(Self.offer(day: "2026-11-26", id: "o1", power: -600), aggregator: "agr-1", now: eve)
        _ = try await market.clear(.dayAhead, day: "2026-11-26", now: MarketplaceTests.date("2026-11-25T12:00:00Z"))
        // The 27th is released the day before, and asked for all the same: nothing is owed.
        let released = try await market.releaseContract("fo-1", day: "2026-11-27", isps: nil, by: Self.dso,
                                                        now: MarketplaceTests.date("2026-11-26T08:00:00Z"))
        #expect(released.released == ["2026-11-27": Set(40...43)])
        _ = try await market.submitRequest(Self.request(day: "2026-11-27", id: "r2"), buyer: .dso, participant: "dso-1",
                                           now: MarketplaceTests.date("2026-11-26T08:00:00Z"))
        _ = try await market.clear(.dayAhead, day: "2026-11-27", now: MarketplaceTests.date("2026-11-26T12:00:00Z"))
        await #expect(throws: MarketRefusal.self, "an ISP begun cannot be released") {
            try await market.releaseContract("fo-1", day: "2026-11-27", isps: [40], by: Self.dso, now: MarketplaceTests.date("2026-11-27T23:00:00Z"))
        }
        await #expect(throws: MarketRefusal.self, "another DSO's contract is not found") {
            try await market.releaseContract("fo-1", day: "2026-11-28", isps: nil, by: .init(role: .dso, participant: "dso-2"),
                                             now: MarketplaceTests.date("2026-11-26T08:00:00Z"))
        }

        let month = try #require(try await market.contractMonths(month: "2026-11", aggregator: nil).first)
        #expect(month.obligations == 1 && month.misses.map(\.request) == ["dso-1:r1"])
        #expect(month.misses.first?.reason == "offered 600 W of the 1000 W contracted at ISP 40")
        // The congestion point's day marks the aggregator (FR29); the released day and another point do not.
        #expect(try await market.contractMisses(point: "cp-1", day: "2026-11-26").mapValues { $0.map(\.request) } == ["agr-1": ["dso-1:r1"]])
        #expect(try await market.contractMisses(point: "cp-1", day: "2026-11-27").values.allSatisfy(\.isEmpty))
        #expect(try await market.contractMisses(point: "cp-2", day: "2026-11-26").isEmpty)
        // 30 days × 4 ISPs, less the 4 released = 116 ISPs × 1 MW... of 0.001 MW: 116 × 0.001 × 2.00 = 0.232 → 0.23.
        #expect(month.availabilityFee == Money("0.23")! && month.penalty == 30 && month.net == Money("-29.77")!)
        let report = try await market.monthlyReport(month: "2026-11", aggregator: nil)
        let agr = try #require(report.aggregators.first { $0.aggregator == "agr-1" })
        #expect(agr.availabilityFee == month.availabilityFee && agr.contractPenalty == month.penalty)
        #expect(agr.total == agr.net + agr.availabilityFee - agr.contractPenalty)
        #expect(report.contracts == [month])
        #expect(try await market.contracts(visibleTo: .init(role: .aggregator, participant: "agr-2")).isEmpty)
        #expect(try await market.contracts(visibleTo: .init(role: .marketOperator)).map(\.contract.id) == ["fo-1"])
    }

    @Test func feesAddUpOverAggregatorsWhateverTheOrderOfRegistration() async throws {
        var random = SplitMix64(seed: 2028)
        for _ in 0..<3 {
            let contracts = (0..<6).map { index in
                var contract = Self.contract
                contract.id = "fo-\(index)"
                contract.aggregator = ["agr-1", "agr-2"][index % 2]
                contract.fee = index % 3 == 0 ? .perPeriod(Money(cents: Int64.random(in: 0...1_000_000, using: &random)))
                    : .perMWPerISP(Money(cents: Int64.random(in: 0...100_000, using: &random)))
                contract.power = -Int.random(in: 1...5_000_000, using: &random)
                return contract
            }
            var totals: [[String: Money]] = []
            for order in [contracts, contracts.shuffled(using: &random)] {
                let (market, _, _, _, folder) = try await MarketplaceTests.rig()
                _ = folder
                for contract in order {
                    _ = try await market.registerContract(contract, by: Self.dso, now: MarketplaceTests.date("2026-10-20T08:00:00Z"))
                }
                let report = try await market.monthlyReport(month: "2026-11", aggregator: nil)
                let byContract = Dictionary(grouping: report.contracts, by: \.aggregator).mapValues { $0.reduce(Money.zero) { $0 + $1.availabilityFee } }
                for row in report.aggregators { #expect(row.availabilityFee == byContract[row.aggregator] ?? .zero) }
                totals.append(Dictionary(uniqueKeysWithValues: report.aggregators.map { ($0.aggregator, $0.total) }))
            }
            #expect(totals[0] == totals[1], "the same contracts give the same cents in any order")
        }
    }

    /// A point that names its DSO is planned, asked for and contracted by that DSO only; a point
    /// that names none is open to every DSO.
    @Test func onlyTheDSOOperatingAPointPlansAndContractsIt() async throws {
        let (market, _, _, _, folder) = try await MarketplaceTests.rig(configure: { $0.operators = ["cp-1": "dso-1"] })
        _ = folder
        let other = Marketplace.Party(role: .dso, participant: "dso-2"), admin = Marketplace.Party(role: .admin, participant: nil)
        let eve = MarketplaceTests.date("2026-11-25T08:00:00Z")
        let profile = try CongestionProfile.parse(csv: "isp,max_w\n40,1000\n", point: "cp-1", day: "2026-11-26", isps: 96)
        await #expect(throws: MarketRefusal.self) { try await market.importProfile(profile, by: other, now: eve) }
        _ = try await market.importProfile(profile, by: Self.dso, now: eve)
        _ = try await market.importProfile(profile, by: admin, now: eve)
        await #expect(throws: MarketRefusal.self) { try await market.requestDeficiency(point: "cp-1", day: "2026-11-26", by: other, now: eve) }
        let asked = try await market.requestDeficiency(point: "cp-1", day: "2026-11-26", by: admin, now: eve)
        #expect(asked.participant == "dso-1", "the administrator asks on behalf of the point's DSO")
        await #expect(throws: MarketRefusal.self, "a request at another DSO's point") {
            try await market.submitRequest(Self.request(day: "2026-11-26", id: "r9"), buyer: .dso, participant: "dso-2", now: eve)
        }
        _ = try await market.submitRequest(Self.request(day: "2026-11-26", id: "r1"), buyer: .dso, participant: "dso-1", now: eve)
        _ = try await market.submitRequest(Self.request(day: "2026-11-26", id: "t1"), buyer: .tso, participant: "tso-1", now: eve)
        await #expect(throws: MarketRefusal.self) { try await market.registerContract(Self.contract, by: other, now: eve) }
        var named = Self.contract
        named.buyer = "dso-2"
        await #expect(throws: MarketRefusal.self, "the administrator names the point's own DSO") {
            try await market.registerContract(named, by: admin, now: eve)
        }
        var elsewhere = Self.contract
        elsewhere.congestionPoint = "cp-2"
        #expect(try await market.registerContract(elsewhere, by: other, now: eve).contract.buyer == "dso-2", "cp-2 names no operator")
    }
}

