/// Writes one compact JSON object, keys in the order they are added.
///
/// Ledger bodies and set-points are signed as exact bytes and never re-serialized, so they are
/// produced here deterministically (no dictionary ordering, no locale) straight into a byte
/// buffer — the agent does this every 4 s per meter on small boards.
public struct JSONObjectWriter: Sendable {
    public private(set) var bytes: [UInt8]
    private var empty = true

    public init(capacity: Int = 160) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(0x7B)
    }

    public mutating func string(_ key: String, _ value: String) {
        self.key(key)
        JSONText.appendQuoted(value, to: &bytes)
    }

    public mutating func timestamp(_ key: String, _ value: Timestamp) {
        self.key(key)
        bytes.append(0x22)
        value.appendRFC3339(to: &bytes)
        bytes.append(0x22)
    }

    public mutating func integer(_ key: String, _ value: Int64) {
        self.key(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A finite number in its shortest round-trip form; NaN and infinities (not JSON) become `null`.
    public mutating func number(_ key: String, _ value: Double) {
        self.key(key)
        JSONText.appendNumber(value, to: &bytes)
    }

    public mutating func bool(_ key: String, _ value: Bool) {
        self.key(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func object(_ key: String, _ build: (inout JSONObjectWriter) -> Void) {
        self.key(key)
        var nested = JSONObjectWriter(capacity: 64)
        build(&nested)
        bytes.append(contentsOf: nested.finish())
    }

    public consuming func finish() -> [UInt8] {
        bytes.append(0x7D)
        return bytes
    }

    private mutating func key(_ key: String) {
        if !empty { bytes.append(0x2C) }
        empty = false
        JSONText.appendQuoted(key, to: &bytes)
        bytes.append(0x3A)
    }
}

public enum JSONText {
    /// Appends `text` as a JSON string literal. Non-ASCII UTF-8 passes through unchanged;
    /// quotes, backslashes and control characters are escaped.
    public static func appendQuoted(_ text: String, to bytes: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendQuoted(utf8: $0, to: &bytes) }
    }

    public static func appendQuoted(utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        bytes.append(0x22)
        var start = 0
        for index in 0..<utf8.count {
            let byte = utf8[index]
            guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
            start = index + 1
            switch byte {
            case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
            case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
            default:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            }
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<utf8.count]))
        bytes.append(0x22)
    }

    public static func appendNumber(_ value: Double, to bytes: inout [UInt8]) {
        guard value.isFinite else {
            bytes.append(contentsOf: "null".utf8)
            return
        }
        if value == value.rounded(.towardZero), abs(value) < 1e15 {
            // Integral values without the ".0" Swift's description adds: 1500 not 1500.0.
            // (-0.0 is written as 0: a reading of minus zero watts is zero watts.)
            bytes.append(contentsOf: String(Int64(value)).utf8)
        } else {
            // Swift's description is the shortest round-trip form and valid JSON ("1e-05", "1534.2").
            bytes.append(contentsOf: value.description.utf8)
        }
    }
}
