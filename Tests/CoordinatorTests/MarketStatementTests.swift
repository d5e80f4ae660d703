import Foundation
import GridCore
import Market
@testable import MarketOperations
import SCD
import Testing
import TestSupport

/// Statements of account: issued by settlement runs, versioned on corrections, read by their parties.
@Suite struct MarketStatementTests {
    static let dso = Marketplace.Party(role: .dso, participant: "dso-1")
    static let tso = Marketplace.Party(role: .tso, participant: "tso-1")
    static let isp40 = MarketplaceTests.date("2026-11-26T09:45:00Z")
    static let isp41 = MarketplaceTests.date("2026-11-26T10:00:00Z")

    static func measure(_ pod: String, _ start: Timestamp, watts: Double, certified: Bool) -> QuarterMeasure {
        QuarterMeasure(pod: pod, start: start, energyWh: watts / 4, averageW: watts, coverage: 1, samples: 225, certified: certified)
    }

    /// November 2026 at cp-1: contract fo-1 (0.24 of availability); dso-1 orders 1,000 W at ISP 40
    /// for 2.00 and tso-1 400 W at ISP 41 for 1.00, both from agr-1, both delivered in full but
    /// POD-2's ISP 40 measure is not certified yet. The round's id.
    static func november(_ market: Marketplace, _ store: any SCDStore, _ outbox: MarketplaceTests.Outbox) async throws -> String {
        var contract = MarketContractTests.contract
        contract.fee = .perMWPerISP(2)
        _ = try await market.registerContract(contract, by: Self.dso, now: MarketplaceTests.date("2026-10-20T08:00:00Z"))
        let eve = MarketplaceTests.date("2026-11-25T08:00:00Z")
        _ = try await market.submitRequest(MarketContractTests.request(day: "2026-11-26", id: "r1"), buyer: .dso, participant: "dso-1", now: eve)
        _ = try await market.submitRequest(.init(session: .dayAhead, day: "2026-11-26", id: "r2", area: ["cp-1"],
                                                 isps: [.init(start: 41, minPower: -400, maxPower: -400)], priceLimit: nil),
                                           buyer: .tso, participant: "tso-1", now: eve)
        for (id, isp, power, price) in [("o1", 40, -1000, 2 as Money), ("o2", 41, -400, 1 as Money)] {
            _ = try await market.submitOffer(.init(session: .dayAhead, day: "2026-11-26", id: id, location: "cp-1", price: price,
                                                  minActivationFactor: nil, isps: [.init(start: isp, power: power)],
                                                  pods: [.init(pod: "POD-1"), .init(pod: "POD-2")], validUntil: nil),
                                             aggregator: "agr-1", now: eve)
        }
        let round = try #require(try await market.clear(.dayAhead, day: "2026-11-26", now: MarketplaceTests.date("2026-11-25T12:00:00Z")))
        let awards = try #require(round.final?.awards)
        for (index, award) in awards.enumerated() {
            let buyer = award.request.hasPrefix("dso-1:") ? Self.dso : Self.tso
            _ = try await market.order(round: round.id, award: index, by: buyer, now: eve.adding(milliseconds: 3_600_000))
        }
        for envelope in outbox.published.withLock({ $0 }) {
            let setPoint = try MoneyPathPropertyTests.setPoint(envelope.payload)
            try await market.acknowledge(node: setPoint.node, payload: Array(#"{"id":"\#(setPoint.id)","status":"applied","seq":1}"#.utf8), now: eve)
        }
        // Baselines 1,000 and 3,000 W; orders split 1:3; the sites deliver exactly.
        try await store.upsertMeasures([
            Self.measure("POD-1", Self.isp40, watts: 750, certified: true), Self.measure("POD-2", Self.isp40, watts: 2250, certified: false),
            Self.measure("POD-1", Self.isp41, watts: 900, certified: true), Self.measure("POD-2", Self.isp41, watts: 2700, certified: true),
        ])
        return round.id
    }

    /// POD-2's ISP 40 measure is certified only after the first run.
    @Test func aLateCertifiedReadingIssuesVersionTwoWithExactlyTheDifference() async throws {
        let (market, store, outbox, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        let roundID = try await Self.november(market, store, outbox)

        await #expect(throws: MarketRefusal.self, "a month not begun has no statement") {
            try await market.closeMonth("2026-12", now: MarketplaceTests.date("2026-11-30T08:00:00Z"))
        }
        let closing = MarketplaceTests.date("2026-12-02T08:00:00Z")
        let first = try await market.closeMonth("2026-11", now: closing)
        #expect(first.map { "\($0.role.rawValue) \($0.party) v\($0.version)" } == ["aggregator agr-1 v1", "dso dso-1 v1", "tso tso-1 v1"])
        #expect(first.allSatisfy(\.monthEnded) && first.allSatisfy(\.differences.isEmpty))
        let dsoV1 = try #require(first.first { $0.role == .dso })
        // POD-1's quarter of ISP 40 is paid (0.50); POD-2's is unverified. 120 service ISPs × 1 kW × 2.00 per MW = 0.24.
        #expect(dsoV1.lines.map { "\($0.kind.rawValue) \($0.reference) \($0.fee) \($0.settled)/\($0.unsettled)" }
                == ["activation \(roundID).0 0.50 1/1", "availability fo-1 0.24 1/0"], "\(dsoV1.lines)")
        #expect(dsoV1.totals.availabilityFees == Money("0.24")! && dsoV1.totals.net == Money("0.74")!)
        let agrV1 = try #require(first.first { $0.role == .aggregator })
        #expect(agrV1.totals.net == Money("1.74")!, "the aggregator's statement holds both buyers' lines")
        #expect(try await market.closeMonth("2026-11", now: closing.adding(milliseconds: 60_000)).isEmpty, "nothing changed, nothing issued")

        // The late certified reading: a new version for dso-1 and agr-1, with exactly the difference.
        try await store.upsertMeasures([Self.measure("POD-2", Self.isp40, watts: 2250, certified: true)])
        let second = try await market.closeMonth("2026-11", now: MarketplaceTests.date("2026-12-09T08:00:00Z"))
        #expect(second.map { "\($0.role.rawValue) \($0.party) v\($0.version)" } == ["aggregator agr-1 v2", "dso dso-1 v2"])
        let dsoV2 = try #require(second.first { $0.role == .dso })
        #expect(dsoV2.differences.map { "\($0.reference) \($0.previous?.fee.description ?? "-") → \($0.current?.fee.description ?? "-") \($0.change)" }
                == ["\(roundID).0 0.50 → 2.00 1.50"])
        #expect(dsoV2.totals.net == dsoV1.totals.net + Money("1.50")!)
        for statement in second {
            let previous = try #require(first.first { $0.party == statement.party })
            #expect(statement.totals.net - previous.totals.net == statement.differences.map(\.change).sum())
        }

        // The earlier version stays; each party reads its own.
        let all = try await market.statements(month: "2026-11", visibleTo: .init(role: .marketOperator))
        #expect(all.map { "\($0.party) v\($0.version)" } == ["agr-1 v1", "agr-1 v2", "dso-1 v1", "dso-1 v2", "tso-1 v1"])
        #expect(try await market.statements(month: "2026-11", visibleTo: Self.tso).map(\.party) == ["tso-1"])
        #expect(try await market.statements(month: "2026-11", visibleTo: Self.dso).map(\.version) == [1, 2])
        #expect(try await market.statements(month: "2026-11", visibleTo: .init(role: .aggregator, participant: "agr-2")).isEmpty)
        await #expect(throws: MarketRefusal.self, "another party's statement is not found") {
            try await market.statement(month: "2026-11", role: .dso, party: "dso-1", version: 1, visibleTo: Self.tso)
        }
        let kept = try await market.statement(month: "2026-11", role: .dso, party: "dso-1", version: 1, visibleTo: Self.dso)
        #expect(kept.statement == dsoV1)
        let csv = kept.statement.csv.split(separator: "\n")
        #expect(csv.count == 4 && csv.last == "2026-11,dso-1,dso,1,total,,,,,,,,,0.74,0.00,0.74", "\(csv)")
    }
}
