#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A UTC instant with millisecond resolution — the resolution of every timestamp on the wire
/// (`2026-11-24T10:00:04.000Z`). Kept as an integer so formatting, parsing and ISP arithmetic
/// need no calendar library and no Foundation.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var millisecondsSince1970: Int64

    public init(millisecondsSince1970: Int64) {
        self.millisecondsSince1970 = millisecondsSince1970
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSince1970 < rhs.millisecondsSince1970
    }

    public func adding(milliseconds: Int64) -> Timestamp {
        Timestamp(millisecondsSince1970: millisecondsSince1970 + milliseconds)
    }

    /// The first multiple of `milliseconds` since the epoch strictly after this instant
    /// (wall-clock-aligned deadlines: …:00.000, …:04.000, … for 4000).
    public func nextMultiple(ofMilliseconds milliseconds: Int64) -> Timestamp {
        let (quotient, _) = Self.floorDivide(millisecondsSince1970, milliseconds)
        return Timestamp(millisecondsSince1970: (quotient + 1) * milliseconds)
    }

    public var description: String { rfc3339 }

    /// RFC 3339 in UTC with exactly three fractional digits and `Z`.
    public var rfc3339: String {
        var buffer = [UInt8]()
        buffer.reserveCapacity(24)
        appendRFC3339(to: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Appends the RFC 3339 form to a byte buffer (the JSON writer's hot path: no String).
    public func appendRFC3339(to buffer: inout [UInt8]) {
        let (days, msOfDay) = Self.floorDivide(millisecondsSince1970, 86_400_000)
        let (year, month, day) = Self.civil(fromDays: days)
        func digits(_ value: Int64, _ count: Int) {
            var divisor: Int64 = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                buffer.append(UInt8(truncatingIfNeeded: 0x30 + rest / divisor))
                rest %= divisor
                divisor /= 10
            }
        }
        if year < 0 || year > 9999 {
            // RFC 3339 only covers years 0000–9999; clamp nonsense clocks visibly rather than crash.
            digits(year < 0 ? 0 : 9999, 4)
        } else {
            digits(year, 4)
        }
        buffer.append(0x2D); digits(month, 2)
        buffer.append(0x2D); digits(day, 2)
        buffer.append(0x54)
        digits(msOfDay / 3_600_000, 2)
        buffer.append(0x3A); digits(msOfDay / 60_000 % 60, 2)
        buffer.append(0x3A); digits(msOfDay / 1000 % 60, 2)
        buffer.append(0x2E); digits(msOfDay % 1000, 3)
        buffer.append(0x5A)
    }

    /// Parses RFC 3339 (`T` or `t`, fraction of any length, `Z` or a numeric offset).
    /// Fractions beyond milliseconds are truncated. Returns nil on anything malformed.
    public init?(rfc3339 text: some StringProtocol) {
        self.init(rfc3339UTF8: Array(text.utf8)[...])
    }

    /// `init(rfc3339:)` over UTF-8 bytes (the block codec's hot path: no String).
    public init?(rfc3339UTF8 bytes: ArraySlice<UInt8>) {
        var index = bytes.startIndex
        func number(_ count: Int) -> Int64? {
            guard index + count <= bytes.endIndex else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<index + count] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            index += count
            return value
        }
        func expect(_ one: UInt8, or other: UInt8? = nil) -> Bool {
            guard index < bytes.endIndex, bytes[index] == one || bytes[index] == other else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(0x2D), let month = number(2), expect(0x2D),
              let day = number(2), expect(0x54, or: 0x74), let hour = number(2), expect(0x3A),
              let minute = number(2), expect(0x3A), let second = number(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 61  // 60: a leap second, folded into the next
        else { return nil }
        var millis: Int64 = 0
        if index < bytes.endIndex, bytes[index] == 0x2E {
            index += 1
            var digitsRead = 0
            while index < bytes.endIndex, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                if digitsRead < 3 { millis = millis * 10 + Int64(bytes[index] - 0x30) }
                digitsRead += 1
                index += 1
            }
            guard digitsRead > 0 else { return nil }
            for _ in digitsRead..<max(digitsRead, 3) { millis *= 10 }
        }
        var offsetMinutes: Int64 = 0
        guard index < bytes.endIndex else { return nil }
        if bytes[index] == 0x5A || bytes[index] == 0x7A {
            index += 1
        } else {
            let sign: Int64 = bytes[index] == 0x2D ? -1 : 1
            guard expect(0x2B, or: 0x2D), let offsetHours = number(2), expect(0x3A),
                  let offsetMins = number(2), offsetHours < 24, offsetMins < 60
            else { return nil }
            offsetMinutes = sign * (offsetHours * 60 + offsetMins)
        }
        guard index == bytes.endIndex else { return nil }
        let days = Self.days(fromCivilYear: year, month: month, day: day)
        let local = ((days * 24 + hour) * 60 + minute) * 60 + second
        self.init(millisecondsSince1970: (local - offsetMinutes * 60) * 1000 + millis)
    }

    // Calendar arithmetic after Howard Hinnant's public-domain "date" algorithms.

    public static func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = value >= 0 ? value / divisor : -((-value - 1) / divisor) - 1
        return (quotient, value - quotient * divisor)
    }

    public static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097).quotient
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    public static func days(fromCivilYear year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400).quotient
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    public static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}
