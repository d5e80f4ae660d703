import Foundation
import GridCore
import Market
import Testing
import TestSupport

/// Clearing: a worked example, then properties over random books (DSO first, never an offer's
/// volume twice, no award out of a DSO request's area, powers and energy accounted for, the same
/// outcome whatever order the book came in).
@Suite struct ClearingTests {
    static func range(_ minPower: Int, _ maxPower: Int) -> PowerRange { PowerRange(minPower: minPower, maxPower: maxPower)! }

    @Test func aWorkedExample() throws {
        let scenario = try Scenario(json: Data(#"""
            {"isp_minutes": 15,
             "requests": [
               {"id": "t1", "buyer": "TSO", "area": ["cp-1", "cp-2"], "isps": [{"start": 40, "duration": 2, "min_power": -10000, "max_power": -1000}]},
               {"id": "r1", "buyer": "DSO", "area": ["cp-1"], "isps": [{"start": 40, "duration": 2, "min_power": -5000, "max_power": -1000}]}],
             "offers": [
               {"id": "o2", "aggregator": "agr-b", "location": "cp-1", "price": 30, "min_activation_factor": 0.5, "isps": [{"start": 40, "duration": 2, "power": -4000}]},
               {"id": "o1", "aggregator": "agr-a", "location": "cp-1", "price": 10, "isps": [{"start": 40, "duration": 2, "power": -2000}]},
               {"id": "o3", "aggregator": "agr-c", "location": "cp-2", "price": 1, "isps": [{"start": 40, "duration": 2, "power": -3000}]}]}
            """#.utf8))
        let outcome = scenario.clear()
        // The DSO's request first, from cp-1 only, cheapest per MWh first: o1 whole, o2 at 0.75
        // (3,000 of its 4,000 W); then the TSO's from what is left: o3 (o2's quarter is below its minimum).
        #expect(outcome.awards.map { "\($0.request) \($0.offer) \($0.factor)" } == ["r1 o1 100", "r1 o2 75", "t1 o3 100"])
        #expect(outcome.awards[1].isps == [ISPSpan(start: 40, duration: 2, value: -3000)])
        #expect(outcome.awards[1].energyWh == 1500 && outcome.awards[1].price == Money("22.50"))
        #expect(outcome.requests.map(\.satisfied) == [true, true])
        #expect(outcome.requests[0].served == [ISPSpan(start: 40, value: -5000), ISPSpan(start: 41, value: -5000)])
        #expect(outcome.requests[1].served == [ISPSpan(start: 40, value: -3000), ISPSpan(start: 41, value: -3000)])
    }

    @Test func theReliabilityMarginAddsReservesToDSORequestsOnly() {
        let offers = (1...4).map { FlexibilityOffer(id: "o\($0)", aggregator: "a", location: "cp", isps: [ISPSpan(start: 1, value: -500)],
                                                  price: Money(cents: Int64($0) * 100), minimumFactor: 100) }
        let requests = [FlexibilityRequest(id: "d", buyer: .dso, area: ["cp"], isps: [ISPSpan(start: 1, value: Self.range(-1000, -1000))])]
        let outcome = Clearing.clear(requests: requests, offers: offers, rules: ClearingRules(reliabilityMargin: 0.5))
        #expect(outcome.awards.map { "\($0.offer) \($0.margin)" } == ["o1 false", "o2 false", "o3 true"])
        #expect(outcome.requests[0].served == [ISPSpan(start: 1, value: -1000)])
    }

    @Test(arguments: [
        (#"{"requests": [], "offers": [{"id": "o", "aggregator": "a", "location": "x", "price": 1, "isps": [{"start": 1, "power": 5}, {"start": 2, "power": -5}]}]}"#, "offers[0].isps: powers of one sign"),
        (#"{"requests": [{"id": "r", "buyer": "BRP", "area": ["x"], "isps": []}], "offers": []}"#, "requests[0].buyer: DSO or TSO"),
        (#"{"requests": [{"id": "r", "buyer": "DSO", "area": ["x"], "isps": [{"start": 1, "min_power": -5, "max_power": 5}]}], "offers": []}"#, "requests[0].isps[0]: min_power"),
        (#"{"requests": [{"id": "r", "buyer": "DSO", "area": ["x"], "isps": [{"start": 101, "min_power": -5, "max_power": -1}]}], "offers": []}"#, "requests[0].isps[0]: ISPs 101"),
        (#"{"requests": [{"id": "r", "buyer": "DSO", "area": ["x"]}], "offers": []}"#, "requests[0].isps: is required"),
        (#"{"requests": [], "offers": [{"id": "o", "aggregator": "a", "location": "x", "price": 1, "min_activation_factor": 0, "isps": [{"start": 1, "power": 5}]}]}"#, "offers[0].min_activation_factor"),
    ])
    func badScenariosAreRefusedNamingTheField(json: String, problem: String) {
        let error = #expect(throws: Scenario.Problem.self) { try Scenario(json: Data(json.utf8)) }
        #expect(error?.description.hasPrefix(problem) == true, "\(String(describing: error))")
    }


    static func book(_ random: inout SplitMix64) -> (requests: [FlexibilityRequest], offers: [FlexibilityOffer], rules: ClearingRules) {
        let locations = (0..<(1 + random.below(6))).map { "cp-\($0)" }
        let ispMinutes = [15, 30, 60][random.below(3)]
        let isps = 24 * 60 / ispMinutes
        /// One to three spans, none overlapping another (a book addresses each ISP once).
        func spans<T>(_ value: () -> T) -> [ISPSpan<T>] {
            var result: [ISPSpan<T>] = []
            var next = 1 + random.below(isps)
            for _ in 0..<(1 + random.below(3)) where next <= isps {
                let duration = 1 + random.below(min(8, isps - next + 1))
                result.append(ISPSpan(start: next, duration: duration, value: value()))
                next += duration + random.below(4)
            }
            return result
        }
        let offers = (0..<random.below(40)).map { index in
            let sign = random.below(4) == 0 ? 1 : -1
            return FlexibilityOffer(id: "o\(index)", aggregator: "a\(random.below(3))", location: locations[random.below(locations.count)],
                                    isps: spans { sign * (1 + random.below(5000)) },
                                    price: Money(cents: Int64(random.below(1000)) * 10), minimumFactor: [1, 10, 50, 100][random.below(4)],
                                    sequence: random.below(5))
        }
        let requests = (0..<random.below(12)).map { index in
            let sign = random.below(4) == 0 ? 1 : -1
            let low = random.below(3000), high = low + 1 + random.below(8000)
            return FlexibilityRequest(id: "r\(index)", buyer: random.below(2) == 0 ? .dso : .tso,
                                      area: Set((0..<(1 + random.below(3))).map { _ in locations[random.below(locations.count)] }),
                                      isps: spans { PowerRange(minPower: sign < 0 ? -high : low, maxPower: sign < 0 ? -low : high)! },
                                      priceLimitPerMWh: random.below(3) == 0 ? Money(cents: Int64(random.below(200_000)) * 100) : nil, sequence: random.below(5))
        }
        return (requests, offers, ClearingRules(ispMinutes: ispMinutes, reliabilityMargin: [0, 0, 0.1, 0.5][random.below(4)]))
    }

    @Test func propertiesHoldOverRandomBooks() {
        var random = SplitMix64(seed: 20261125)
        var awarded = 0
        for _ in 0..<2_000 {
            let (requests, offers, rules) = Self.book(&random)
            let outcome = Clearing.clear(requests: requests, offers: offers, rules: rules)
            let offerByID = Dictionary(uniqueKeysWithValues: offers.map { ($0.id, $0) })
            let requestByID = Dictionary(uniqueKeysWithValues: requests.map { ($0.id, $0) })
            awarded += outcome.awards.count
            var used: [String: Int] = [:]
            for award in outcome.awards {
                let offer = offerByID[award.offer]!, request = requestByID[award.request]!
                used[award.offer, default: 0] += award.factor
                #expect(award.factor >= offer.minimumFactor && award.factor <= 100)
                // Its powers are the offer's scaled, its energy and price follow from them.
                #expect(award.isps == offer.isps.map { ISPSpan(start: $0.start, duration: $0.duration, value: $0.value * award.factor / 100) })
                #expect(award.energyWh == award.isps.reduce(0) { $0 + abs($1.value) * $1.duration } * rules.ispMinutes / 60)
                #expect(request.buyer == .tso || request.area.contains(offer.location), "out of area: \(award)")
                #expect(offer.isps.allSatisfy { ($0.value > 0 ? 1 : -1) == request.isps[0].value.direction })
                #expect(!award.margin || request.buyer == .dso)
            }
            // No offer's volume twice.
            #expect(used.values.allSatisfy { $0 <= 100 })
            // No request served beyond its maximum; what it was served is what its awards give it.
            for result in outcome.requests {
                let request = requestByID[result.request]!
                var fromAwards: [Int: Int] = [:]
                for award in outcome.awards where award.request == request.id && !award.margin {
                    for span in award.isps { for isp in span.isps { fromAwards[isp, default: 0] += abs(span.value) } }
                }
                for span in request.isps {
                    for isp in span.isps {
                        let served = abs(result.served.first { $0.start == isp }!.value)
                        #expect(served <= span.value.maximum && served == fromAwards[isp, default: 0])
                    }
                }
            }
            // DSO first: TSO requests change nothing for the DSO.
            let dsoOnly = Clearing.clear(requests: requests.filter { $0.buyer == .dso }, offers: offers, rules: rules)
            #expect(dsoOnly.awards == outcome.awards.filter { requestByID[$0.request]!.buyer == .dso })
            // The same book in another order: the same outcome.
            let again = Clearing.clear(requests: requests.shuffled(using: &random), offers: offers.shuffled(using: &random), rules: rules)
            #expect(again == outcome)
        }
        #expect(awarded > 1_000)
    }
}
