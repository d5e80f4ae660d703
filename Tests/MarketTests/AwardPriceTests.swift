import Foundation
import GridCore
@testable import Market
import Testing

/// An offer's awards never add up to more than its price, whatever the rounding; a 0 W part
/// gives settlement no direction.
@Suite struct AwardPriceTests {
    @Test func theAwardsOfASplitOfferAddUpToItsPrice() throws {
        let json = #"""
        {"requests": [
           {"id": "r1", "buyer": "DSO", "area": ["cp"], "isps": [{"start": 1, "min_power": -1000, "max_power": -1000}]},
           {"id": "t1", "buyer": "TSO", "area": ["cp"], "isps": [{"start": 1, "min_power": -1000, "max_power": -1000}]}],
         "offers": [{"id": "o1", "aggregator": "a", "location": "cp", "price": "45.03", "min_activation_factor": 0.5,
                     "isps": [{"start": 1, "power": -2000}]}]}
        """#
        let outcome = try Scenario(json: Data(json.utf8)).clear()
        #expect(outcome.awards.map(\.factor) == [50, 50])
        // 22.515 each, half to even: 22.52 alone would be paid twice (45.04); the second is the rest.
        #expect(outcome.awards.map(\.price) == [Money("22.52")!, Money("22.51")!])
        #expect(outcome.awards.map(\.price).sum() == Money("45.03")!)
        // A real-time round taking the rest of an offer the day-ahead awarded 40 % of prices the
        // rest from there: 40 % then 60 % add up to the whole.
        let offer = FlexibilityOffer(id: "o", aggregator: "a", location: "cp", isps: [ISPSpan(start: 1, value: -1000)],
                                     price: Money("10.01")!, minimumFactor: 1, available: 60, sequence: 0)
        let first = Clearing.price(of: offer, factor: 40, awardedAfter: 40), rest = Clearing.price(of: offer, factor: 60, awardedAfter: 100)
        #expect(first + rest == Money("10.01")!)
    }

    @Test func aZeroWattPartGivesNoDirection() {
        let interval = PODInterval(pod: "P", isp: 1, baseline: 3000, allocation: 2000, unverified: nil, parts: [
            .init(order: "a", ordered: 0, standing: .dispatched), .init(order: "b", ordered: -1000, standing: .dispatched),
        ])
        let lines = Settlement.share(interval)
        #expect(lines.map(\.delivered) == [0, 1000] && lines.map(\.deficiency) == [0, 0], "the site cut 1000 W as b ordered")
    }
}
