import Foundation
import GridCore
import Market
import Testing
import TestSupport

/// No number a participant sends can stop the market: extremes are refused naming their field
/// at entry, and a book that holds them anyway (an old store, a hand-built book) clears without
/// them, each left out with its reason.
@Suite struct BoundsTests {
    static let extremeIntegers = [Int.min, Int.min + 1, -1_000_000_001, 1_000_000_001, Int.max - 1, Int.max]
    static let extremeDoubles = [Double.nan, .infinity, -.infinity, 1e308, -1e308, .greatestFiniteMagnitude, 1_000_000_000.5, -0.5]

    static func offer(power: Int = -500, price: Money = 10, factor: Double? = nil, start: Int = 40, duration: Int? = nil,
                      location: String = "cp-1") -> OfferEntry {
        OfferEntry(id: "o", aggregator: "a", location: location, price: price, minActivationFactor: factor,
                   isps: [.init(start: start, duration: duration, power: power)])
    }

    static func request(min: Int = -500, max: Int = -100, limit: Money? = nil, start: Int = 40, duration: Int? = nil,
                        area: [String] = ["cp-1"]) -> RequestEntry {
        RequestEntry(id: "r", buyer: "DSO", area: area, isps: [.init(start: start, duration: duration, minPower: min, maxPower: max)],
                     priceLimit: limit)
    }

    static func problem(_ check: () throws -> Void) -> String? {
        do {
            try check()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func extremePowersArePlacedAndRefused() {
        for watts in Self.extremeIntegers {
            #expect(Self.problem { _ = try Self.offer(power: watts).checked("offer", ispsPerDay: 96, sequence: 0) }?
                .hasPrefix("offer.isps[0].power: \(watts) W is outside") == true)
            #expect(Self.problem { _ = try Self.request(min: watts, max: watts).checked("request", ispsPerDay: 96, sequence: 0) }?
                .hasPrefix("request.isps[0].min_power: \(watts) W is outside") == true)
            #expect(Self.problem { _ = try Self.request(min: -1, max: watts).checked("request", ispsPerDay: 96, sequence: 0) }?
                .hasPrefix("request.isps[0].max_power") == true)
        }
        // The bounds themselves are in.
        #expect(Self.problem { _ = try Self.offer(power: Bounds.powerW.lowerBound).checked("offer", ispsPerDay: 96, sequence: 0) } == nil)
        #expect(Self.problem { _ = try Self.request(min: 1, max: Bounds.powerW.upperBound).checked("request", ispsPerDay: 96, sequence: 0) } == nil)
    }

    @Test func extremePricesFactorsAndSpansAreRefused() {
        for value in [Money(cents: .min), Money(cents: -1), Money(cents: Bounds.price.upperBound.cents + 1), Money(cents: .max)] {
            #expect(Self.problem { _ = try Self.offer(price: value).checked("offer", ispsPerDay: 96, sequence: 0) }?
                .hasPrefix("offer.price: between 0 and") == true, "price \(value)")
            #expect(Self.problem { _ = try Self.request(limit: value).checked("request", ispsPerDay: 96, sequence: 0) }?
                .hasPrefix("request.price_limit_per_mwh") == true, "limit \(value)")
        }
        for value in Self.extremeDoubles {
            #expect(Self.problem { _ = try Self.offer(factor: value).checked("offer", ispsPerDay: 96, sequence: 0) }?
                .hasPrefix("offer.min_activation_factor") == true, "factor \(value)")
        }
        #expect(Self.problem { _ = try Self.offer(price: Bounds.price.upperBound).checked("offer", ispsPerDay: 96, sequence: 0) } == nil)
        for (start, duration) in [(Int.max, nil), (Int.min, nil), (1, Int.max), (96, Int.max), (50, Int.min), (0, 1), (97, 1)] as [(Int, Int?)] {
            #expect(Self.problem { _ = try Self.offer(start: start, duration: duration).checked("offer", ispsPerDay: 96, sequence: 0) }?
                .hasPrefix("offer.isps[0]: ISPs") == true, "\(start) \(String(describing: duration))")
        }
        #expect(Self.problem { _ = try Self.request(area: []).checked("r", ispsPerDay: 96, sequence: 0) }?.hasPrefix("r.area") == true)
        #expect(Self.problem { _ = try Self.request(area: (0...100).map { "cp-\($0)" }).checked("r", ispsPerDay: 96, sequence: 0) }?
            .hasPrefix("r.area: 1 to 100") == true)
        #expect(Self.problem { _ = try Self.request(area: [String(repeating: "x", count: 257)]).checked("r", ispsPerDay: 96, sequence: 0) }?
            .hasPrefix("r.area[0]") == true)
        #expect(Self.problem { _ = try Self.offer(location: "").checked("o", ispsPerDay: 96, sequence: 0) }?.hasPrefix("o.location") == true)
    }

    @Test func aScenarioWithExtremesIsRefusedNamingTheField() {
        for (json, problem) in [
            (#"{"requests": [], "offers": [{"id": "o", "aggregator": "a", "location": "x", "price": 1, "isps": [{"start": 1, "power": -9223372036854775808}]}]}"#,
             "offers[0].isps[0].power"),
            (#"{"requests": [], "offers": [{"id": "o", "aggregator": "a", "location": "x", "price": 1e308, "isps": [{"start": 1, "power": -5}]}]}"#,
             "offers[0].price"),
            (#"{"requests": [], "offers": [{"id": "o", "aggregator": "a", "location": "x", "price": 10.005, "isps": [{"start": 1, "power": -5}]}]}"#,
             "offers[0].price"),
            (#"{"requests": [], "offers": [{"id": "o", "aggregator": "a", "location": "x", "price": 1000000000.01, "isps": [{"start": 1, "power": -5}]}]}"#,
             "offers[0].price: between 0 and"),
            (#"{"requests": [{"id": "r", "buyer": "DSO", "area": ["x"], "isps": [{"start": 1, "min_power": -9223372036854775808, "max_power": -1}]}], "offers": []}"#,
             "requests[0].isps[0].min_power"),
            (#"{"requests": [], "offers": [{"id": "o", "aggregator": "a", "location": "x", "price": 1, "isps": [{"start": 1, "power": 9223372036854775808}]}]}"#,
             "not a JSON scenario"),
            (#"{"requests": [], "offers": [{"id": "o", "aggregator": "a", "location": "x", "price": 1, "isps": [{"start": 9223372036854775807, "power": 1}]}]}"#,
             "offers[0].isps[0]: ISPs"),
        ] {
            let error = #expect(throws: Scenario.Problem.self) { try Scenario(json: Data(json.utf8)) }
            #expect(error?.description.hasPrefix(problem) == true, "\(String(describing: error))")
        }
    }

    /// Random books with poisoned entries mixed in: the clearing leaves exactly those out, and
    /// clears the rest as if they had never been there.
    @Test func theClearingIsTotal() {
        var random = SplitMix64(seed: 24)
        var left = 0
        for _ in 0..<500 {
            var (requests, offers, rules) = ClearingTests.book(&random)
            var poisoned: Set<String> = []
            for index in 0..<random.below(4) {
                var offer = FlexibilityOffer(id: "bad-o\(index)", aggregator: "x", location: "cp-0", isps: [ISPSpan(start: 1, value: -5)], price: 1)
                switch random.below(5) {
                case 0: offer.isps = [ISPSpan(start: 1, value: Int.min)]
                case 1: offer.price = [Money(cents: -1), Money(cents: .max), Money(cents: Bounds.price.upperBound.cents + 1)][random.below(3)]
                case 2: offer.isps = [ISPSpan(start: Int.max, duration: 2, value: -5)]
                case 3: offer.minimumFactor = [0, -1, 101, Int.max][random.below(4)]
                default: offer.isps = [ISPSpan(start: 1, duration: Int.max, value: -5)]
                }
                offers.insert(offer, at: random.below(offers.count + 1))
                poisoned.insert(offer.id)
            }
            for index in 0..<random.below(3) {
                var request = FlexibilityRequest(id: "bad-r\(index)", buyer: .dso, area: ["cp-0"], isps: [ISPSpan(start: 1, value: PowerRange(minPower: -5, maxPower: -1)!)])
                switch random.below(3) {
                case 0: request.isps[0].value.maximum = Int.max
                case 1: request.priceLimitPerMWh = Money(cents: -1)
                default: request.isps[0].start = Int.min
                }
                requests.insert(request, at: random.below(requests.count + 1))
                poisoned.insert(request.id)
            }
            let outcome = Clearing.clear(requests: requests, offers: offers, rules: rules)
            #expect(Set(outcome.excluded.map(\.id)) == poisoned)
            left += outcome.excluded.count
            var clean = Clearing.clear(requests: requests.filter { !poisoned.contains($0.id) }, offers: offers.filter { !poisoned.contains($0.id) },
                                       rules: rules)
            clean.excluded = outcome.excluded
            #expect(clean == outcome)
        }
        #expect(left > 500)
        // Rules outside their range fall back rather than trap.
        let wild = Clearing.clear(requests: [FlexibilityRequest(id: "r", buyer: .dso, area: ["cp"], isps: [ISPSpan(start: 1, value: PowerRange(minPower: -5, maxPower: -5)!)])],
                                  offers: [FlexibilityOffer(id: "o", aggregator: "a", location: "cp", isps: [ISPSpan(start: 1, value: -5)], price: 1)],
                                  rules: ClearingRules(ispMinutes: Int.max, reliabilityMargin: .infinity))
        #expect(wild.awards.count == 1 && wild.awards[0].energyWh == 1)
    }

    /// Exact within the bounds; beyond them (no grid's) clamped, never a trap.
    @Test func aSplitOfAnyPowerAddsUp() {
        for watts in [Int.min, Int.min + 1, Int.max] {
            for weights in [[1], [1, .infinity, .greatestFiniteMagnitude], [0, 1e-300], [1e300, 1e300]] as [[Double]] {
                #expect(PODSplit.split(watts, weights: weights).count == weights.count)
            }
        }
        for watts in [Bounds.powerW.lowerBound, -1, 0, 1, Bounds.powerW.upperBound] {
            #expect(PODSplit.split(watts, weights: [1, .infinity, .greatestFiniteMagnitude]).reduce(0, +) == watts)
            #expect(PODSplit.split(watts, weights: [3, 1e-300, 7]).reduce(0, +) == watts)
        }
        #expect(PODSplit.split(-7, weights: [.greatestFiniteMagnitude, .greatestFiniteMagnitude]).reduce(0, +) == -7)
    }
}
