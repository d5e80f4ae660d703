/// A parsed JSON document (RFC 8259), for the platform's untrusted inputs: MQTT payloads and
/// ledger bodies. Strict: one value, no trailing bytes, no duplicate keys, no lone surrogates,
/// bounded nesting. Numbers keep their literal text so integers such as `seq` stay exact.
public indirect enum JSONValue: Sendable, Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// A finite number: `1e999` is no reading of this world, and is refused like a non-number.
    public var double: Double? {
        if case .number(let text) = self, let value = Double(text), value.isFinite { return value }
        return nil
    }

    /// A non-negative integer literal without fraction or exponent.
    public var uint64: UInt64? {
        if case .number(let text) = self, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { return UInt64(text) }
        return nil
    }

    /// An integer literal (optionally negative) without fraction or exponent.
    public var int64: Int64? {
        if case .number(let text) = self { return Int64(text) }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    public static func parse(_ bytes: [UInt8], maxDepth: Int = 16) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in try parse(buffer, maxDepth: maxDepth) }
    }

    public static func parse(_ buffer: UnsafeBufferPointer<UInt8>, maxDepth: Int = 16) throws(JSONParseError) -> JSONValue {
        var reader = JSONReader(buffer, maxDepth: maxDepth)
        let value = try reader.value()
        try reader.end()
        return value
    }
}

extension JSONReader {
    /// The next value as a tree.
    public mutating func value() throws(JSONParseError) -> JSONValue {
        switch try peek() {
        case .object:
            var members: [String: JSONValue] = [:]
            try object { (reader: inout JSONReader, key: String) throws(JSONParseError) in members[key] = try reader.value() }
            return .object(members)
        case .array:
            var values: [JSONValue] = []
            try array { (reader: inout JSONReader) throws(JSONParseError) in values.append(try reader.value()) }
            return .array(values)
        case .string: return .string(try string())
        case .number: return .number(try numberText())
        case .bool: return .bool(try bool())
        case .null: try null(); return .null
        }
    }
}

/// Why a text is not acceptable JSON, with the byte offset where parsing stopped.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public let offset: Int
    public var description: String { "\(reason) at byte \(offset)" }

    public init(reason: String, offset: Int) {
        self.reason = reason
        self.offset = offset
    }
}

/// A strict pull parser over JSON text (RFC 8259) with the rules of `JSONValue.parse`: for hot
/// paths that want a few members without building a tree (ingest parses every reading). Objects
/// reject duplicate member names; nesting is bounded; `end()` rejects trailing bytes.
public struct JSONReader {
    public enum Kind { case object, array, string, number, bool, null }

    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var depth = 0
    var index = 0

    public init(_ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 16) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func fail(_ reason: String) -> JSONParseError { JSONParseError(reason: reason, offset: index) }

    /// Only whitespace may follow the value read.
    public mutating func end() throws(JSONParseError) {
        skipWhitespace()
        guard index == bytes.count else { throw fail("trailing bytes after the JSON value") }
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// The kind of the next value, without consuming it.
    public mutating func peek() throws(JSONParseError) -> Kind {
        skipWhitespace()
        guard index < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number
        default: throw fail("unexpected character")
        }
    }

    /// Reads and checks the next value, whatever it is.
    public mutating func skip() throws(JSONParseError) {
        switch try peek() {
        case .object: try object { (reader: inout JSONReader, _: String) throws(JSONParseError) in try reader.skip() }
        case .array: try array { (reader: inout JSONReader) throws(JSONParseError) in try reader.skip() }
        case .string: try scanString { _ in }
        case .number: _ = try numberRange()
        case .bool: _ = try bool()
        case .null: try null()
        }
    }

    public mutating func bool() throws(JSONParseError) -> Bool {
        if try peek() == .bool, bytes[index] == UInt8(ascii: "t") { try literal("true"); return true }
        try literal("false")
        return false
    }

    public mutating func null() throws(JSONParseError) { try literal("null") }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        skipWhitespace()
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count,
              (0..<count).allSatisfy({ bytes[index + $0] == word.utf8Start[$0] }) else { throw fail("invalid literal") }
        index += count
    }

    /// Calls `member` for each member of the next value, which must be an object; `member` must
    /// read the member's value.
    public mutating func object(_ member: (inout JSONReader, String) throws(JSONParseError) -> Void) throws(JSONParseError) {
        guard try peek() == .object else { throw fail("expected an object") }
        depth += 1
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; depth -= 1; return }
        // Few members in practice: a list is cheaper than a set until it grows.
        var seen: [String] = []
        var seenSet: Set<String> = []
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let key = try string()
            if seen.count < 16 {
                guard !seen.contains(key) else { throw fail("duplicate member \"\(key)\"") }
                seen.append(key)
                if seen.count == 16 { seenSet = Set(seen) }
            } else {
                guard seenSet.insert(key).inserted else { throw fail("duplicate member \"\(key)\"") }
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            let before = index
            try member(&self, key)
            guard index > before else { throw fail("member \"\(key)\" has no value") }
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; depth -= 1; return }
            throw fail("expected ',' or '}'")
        }
    }

    /// Calls `element` for each element of the next value, which must be an array; `element`
    /// must read the element.
    public mutating func array(_ element: (inout JSONReader) throws(JSONParseError) -> Void) throws(JSONParseError) {
        guard try peek() == .array else { throw fail("expected an array") }
        depth += 1
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        index += 1
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; depth -= 1; return }
        while true {
            let before = index
            try element(&self)
            guard index > before else { throw fail("array element has no value") }
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; depth -= 1; return }
            throw fail("expected ',' or ']'")
        }
    }

    /// The literal text of the next value, which must be a number.
    public mutating func numberText() throws(JSONParseError) -> String {
        let range = try numberRange()
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// The next value as a finite Double; nil when it is not a number or overflows (`1e999`) (the
    /// value is still read).
    public mutating func double() throws(JSONParseError) -> Double? {
        guard try peek() == .number else { try skip(); return nil }
        return Double(try numberText()).flatMap { $0.isFinite ? $0 : nil }
    }

    /// The next value as a non-negative integer without fraction or exponent; nil otherwise (the
    /// value is still read).
    public mutating func uint64() throws(JSONParseError) -> UInt64? {
        guard try peek() == .number else { try skip(); return nil }
        let range = try numberRange()
        var value: UInt64 = 0
        for byte in bytes[range] {
            guard byte &- 0x30 < 10 else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(byte - 0x30))
            guard !overflow, !carry else { return nil }
            value = sum
        }
        return value
    }

    /// The next value as a String; nil when it is not a string (the value is still read).
    public mutating func optionalString() throws(JSONParseError) -> String? {
        guard try peek() == .string else { try skip(); return nil }
        return try string()
    }

    /// Hands `use` the validated UTF-8 bytes (escapes resolved) of the next value when it is a
    /// string, without building a String; nil when it is not (the value is still read).
    public mutating func optionalString<T>(_ use: (UnsafeBufferPointer<UInt8>) -> T) throws(JSONParseError) -> T? {
        guard try peek() == .string else { try skip(); return nil }
        var result: T?
        try scanString { result = use($0) }
        return result
    }

    /// The next value, which must be a string, as its UTF-8 bytes (escapes resolved, validated).
    public mutating func stringBytes() throws(JSONParseError) -> [UInt8] {
        var out: [UInt8] = []
        try scanString { out = Array($0) }
        return out
    }

    /// The next value, which must be a string.
    public mutating func string() throws(JSONParseError) -> String {
        var text = ""
        try scanString { text = String(decoding: $0, as: UTF8.self) }
        return text
    }

    mutating func numberRange() throws(JSONParseError) -> Range<Int> {
        guard try peek() == .number else { throw fail("expected a number") }
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        func digits(_ parser: inout JSONReader) -> Int {
            let from = parser.index
            while parser.index < parser.bytes.count, parser.bytes[parser.index] &- 0x30 < 10 { parser.index += 1 }
            return parser.index - from
        }
        guard index < bytes.count else { throw fail("invalid number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits(&self) == 0 {
            throw fail("invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw fail("invalid number") }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw fail("invalid number") }
        }
        return start..<index
    }

    /// Reads the next value, which must be a string, and hands `use` its validated UTF-8 bytes
    /// (a view into the input when there are no escapes).
    mutating func scanString(_ use: (UnsafeBufferPointer<UInt8>) -> Void) throws(JSONParseError) {
        guard try peek() == .string else { throw fail("expected a string") }
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                guard Self.isValidUTF8(slice) else { throw fail("invalid UTF-8 in a string") }
                index += 1
                use(slice)
                return
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw fail("control character in a string") }
            index += 1
        }
        var scalars: [UInt8] = []
        scalars.reserveCapacity(Swift.min(bytes.count - start, 4096))
        scalars.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                guard scalars.withUnsafeBufferPointer(Self.isValidUTF8) else { throw fail("invalid UTF-8 in a string") }
                index += 1
                scalars.withUnsafeBufferPointer(use)
                return
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw fail("unexpected end of input") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail("lone surrogate in a string")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("lone surrogate in a string") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw fail("lone surrogate in a string")
                    }
                    scalars.append(contentsOf: String(Character(Unicode.Scalar(code)!)).utf8)
                default: throw fail("invalid escape")
                }
            default:
                // A run of plain bytes is copied at once (bodies are JSON inside JSON: escapes
                // every few bytes, text between them).
                let run = index
                while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
                    guard bytes[index] >= 0x20 else { throw fail("control character in a string") }
                    index += 1
                }
                scalars.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index]))
            }
        }
        throw fail("unterminated string")
    }

    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        // ASCII (nearly all of the platform's text) needs no decoder.
        if bytes.allSatisfy({ $0 < 0x80 }) { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("invalid \\u escape") }
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x37
            case 0x61...0x66: digit = byte - 0x57
            default: throw fail("invalid \\u escape")
            }
            code = code << 4 | UInt32(digit)
            index += 1
        }
        return code
    }
}
