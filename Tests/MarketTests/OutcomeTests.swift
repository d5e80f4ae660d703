import Foundation
import GridCore
import Market
import Testing

/// Preliminary to final: the DSO rejects an award, the request's margin makes up for it; the
/// built-in validator rejects what exceeds a congestion point's limit.
@Suite struct OutcomeTests {
    static func offer(_ id: String, _ power: Int, price: Money, at location: String = "cp") -> FlexibilityOffer {
        FlexibilityOffer(id: id, aggregator: "agr", location: location, isps: [ISPSpan(start: 10, duration: 2, value: power)], price: price)
    }

    static let request = FlexibilityRequest(id: "r", buyer: .dso, area: ["cp"],
                                            isps: [ISPSpan(start: 10, duration: 2, value: PowerRange(minPower: -3000, maxPower: -3000)!)])

    @Test func aRejectedAwardIsReplacedFromTheMargin() {
        let offers = [Self.offer("a", -1000, price: 1), Self.offer("b", -2000, price: 2), Self.offer("c", -1000, price: 3),
                      Self.offer("d", -2000, price: 8)]
        let preliminary = Clearing.clear(requests: [Self.request], offers: offers, rules: ClearingRules(reliabilityMargin: 1))
        #expect(preliminary.awards.map { "\($0.offer) \($0.margin)" } == ["a false", "b false", "c true", "d true"])
        // The DSO rejects a (1,000 W): c (1,000 W) takes its place; d would overshoot and is released.
        let final = preliminary.finalize(Validation(rejected: [0: "voltage at node 7"]))
        #expect(final.awards.map(\.offer) == ["b", "c"] && final.awards.allSatisfy { !$0.margin })
        #expect(final.rejected.map(\.award.offer) == ["a"] && final.rejected[0].reason == "voltage at node 7")
        // Nothing rejected: the margin is released.
        #expect(preliminary.finalize(Validation()).awards.map(\.offer) == ["a", "b"])
    }

    @Test func theBuiltInValidatorKeepsEachCongestionPointWithinItsLimit() {
        let offers = [Self.offer("a", -1000, price: 1), Self.offer("b", -2000, price: 2)]
        let preliminary = Clearing.clear(requests: [Self.request], offers: offers, rules: ClearingRules())
        let validation = CongestionPointLimits(limitW: ["cp": 2500]).validate(preliminary)
        #expect(validation.rejected == [1: "exceeds the limit of 2500 W at cp"])
        #expect(preliminary.finalize(validation).awards.map(\.offer) == ["a"])
        #expect(CongestionPointLimits(limitW: ["elsewhere": 1]).validate(preliminary).rejected.isEmpty)
    }
}
