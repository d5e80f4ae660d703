import Foundation
import Market
import Testing

/// Settlement per ISP: the UFTP specification's example (§2.6) row for row, the same mirrored for
/// an upward order, pay-as-bid, and ISPs without certified data left out and listed.
@Suite struct SettlementTests {
    static let megawatt = 1_000_000

    /// Initial baseline 10 MW, 2 MW acquired (adjusted baseline 8 MW), flex price 7 €/MW,
    /// penalty 11 €/MW; allocations 7 to 11 MW.
    @Test func theSpecificationsExampleTable() {
        let rates = SettlementRates(feePerW: Decimal(7) / Decimal(Self.megawatt), penaltyPerW: Decimal(11) / Decimal(Self.megawatt))
        // allocation, flex realized, delivered, flex paid, baseline deviation, deficiency, penalty raised, settlement
        let table: [(Int, Int, Int, Decimal, Int, Int, Decimal, Decimal)] = [
            (7, 3, 2, 14, -1, 0, 0, 14),
            (8, 2, 2, 14, 0, 0, 0, 14),
            (9, 1, 1, 7, 1, 1, -11, -4),
            (10, 0, 0, 0, 2, 2, -22, -22),
            (11, -1, 0, 0, 3, 3, -33, -33),
        ]
        for (allocation, realized, delivered, paid, deviation, deficiency, raised, settlement) in table {
            let row = Settlement.settle(ISPMeasurement(isp: 1, baseline: 10 * Self.megawatt, ordered: -2 * Self.megawatt,
                                                       allocation: allocation * Self.megawatt), rates: rates)
            #expect(row.realized == realized * Self.megawatt && row.delivered == delivered * Self.megawatt, "\(allocation) MW")
            #expect(row.deviation == deviation * Self.megawatt && row.deficiency == deficiency * Self.megawatt, "\(allocation) MW")
            #expect(row.fee == paid && -row.penalty == raised && row.net == settlement, "\(allocation) MW: \(row)")
        }
    }

    /// An upward order (more consumption, e.g. against surplus production) mirrors the signs.
    @Test func anUpwardOrderMirrorsTheSigns() {
        let rates = SettlementRates(feePerW: 7, penaltyPerW: 11)
        let rows = [13, 12, 11, 10, 9].map {
            Settlement.settle(ISPMeasurement(isp: 1, baseline: 10, ordered: 2, allocation: $0), rates: rates)
        }
        #expect(rows.map(\.delivered) == [2, 2, 1, 0, 0])
        #expect(rows.map(\.deficiency) == [0, 0, 1, 2, 3])
        #expect(rows.map(\.net) == [14, 14, -4, -22, -33])
    }

    /// Pay-as-bid: full delivery is paid the award's price; an ISP without a certified
    /// measurement is neither paid nor charged, and listed.
    @Test func payAsBidAndUnverifiedISPs() {
        let ordered = [-2000, -2000, -1000]
        let rates = SettlementRates.payAsBid(price: 25, orderedW: ordered, penaltyPerW: Decimal(string: "0.001")!)
        let full = Settlement.settle(order: ordered.enumerated().map { ISPMeasurement(isp: 40 + $0, baseline: 0, ordered: $1, allocation: $1) },
                                     rates: rates)
        #expect(full.fee == 25 && full.penalty == 0 && full.net == 25 && full.unverified.isEmpty)
        let partial = Settlement.settle(order: [
            ISPMeasurement(isp: 40, baseline: 0, ordered: -2000, allocation: -1000),
            ISPMeasurement(isp: 41, baseline: 0, ordered: -2000, allocation: nil),
            ISPMeasurement(isp: 42, baseline: 0, ordered: -1000, allocation: -1000, certified: false),
        ], rates: rates)
        #expect(partial.unverified == [41, 42] && partial.delivered == 1000 && partial.deficiency == 1000)
        #expect(partial.fee == 5 && partial.penalty == 1 && partial.net == 4)
        #expect(partial.isps[1].net == 0 && !partial.isps[1].verified)
    }
}
