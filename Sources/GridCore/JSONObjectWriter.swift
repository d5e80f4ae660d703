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

    public mutating func stringArray(_ key: String, _ values: [String]) {
        self.key(key)
        bytes.append(0x5B)
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(0x2C) }
            JSONText.appendQuoted(value, to: &bytes)
        }
        bytes.append(0x5D)
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
        // Sized exactly, then written through a pointer: ledger bodies are escaped inside every
        // published message, and their many short runs between quotes make per-run appends slow.
        var length = utf8.count + 2
        for byte in utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C {
            length += byte == 0x22 || byte == 0x5C || byte == 0x0A || byte == 0x0D || byte == 0x09 ? 1 : 5
        }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: length))
        bytes.withUnsafeMutableBufferPointer { output in
            var index = start
            output[index] = 0x22
            index += 1
            for byte in utf8 {
                if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                    output[index] = byte
                    index += 1
                    continue
                }
                output[index] = 0x5C
                switch byte {
                case 0x22, 0x5C: output[index + 1] = byte
                case 0x0A: output[index + 1] = 0x6E
                case 0x0D: output[index + 1] = 0x72
                case 0x09: output[index + 1] = 0x74
                default:
                    let hex: StaticString = "0123456789abcdef"
                    output[index + 1] = 0x75
                    output[index + 2] = 0x30
                    output[index + 3] = 0x30
                    output[index + 4] = hex.utf8Start[Int(byte >> 4)]
                    output[index + 5] = hex.utf8Start[Int(byte & 0xF)]
                    index += 4
                }
                index += 2
            }
            output[index] = 0x22
        }
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
