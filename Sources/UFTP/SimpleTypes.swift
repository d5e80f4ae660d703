import Foundation
import GridCore

/// Why a value is not what its XSD type allows (the decoder adds where it was).
public struct UFTPValueError: Error, Sendable {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
}

/// A UFTP simple type carried as an attribute's text and checked against its XSD facets.
public protocol UFTPSimpleType: Codable, Hashable, Sendable, CustomStringConvertible {
    init(validating text: String) throws(UFTPValueError)
    /// The lexical form written on the wire.
    var text: String { get }
}

extension UFTPSimpleType {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(validating: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.problem)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    public var description: String { text }
}

/// An XSD enumeration: the error lists what is allowed.
public protocol UFTPEnumeration: RawRepresentable<String>, CaseIterable, Codable, Hashable, Sendable {}

extension UFTPEnumeration {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Self(rawValue: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "must be one of \(Self.allCases.map(\.rawValue).joined(separator: ", ")), not \"\(text)\"")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

public enum USEFRole: String, UFTPEnumeration {
    case agr = "AGR", cro = "CRO", dso = "DSO"
}

public enum RedispatchBy: String, UFTPEnumeration {
    case agr = "AGR", dso = "DSO"
}

public enum AcceptedRejected: String, UFTPEnumeration {
    case accepted = "Accepted", rejected = "Rejected"
}

public enum AvailableRequested: String, UFTPEnumeration {
    case available = "Available", requested = "Requested"
}

public enum AcceptedDisputed: String, UFTPEnumeration {
    case accepted = "Accepted", disputed = "Disputed"
}

public enum MeteringProfileType: String, UFTPEnumeration {
    case power = "Power", importEnergy = "ImportEnergy", exportEnergy = "ExportEnergy"
    case importMeterReading = "ImportMeterReading", exportMeterReading = "ExportMeterReading"
}

public enum MeteringUnit: String, UFTPEnumeration {
    case kW, kWh
}

/// Character-class helpers for the XSD patterns (ASCII, as the patterns are).
enum Lexical {
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isLower(_ c: UInt8) -> Bool { c >= 0x61 && c <= 0x7A }
    static func isUpper(_ c: UInt8) -> Bool { c >= 0x41 && c <= 0x5A }
    static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66) }
    static func digits(_ bytes: some Collection<UInt8>) -> Bool { !bytes.isEmpty && bytes.allSatisfy(isDigit) }
}

/// `UUIDType`: an RFC 4122 UUID in its 8-4-4-4-12 hex form, kept as written (either case).
public struct UUIDValue: UFTPSimpleType {
    public let text: String

    public init(validating text: String) throws(UFTPValueError) {
        let bytes = Array(text.utf8)
        let groups = bytes.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12], groups.allSatisfy({ $0.allSatisfy(Lexical.isHex) }) else {
            throw UFTPValueError("must be a UUID (8-4-4-4-12 hex digits), not \"\(text)\"")
        }
        self.text = text
    }

    /// A new random (version 4) UUID in lower case.
    public static func random() -> UUIDValue {
        UUIDValue(unchecked: UUID().uuidString.lowercased())
    }

    init(unchecked text: String) { self.text = text }

    /// Equal whatever the case of the hex digits.
    public func sameID(as other: UUIDValue) -> Bool { text.lowercased() == other.text.lowercased() }
}

/// `InternetDomainType`: `([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}` (lower case only).
public struct InternetDomain: UFTPSimpleType {
    public let text: String

    public init(validating text: String) throws(UFTPValueError) {
        let labels = Array(text.utf8).split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        let valid = labels.count >= 2
            && labels.dropLast().allSatisfy { label in
                // Alphanumeric runs joined by single hyphens, no hyphen at either end.
                !label.isEmpty && label.first != UInt8(ascii: "-") && label.last != UInt8(ascii: "-")
                    && !label.indices.dropFirst().contains { label[$0] == UInt8(ascii: "-") && label[$0 - 1] == UInt8(ascii: "-") }
                    && label.allSatisfy { Lexical.isLower($0) || Lexical.isDigit($0) || $0 == UInt8(ascii: "-") }
            }
            && labels.last!.count >= 2 && labels.last!.allSatisfy(Lexical.isLower)
        guard valid else { throw UFTPValueError("must be a lower-case internet domain such as dso.example.com, not \"\(text)\"") }
        self.text = text
    }
}

/// `EntityAddressType`: `ea1.YYYY-MM.<reversed domain>:<local id>` or `ean.<12–34 digits>`.
public struct EntityAddress: UFTPSimpleType {
    public let text: String

    public init(validating text: String) throws(UFTPValueError) {
        let bytes = Array(text.utf8)
        // `.` in an XSD pattern is any character but a line break.
        let noBreaks = !bytes.contains(0x0A) && !bytes.contains(0x0D)
        var valid = false
        if text.hasPrefix("ean.") {
            valid = (12...34).contains(bytes.count - 4) && Lexical.digits(bytes[4...])
        } else if text.hasPrefix("ea1."), bytes.count > 12, noBreaks {
            let date = bytes[4..<11]
            let dateValid = Lexical.digits(date.prefix(4)) && date[8] == UInt8(ascii: "-") && Lexical.digits(date.suffix(2))
            // ".{1,244}:.{1,244}" after "ea1.YYYY-MM.": some colon splits the rest into two such runs.
            let rest = Array(text.unicodeScalars.dropFirst(12))
            let splits = rest.indices.filter { rest[$0] == ":" && $0 >= 1 && $0 <= 244 && rest.count - $0 - 1 >= 1 && rest.count - $0 - 1 <= 244 }
            valid = dateValid && bytes[11] == UInt8(ascii: ".") && !splits.isEmpty
        }
        guard valid else {
            throw UFTPValueError("must be an entity address (ea1.YYYY-MM.<domain>:<id> or ean.<12–34 digits>), not \"\(text)\"")
        }
        self.text = text
    }
}

/// `EANType` of the Metering message: `[Ee][0-9]{16}` in the XSD; 18 digits read too.
public struct MeteringEAN: UFTPSimpleType {
    public let text: String

    public init(validating text: String) throws(UFTPValueError) {
        let bytes = Array(text.utf8)
        // The XSD's E + 16 digits, and E + 18: the length of an EAN-18 connection code, which the
        // reference implementation requires (docs/uftp.md, "XML codec").
        guard bytes.count == 17 || bytes.count == 19, bytes[0] | 0x20 == UInt8(ascii: "e"), Lexical.digits(bytes[1...]) else {
            throw UFTPValueError("must be E followed by 16 or 18 digits, not \"\(text)\"")
        }
        self.text = text
    }
}

/// `TimeZoneNameType`: an IANA zone under Africa, America, Australia, Europe or Pacific.
public struct TimeZoneName: UFTPSimpleType {
    public let text: String
    static let areas = ["Africa", "America", "Australia", "Europe", "Pacific"]

    public init(validating text: String) throws(UFTPValueError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, Self.areas.contains(String(parts[0])), parts[1].utf8.count >= 3,
              parts[1].utf8.allSatisfy({ Lexical.isDigit($0) || Lexical.isLower($0) || Lexical.isUpper($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "/") })
        else { throw UFTPValueError("must be an IANA time zone such as Europe/Amsterdam, not \"\(text)\"") }
        self.text = text
    }
}

/// `ISO4217CurrencyType`: three capital letters.
public struct CurrencyCode: UFTPSimpleType {
    public let text: String

    public init(validating text: String) throws(UFTPValueError) {
        guard text.utf8.count == 3, text.utf8.allSatisfy(Lexical.isUpper) else {
            throw UFTPValueError("must be an ISO 4217 currency code such as EUR, not \"\(text)\"")
        }
        self.text = text
    }
}

/// `SpecVersion`: `major.minor.patch`.
public struct SpecVersion: UFTPSimpleType {
    public let text: String
    public static let v3_0_0 = SpecVersion(unchecked: "3.0.0")
    public static let v3_1_0 = SpecVersion(unchecked: "3.1.0")

    public init(validating text: String) throws(UFTPValueError) {
        let parts = Array(text.utf8).split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy(Lexical.digits) else {
            throw UFTPValueError("must be a version such as 3.1.0, not \"\(text)\"")
        }
        self.text = text
    }

    init(unchecked text: String) { self.text = text }
}

/// `PeriodType` (`xs:date`): a calendar day, `YYYY-MM-DD`, in the market's time zone.
public struct Period: UFTPSimpleType, Comparable {
    public let year: Int
    public let month: Int
    public let day: Int

    public init(year: Int, month: Int, day: Int) throws(UFTPValueError) {
        guard (1...9999).contains(year), (1...12).contains(month),
              (1...Int(Timestamp.daysIn(month: Int64(month), year: Int64(year)))).contains(day) else {
            throw UFTPValueError("\(year)-\(month)-\(day) is not a calendar day")
        }
        self.year = year
        self.month = month
        self.day = day
    }

    public init(validating text: String) throws(UFTPValueError) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              Lexical.digits(bytes[0..<4]), Lexical.digits(bytes[5..<7]), Lexical.digits(bytes[8..<10]),
              let year = Int(text.prefix(4)), let month = Int(text.dropFirst(5).prefix(2)), let day = Int(text.suffix(2))
        else { throw UFTPValueError("must be a date YYYY-MM-DD, not \"\(text)\"") }
        try self.init(year: year, month: month, day: day)
    }

    public var text: String {
        func pad(_ value: Int, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(value).count)) + String(value) }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// Days since 1970-01-01 (for period arithmetic).
    public var daysSince1970: Int { Int(Timestamp.days(fromCivilYear: Int64(year), month: Int64(month), day: Int64(day))) }

    public init(daysSince1970 days: Int) {
        let (year, month, day) = Timestamp.civil(fromDays: Int64(days))
        self.year = Int(year)
        self.month = Int(month)
        self.day = Int(day)
    }

    public func adding(days: Int) -> Period { Period(daysSince1970: daysSince1970 + days) }

    public static func < (lhs: Period, rhs: Period) -> Bool { lhs.daysSince1970 < rhs.daysSince1970 }
}

/// `xs:dateTime` with a zone (UFTP requires one); millisecond resolution.
public struct DateTime: UFTPSimpleType, Comparable {
    public let timestamp: Timestamp

    public init(_ timestamp: Timestamp) { self.timestamp = timestamp }

    public init(validating text: String) throws(UFTPValueError) {
        guard let timestamp = Timestamp(rfc3339: text) else {
            throw UFTPValueError("must be a date and time with a zone, such as 2026-11-25T10:00:00Z, not \"\(text)\"")
        }
        self.timestamp = timestamp
    }

    public var text: String { timestamp.rfc3339 }

    public static func < (lhs: DateTime, rhs: DateTime) -> Bool { lhs.timestamp < rhs.timestamp }
}

/// `ISP-Duration` (`xs:duration`, "minutes only, for example PT15M").
public struct ISPDuration: UFTPSimpleType {
    public let minutes: Int

    public init(minutes: Int) { self.minutes = minutes }

    public init(validating text: String) throws(UFTPValueError) {
        // PT[nH][nM][nS] with a whole, positive number of minutes, at most a day's.
        var minutes = 0, seconds = 0
        var number = ""
        var units: [Character] = []
        for character in text.dropFirst(2) {
            if character.isASCII && character.isNumber { number.append(character); continue }
            // Four digits are enough for a day in any unit; more could overflow the sums below.
            guard number.count <= 5, let value = Int(number), !units.contains(character) else { number = ""; units = ["x"]; break }
            switch character {
            case "H": minutes += value * 60
            case "M": minutes += value
            case "S": seconds += value
            default: units.append("x")
            }
            units.append(character)
            number = ""
        }
        guard text.hasPrefix("PT"), number.isEmpty, !units.isEmpty, !units.contains("x"), seconds % 60 == 0,
              (1...1440).contains(minutes + seconds / 60) else {
            throw UFTPValueError("must be a duration of whole minutes up to a day, such as PT15M, not \"\(text)\"")
        }
        self.minutes = minutes + seconds / 60
    }

    public var text: String { "PT\(minutes)M" }
}

/// An `xs:decimal` restricted to `fractionDigits` (the value's, so trailing zeros do not count).
public struct DecimalValue: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let value: Decimal

    public init(_ value: Decimal) { self.value = value }

    init(parsing text: String, fractionDigits: Int?) throws(UFTPValueError) {
        // xs:decimal lexical space: optional sign, digits with an optional point; no exponent.
        let body = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let integral = parts[0], fraction = parts.count > 1 ? parts[1] : ""
        guard !(integral.isEmpty && fraction.isEmpty), integral.utf8.allSatisfy(Lexical.isDigit), fraction.utf8.allSatisfy(Lexical.isDigit),
              let value = Decimal(string: text.hasPrefix("+") ? String(text.dropFirst()) : text, locale: Locale(identifier: "en_US_POSIX"))
        else { throw UFTPValueError("must be a decimal number, not \"\(text)\"") }
        let significant = fraction.reversed().drop { $0 == "0" }.count
        if let fractionDigits, significant > fractionDigits {
            throw UFTPValueError("has \(significant) decimals, at most \(fractionDigits) allowed: \"\(text)\"")
        }
        self.value = value
    }

    public var description: String { NSDecimalNumber(decimal: value).stringValue }

    public static func < (lhs: DecimalValue, rhs: DecimalValue) -> Bool { lhs.value < rhs.value }
}

/// `xs:decimal` without further facets (Metering values).
public struct MeteringValue: UFTPSimpleType {
    public let decimal: DecimalValue
    public init(_ value: Decimal) { decimal = DecimalValue(value) }
    public init(validating text: String) throws(UFTPValueError) { decimal = try DecimalValue(parsing: text, fractionDigits: nil) }
    public var text: String { decimal.description }
}

/// `CurrencyAmountType`: a decimal with at most four decimals.
public struct CurrencyAmount: UFTPSimpleType, Comparable {
    public let decimal: DecimalValue
    public var value: Decimal { decimal.value }

    public init(_ value: Decimal) throws(UFTPValueError) { try self.init(validating: DecimalValue(value).description) }
    /// At most 15 integer digits: beyond, no amount of this market, and Decimal to Double conversions lose it.
    public init(validating text: String) throws(UFTPValueError) {
        decimal = try DecimalValue(parsing: text, fractionDigits: 4)
        guard decimal.value.magnitude < 1_000_000_000_000_000 else { throw UFTPValueError("must be below 10^15, not \(text.prefix(40))") }
    }
    public var text: String { decimal.description }
    public static func < (lhs: CurrencyAmount, rhs: CurrencyAmount) -> Bool { lhs.decimal < rhs.decimal }
}

/// `ActivationFactorType`: 0.01 … 1.00, two decimals at most.
public struct ActivationFactor: UFTPSimpleType, Comparable {
    public let decimal: DecimalValue
    public var value: Decimal { decimal.value }
    public static let full = ActivationFactor(unchecked: 1)

    public init(validating text: String) throws(UFTPValueError) {
        let decimal = try DecimalValue(parsing: text, fractionDigits: 2)
        guard decimal.value >= Decimal(string: "0.01")!, decimal.value <= 1 else {
            throw UFTPValueError("must be between 0.01 and 1.00, not \(text)")
        }
        self.decimal = decimal
    }

    init(unchecked value: Decimal) { decimal = DecimalValue(value) }
    public var text: String { decimal.description }
    public static func < (lhs: ActivationFactor, rhs: ActivationFactor) -> Bool { lhs.decimal < rhs.decimal }
}

/// `xs:positiveInteger` (ISP numbers and durations), within Int.
public struct PositiveInteger: UFTPSimpleType, Comparable, ExpressibleByIntegerLiteral {
    public let value: Int

    public init(integerLiteral value: Int) {
        precondition(value > 0, "a positive integer")
        self.value = value
    }

    public init(_ value: Int) throws(UFTPValueError) {
        guard value > 0 else { throw UFTPValueError("must be a positive integer, not \(value)") }
        self.value = value
    }

    public init(validating text: String) throws(UFTPValueError) {
        guard let value = Int(text) else { throw UFTPValueError("must be a positive integer, not \"\(text)\"") }
        try self.init(value)
    }

    public var text: String { String(value) }
    public static func < (lhs: PositiveInteger, rhs: PositiveInteger) -> Bool { lhs.value < rhs.value }
}
