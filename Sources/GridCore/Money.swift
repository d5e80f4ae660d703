#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An amount of the market's currency (euros) in whole cents: sums are exact and do not depend
/// on their order. A share of an amount is rounded once, half to even, to the cent
/// (docs/market.md, "Money"). JSON carries it as a decimal string, `"12.34"`; it reads a string
/// or a number with at most two decimals.
public struct Money: Sendable, Hashable, Comparable, Codable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    public var cents: Int64

    public init(cents: Int64) {
        self.cents = cents
    }

    /// Whole units: `45` is 45.00.
    public init(integerLiteral units: Int64) {
        cents = units * 100
    }

    public static let zero = Money(cents: 0)

    /// `12.34`, `-0.5`, `7`: at most two decimals and 16 integer digits; nil otherwise.
    public init?(_ text: some StringProtocol) {
        var digits = Substring(text)
        let negative = digits.first == "-"
        if negative || digits.first == "+" { digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0], fraction = parts.count > 1 ? parts[1] : ""
        guard !whole.isEmpty || !fraction.isEmpty, whole.count <= 16, fraction.count <= 2,
              (whole + fraction).utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let units = Int64(whole.isEmpty ? "0" : whole), let part = Int64(fraction.isEmpty ? "0" : fraction) else { return nil }
        let cents = units * 100 + (fraction.count == 1 ? part * 10 : part)
        self.cents = negative ? -cents : cents
    }

    /// An exact decimal with at most two decimals; nil otherwise (or beyond 16 integer digits).
    public init?(exactly decimal: Decimal) {
        guard decimal.isFinite, let money = Money("\(decimal)") else { return nil }
        self = money
    }

    /// A decimal rounded half to even to the cent; nil beyond 16 integer digits.
    public init?(rounding decimal: Decimal) {
        guard decimal.isFinite else { return nil }
        let text = "\(decimal)"  // plain digits: `-3.3033`
        if let exact = Money(text) {
            self = exact
            return
        }
        let negative = text.hasPrefix("-")
        let parts = (negative ? text.dropFirst() : Substring(text)).split(separator: ".", maxSplits: 1)
        guard parts.count == 2, parts[1].count > 2, let truncated = Money(parts[0] + "." + parts[1].prefix(2)) else { return nil }
        let beyond = parts[1].dropFirst(2)
        let half = beyond.first == "5", more = beyond.first.map { $0 > "5" } ?? false
        let up = more || (half && (beyond.dropFirst().contains { $0 != "0" } || truncated.cents % 2 == 1))
        cents = (truncated.cents + (up ? 1 : 0)) * (negative ? -1 : 1)
    }

    public var decimal: Decimal { Decimal(cents) / 100 }

    public var description: String {
        let magnitude = cents.magnitude
        let fraction = magnitude % 100
        return (cents < 0 ? "-" : "") + "\(magnitude / 100)." + (fraction < 10 ? "0" : "") + "\(fraction)"
    }

    /// `self × numerator ÷ denominator`, rounded half to even to the cent (exact in 128 bits; a
    /// zero denominator gives zero; beyond 64 bits of cents, the nearest bound).
    public func share(_ numerator: Int64, of denominator: Int64) -> Money {
        guard denominator != 0 else { return .zero }
        return Money(cents: Int64(clamping: Self.roundedHalfEven(Int128(cents) * Int128(numerator), Int128(denominator))))
    }

    /// This price per MWh of the energy of `wattISPs` watts summed over ISPs of `ispMinutes`
    /// minutes each, to the cent; nil for no energy, or a figure beyond 64 bits of cents.
    public func perMWh(wattISPs: Int, ispMinutes: Int) -> Money? {
        guard wattISPs > 0, ispMinutes > 0 else { return nil }
        return Int64(exactly: Self.roundedHalfEven(Int128(cents) * Self.wattMinutesPerMWh, Int128(wattISPs) * Int128(ispMinutes))).map(Money.init(cents:))
    }

    /// W·min in a MWh.
    public static let wattMinutesPerMWh: Int128 = 60_000_000

    /// `value ÷ divisor` to the nearest integer, ties to the even one (`divisor` not zero; the
    /// magnitudes of 128-bit products of 64-bit numbers, as here, cannot overflow).
    public static func roundedHalfEven(_ value: Int128, _ divisor: Int128) -> Int128 {
        let negative = (value < 0) != (divisor < 0)
        let (quotient, remainder) = value.magnitude.quotientAndRemainder(dividingBy: divisor.magnitude)
        let twice = remainder * 2
        let up = twice > divisor.magnitude || (twice == divisor.magnitude && quotient % 2 == 1)
        let magnitude = Int128(up ? quotient + 1 : quotient)
        return negative ? -magnitude : magnitude
    }

    /// `total` spread over parts proportional to `weights`, each whole cents, adding up to
    /// `total` exactly (largest remainder; ties to the earlier part). Equal parts when the
    /// weights are all zero.
    public static func spread(_ total: Money, over weights: [Int64]) -> [Money] {
        guard !weights.isEmpty else { return [] }
        let usable = weights.allSatisfy { $0 >= 0 } && weights.contains { $0 > 0 }
        let shares: [Int128] = usable ? weights.map { Int128($0) } : Array(repeating: 1, count: weights.count)
        let sum: Int128 = shares.reduce(0, +)
        let magnitude = Int128(total.cents.magnitude)
        let sign: Int64 = total.cents < 0 ? -1 : 1
        var parts: [Int64] = shares.map { Int64(magnitude * $0 / sum) }
        let remainders: [Int128] = shares.map { magnitude * $0 % sum }
        var left = Int64(magnitude) - parts.reduce(0, +)
        let order = remainders.indices.sorted { a, b in remainders[a] != remainders[b] ? remainders[a] > remainders[b] : a < b }
        for index in order where left > 0 {
            parts[index] += 1
            left -= 1
        }
        return parts.map { Money(cents: $0 * sign) }
    }

    public static func + (a: Money, b: Money) -> Money { Money(cents: a.cents + b.cents) }
    public static func - (a: Money, b: Money) -> Money { Money(cents: a.cents - b.cents) }
    public static func += (a: inout Money, b: Money) { a.cents += b.cents }
    public static func -= (a: inout Money, b: Money) { a.cents -= b.cents }
    public static prefix func - (a: Money) -> Money { Money(cents: -a.cents) }
    public static func < (a: Money, b: Money) -> Bool { a.cents < b.cents }

    /// A decoder's `userInfo` key: the document was stored before amounts were cents (market
    /// documents of earlier versions hold binary floating point such as `3.3033`), so a number
    /// with more decimals is rounded half to even to the cent instead of refused.
    public static let storedBeforeCents = CodingUserInfoKey(rawValue: "money.storedBeforeCents")!

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // A number too large for Decimal fails to decode at all: refused like any other amount.
        let money = if let text = try? container.decode(String.self) { Money(text) } else {
            (try? container.decode(Decimal.self)).flatMap { decimal in
                decoder.userInfo[Self.storedBeforeCents] as? Bool == true ? Money(rounding: decimal) : Money(exactly: decimal)
            }
        }
        guard let money else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "an amount with at most two decimals and 16 digits before them")
        }
        self = money
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension Sequence<Money> {
    public func sum() -> Money { reduce(.zero, +) }
}
