/// toml++ 3 (inside TOMLKit 0.6) checks with an assertion, not an error, that a table header's
/// name starts like a key: `[=]`, `[.]` or a `[` ending its line stop the whole process (SwiftPM
/// builds C++ without NDEBUG). Headers are looked at here first, outside strings, comments and
/// multi-line values, so that such a file is refused with its line instead.
enum TableHeaders {
    /// The line of the first header whose name does not start with a key character or a quote.
    static func badHeaderLine(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        var index = 0, line = 1, depth = 0, atLineStart = true
        /// Past a string opened at `index` (basic `"`, literal `'`, either one tripled for multi-line).
        func skipString() {
            let quote = bytes[index]
            let triple = index + 2 < bytes.count && bytes[index + 1] == quote && bytes[index + 2] == quote
            index += triple ? 3 : 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") { index += 2; continue }
                if byte == UInt8(ascii: "\n") {
                    guard triple else { return }  // an unterminated string: toml++ refuses it
                    line += 1
                }
                if byte == quote && (!triple || (index + 2 < bytes.count && bytes[index + 1] == quote && bytes[index + 2] == quote)) {
                    index += triple ? 3 : 1
                    return
                }
                index += 1
            }
        }
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\n"):
                line += 1
                atLineStart = true
                index += 1
                continue
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                index += 1
                continue
            case UInt8(ascii: "#"):
                while index < bytes.count && bytes[index] != UInt8(ascii: "\n") { index += 1 }
                continue
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                atLineStart = false
                skipString()
                continue
            case UInt8(ascii: "[") where atLineStart && depth == 0:
                var name = index + 1
                if name < bytes.count && bytes[name] == UInt8(ascii: "[") { name += 1 }
                while name < bytes.count && (bytes[name] == UInt8(ascii: " ") || bytes[name] == UInt8(ascii: "\t")) { name += 1 }
                guard name < bytes.count, startsKey(bytes[name]) else { return line }
                index = name
                atLineStart = false
                continue
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth = max(0, depth - 1)
            default:
                break
            }
            atLineStart = false
            index += 1
        }
        return nil
    }

    /// A bare key's characters (A–Z a–z 0–9 _ -) or a quoted key's quote.
    static func startsKey(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
    }
}
