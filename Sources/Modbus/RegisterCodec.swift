#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Converts between register words and values of a `Register`, in both directions
/// (meters are read, set-points are written, the simulator serves).
extension Register {
    /// Decodes the value from its words (`words.count == type.registerCount`), applies
    /// scale and offset, and keeps only the precision the register carries, so that a float32
    /// 230.1 is recorded as 230.1 (not 230.10000610351562) and raw 2301 × 0.1 as 230.1.
    /// Nil for NaN or infinity (a meter that is not ready), which is a failed read, not a value.
    public func decode(_ words: ArraySlice<UInt16>) -> Double? {
        precondition(words.count == type.registerCount, "decode needs \(type.registerCount) registers")
        let bits = Self.combine(words, wordOrder)
        if let invalidRaw, bits == invalidRaw { return nil }
        let scaled: Double
        switch type {
        case .int16: scaled = Double(Int16(truncatingIfNeeded: bits)) * scale + offset
        case .uint16: scaled = Double(UInt16(truncatingIfNeeded: bits)) * scale + offset
        case .int32: scaled = Double(Int32(truncatingIfNeeded: bits)) * scale + offset
        case .uint32: scaled = Double(UInt32(truncatingIfNeeded: bits)) * scale + offset
        case .int64: scaled = Double(Int64(bitPattern: bits)) * scale + offset
        case .uint64: scaled = Double(bits) * scale + offset
        case .float32:
            let raw = Float(bitPattern: UInt32(truncatingIfNeeded: bits))
            guard raw.isFinite else { return nil }
            // Float's shortest form is the value the meter meant; scaling keeps float32 precision.
            return Double(Float(Double(raw) * scale + offset).description).flatMap { $0.isFinite ? $0 : nil }
        case .float64:
            let raw = Double(bitPattern: bits)
            guard raw.isFinite else { return nil }
            let value = raw * scale + offset
            return value.isFinite ? value : nil
        }
        guard scaled.isFinite else { return nil }
        let factor = decimalFactor
        let value = factor == 1 ? scaled.rounded() : (scaled * factor).rounded() / factor
        return value.isFinite ? value : nil
    }

    /// Encodes a value in the canonical unit into register words: raw = (value − offset) / scale,
    /// rounded for integer types. Nil when the raw value does not fit the type.
    public func encode(_ value: Double) -> [UInt16]? {
        let raw = (value - offset) / scale
        guard raw.isFinite else { return nil }
        let bits: UInt64
        switch type {
        case .float32:
            guard Float(raw).isFinite else { return nil }
            bits = UInt64(Float(raw).bitPattern)
        case .float64: bits = raw.bitPattern
        case .int16: guard let v = Int16(exactly: raw.rounded()) else { return nil }; bits = UInt64(UInt16(bitPattern: v))
        case .uint16: guard let v = UInt16(exactly: raw.rounded()) else { return nil }; bits = UInt64(v)
        case .int32: guard let v = Int32(exactly: raw.rounded()) else { return nil }; bits = UInt64(UInt32(bitPattern: v))
        case .uint32: guard let v = UInt32(exactly: raw.rounded()) else { return nil }; bits = UInt64(v)
        case .int64: guard let v = Int64(exactly: raw.rounded()) else { return nil }; bits = UInt64(bitPattern: v)
        case .uint64: guard let v = UInt64(exactly: raw.rounded()) else { return nil }; bits = v
        }
        return Self.split(bits, count: type.registerCount, wordOrder)
    }

    /// 10^d for the decimals that scale and offset carry (0.1 → 10, 0.001 → 1000, 1000 → 1):
    /// integer registers are exact, so the result is exact to those decimals.
    var decimalFactor: Double {
        func decimals(_ x: Double) -> Int {
            var factor = 1.0
            for d in 0...9 {
                let shifted = x * factor
                if abs(shifted - shifted.rounded()) <= 1e-9 * max(1, abs(shifted)) { return d }
                factor *= 10
            }
            return 9
        }
        let d = max(decimals(scale), decimals(offset))
        var factor = 1.0
        for _ in 0..<d { factor *= 10 }
        return factor
    }

    static func combine(_ words: ArraySlice<UInt16>, _ order: WordOrder) -> UInt64 {
        var bits: UInt64 = 0
        switch order {
        case .big: for word in words { bits = bits << 16 | UInt64(word) }
        case .little: for word in words.reversed() { bits = bits << 16 | UInt64(word) }
        }
        return bits
    }

    static func split(_ bits: UInt64, count: Int, _ order: WordOrder) -> [UInt16] {
        var words = (0..<count).map { index in UInt16(truncatingIfNeeded: bits >> (16 * UInt64(count - 1 - index))) }
        if order == .little { words.reverse() }
        return words
    }
}
