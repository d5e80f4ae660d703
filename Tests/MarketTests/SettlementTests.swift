import Foundation
import GridCore
import Market
import Testing

/// Settlement: the UFTP specification's example (§2.6) row for row for one order, the same
/// mirrored for an upward order, pay-as-bid in cents, ISPs not measured or not dispatched, and
/// several orders sharing what one POD's meter shows.
@Suite struct SettlementTests {
    static let megawatt = 1_000_000

    static func one(_ allocation: Int?, baseline: Int, ordered: Int, certified: Bool = true, _ standing: PODInterval.Standing = .dispatched)
        -> SettledISP {
        Settlement.share(PODInterval(pod: "P", isp: 1, baseline: baseline, allocation: allocation, unverified: certified ? nil : "not certified",
                                     parts: [.init(order: "o", ordered: ordered, standing: standing)]))[0]
    }

    /// Initial baseline 10 MW, 2 MW acquired (adjusted baseline 8 MW), flex price 7 €/MW (14 € for
    /// the order), penalty 11 €/MW; allocations 7 to 11 MW.
    @Test func theSpecificationsExampleTable() {
        let terms = SettlementTerms(penaltyPerMW: 11)
        // allocation, flex realized, delivered, flex paid, baseline deviation, deficiency, penalty raised, settlement
        let table: [(Int, Int, Int, Money, Int, Int, Money, Money)] = [
            (7, 3, 2, 14, -1, 0, 0, 14),
            (8, 2, 2, 14, 0, 0, 0, 14),
            (9, 1, 1, 7, 1, 1, -11, -4),
            (10, 0, 0, 0, 2, 2, -22, -22),
            (11, -1, 0, 0, 3, 3, -33, -33),
        ]
        for (allocation, realized, delivered, paid, deviation, deficiency, raised, settlement) in table {
            let line = Self.one(allocation * Self.megawatt, baseline: 10 * Self.megawatt, ordered: -2 * Self.megawatt)
            #expect(line.realized == realized * Self.megawatt && line.delivered == delivered * Self.megawatt, "\(allocation) MW")
            #expect(line.deviation == deviation * Self.megawatt && line.deficiency == deficiency * Self.megawatt, "\(allocation) MW")
            let priced = Settlement.price([line], price: 14, terms: terms)
            #expect(priced.fee == paid && -priced.penalty == raised && priced.net == settlement, "\(allocation) MW: \(priced)")
        }
    }

    /// An upward order (more consumption, e.g. against surplus production) mirrors the signs.
    @Test func anUpwardOrderMirrorsTheSigns() {
        let lines = [13, 12, 11, 10, 9].map { Self.one($0, baseline: 10, ordered: 2) }
        #expect(lines.map(\.delivered) == [2, 2, 1, 0, 0])
        #expect(lines.map(\.deficiency) == [0, 0, 1, 2, 3])
        #expect(lines.map { Settlement.price([$0], price: 14, terms: SettlementTerms(penaltyPerMW: Money(cents: 1_100_000_000))).net }
                    == [14, 14, -4, -22, -33])
    }

    /// Pay-as-bid, in cents: full delivery is paid the award's price; what is not measured, not
    /// dispatched or cancelled is paid nothing (a cancelled ISP its cancellation share); the
    /// lines add up to the order's totals.
    @Test func payAsBidInCents() {
        let terms = SettlementTerms(penaltyPerMW: Money("0.10")!, cancellationFeePercent: 25)
        let full = [(40, -2000), (41, -2000), (42, -1000)].map { Self.one($0.1, baseline: 0, ordered: $0.1) }
        #expect(Settlement.price(full, price: 25, terms: terms).fee == 25)
        let lines = [
            Self.one(-1000, baseline: 0, ordered: -2000),                              // half delivered: 1,000 W short
            Self.one(nil, baseline: 0, ordered: -2000),                                // not measured
            Self.one(-1000, baseline: 0, ordered: -1000, certified: false),            // not certified
            Self.one(0, baseline: 0, ordered: -1000, .notDispatched("never acknowledged")),
            Self.one(0, baseline: 0, ordered: -1000, .cancelled),
        ]
        #expect(lines.map(\.status) == [.settled, .unverified, .unverified, .notDispatched, .cancelled])
        #expect(lines.map(\.deficiency) == [1000, 0, 0, 0, 0])
        // 25.00 × (1,000 + 25 % × 1,000) / 7,000 = 4.464… → 4.46; 0.10 €/MW × 1,000 W = 0.0001 → 0.00.
        let priced = Settlement.price(lines, price: 25, terms: terms)
        #expect(priced.fee == Money("4.46") && priced.penalty == 0 && priced.net == Money("4.46"))
        #expect(priced.isps.map(\.fee) == [Money("3.57")!, 0, 0, 0, Money("0.89")!])
        #expect(priced.isps.map(\.net).sum() == priced.net)
    }

    /// Two orders on one POD and ISP: what the meter shows is shared pro rata, never more in all
    /// than it shows, never more to one than its part; the deficiency likewise.
    @Test func ordersSharingAPODShareItsMeter() {
        func shared(_ allocation: Int) -> [SettledISP] {
            Settlement.share(PODInterval(pod: "P", isp: 40, baseline: 3000, allocation: allocation,
                                         parts: [.init(order: "a", ordered: -600), .init(order: "b", ordered: -400),
                                                 .init(order: "c", ordered: -500, standing: .notDispatched("stale"))]))
        }
        // 1,000 W ordered in all (c never reached the site), 800 W delivered: 480 and 320.
        #expect(shared(2200).map(\.delivered) == [480, 320, 0] && shared(2200).map(\.deficiency) == [120, 80, 0])
        #expect(shared(1000).map(\.delivered) == [600, 400, 0], "more than ordered: each its part, no more")
        #expect(shared(3300).map(\.delivered) == [0, 0, 0] && shared(3300).map(\.deficiency) == [780, 520, 0], "the wrong way")
        #expect(shared(2999).map(\.delivered).reduce(0, +) == 1, "one watt is paid once")
    }
}
