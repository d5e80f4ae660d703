import Foundation
import GridCore
import Testing
import TestSupport

/// Money in cents (docs/market.md, "Money"): exact sums, one half-even rounding per share,
/// spreads that add up, JSON as decimal strings, and no input that traps.
@Suite struct MoneyTests {
    @Test func textAndJSONAreDecimalWithTwoPlaces() throws {
        #expect(Money("12.34")?.cents == 1234 && Money("-0.5")?.cents == -50 && Money("7")?.cents == 700 && Money(".05")?.cents == 5)
        for bad in ["", ".", "1.234", "1e3", "0x10", " 1", "1,00", "12345678901234567.00", "--1", "+-1", "NaN"] {
            #expect(Money(bad) == nil, "\(bad)")
        }
        #expect(Money(cents: -5).description == "-0.05" && Money(cents: 123_456).description == "1234.56")
        #expect(Money(cents: .min).description == "-92233720368547758.08", "the magnitude is never negated in 64 bits")
        let encoded = try JSONEncoder().encode(["fee": Money(cents: 1099)])
        #expect(String(decoding: encoded, as: UTF8.self) == #"{"fee":"10.99"}"#)
        let decoder = JSONDecoder()
        #expect(try decoder.decode([Money].self, from: Data(#"["10.5", 10.5, 3, "0.07"]"#.utf8)).map(\.cents) == [1050, 1050, 300, 7])
        for bad in [#"[10.005]"#, #"[1e308]"#, #"["1e2"]"#, #"[true]"#, #"["99999999999999999"]"#] {
            #expect(throws: DecodingError.self, "\(bad)") { try decoder.decode([Money].self, from: Data(bad.utf8)) }
        }
    }

    /// Market documents stored before amounts were cents hold binary floating point: read
    /// rounded half to even, where input would be refused.
    @Test func amountsStoredBeforeCentsAreRoundedHalfToEven() throws {
        let decoder = JSONDecoder()
        decoder.userInfo[Money.storedBeforeCents] = true
        let stored = try decoder.decode([Money].self, from: Data(#"[3.3033, 3.305, 3.315, 3.3051, -2.675, 9.9999999999999999, "1.5", 7]"#.utf8))
        #expect(stored.map(\.cents) == [330, 330, 332, 331, -268, 1000, 150, 700])
        #expect(throws: DecodingError.self) { try decoder.decode([Money].self, from: Data(#"[1e20]"#.utf8)) }
        #expect(throws: DecodingError.self, "input stays strict") { try JSONDecoder().decode([Money].self, from: Data(#"[3.3033]"#.utf8)) }
    }

    @Test func aShareIsRoundedOnceHalfToEven() {
        #expect(Money(cents: 1).share(1, of: 2).cents == 0, "0.5 cent: to the even 0")
        #expect(Money(cents: 3).share(1, of: 2).cents == 2, "1.5 cents: to the even 2")
        #expect(Money(cents: 5).share(1, of: 2).cents == 2 && Money(cents: -5).share(1, of: 2).cents == -2)
        #expect(Money(cents: 1000).share(1, of: 3).cents == 333 && Money(cents: 1000).share(2, of: 3).cents == 667)
        #expect(Money(cents: 10).share(5, of: 0) == .zero)
        #expect(Money(cents: .max).share(.max, of: 1).cents == .max, "beyond 64 bits: the bound, not a trap")
        // 45.00 for 1.5 kWh (1,500 W over one 60-minute ISP) is 30,000.00 per MWh.
        #expect(Money(cents: 4500).perMWh(wattISPs: 1500, ispMinutes: 60) == Money(cents: 3_000_000))
        #expect(Money(cents: 4500).perMWh(wattISPs: 0, ispMinutes: 15) == nil)
        #expect(Money(cents: .max).perMWh(wattISPs: 1, ispMinutes: 1) == nil, "a figure beyond 64 bits is none")
    }

    @Test func aSpreadAddsUpExactlyWhateverTheWeights() {
        var random = SplitMix64(seed: 25)
        for _ in 0..<2000 {
            let total = Money(cents: Int64(random.below(2_000_001)) - 1_000_000)
            let weights = (0..<(1 + random.below(8))).map { _ in Int64(random.below(3) == 0 ? 0 : random.below(1_000_000)) }
            let parts = Money.spread(total, over: weights)
            #expect(parts.sum() == total && parts.count == weights.count)
            let sum = weights.reduce(0, +)
            for (part, weight) in zip(parts, weights) where sum > 0 {
                // Each part within a cent of its exact share.
                let exact = Double(total.cents) * Double(weight) / Double(sum)
                #expect(abs(Double(part.cents) - exact) < 1.000_001, "\(parts) over \(weights)")
            }
        }
        #expect(Money.spread(Money(cents: 100), over: [1, 1, 1]).map(\.cents) == [34, 33, 33], "the remainder to the earlier part")
        #expect(Money.spread(Money(cents: 7), over: [0, 0]).map(\.cents) == [4, 3], "no weights: equal parts")
        #expect(Money.spread(Money(cents: 7), over: []).isEmpty)
    }

    @Test func sumsDoNotDependOnTheirOrder() {
        var random = SplitMix64(seed: 250)
        let amounts = (0..<1000).map { _ in Money(cents: Int64(random.below(1_000_000))) }
        var shuffled = amounts
        shuffled.shuffle(using: &random)
        #expect(amounts.sum() == shuffled.sum() && amounts.sum() == shuffled.reversed().sum())
    }
}
