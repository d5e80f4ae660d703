import CSodium

/// Errors from decoding keys, signatures and digests. Each names what was being decoded.
public enum SodiumError: Error, Equatable, CustomStringConvertible {
    case invalidBase64(what: String)
    case invalidHex(what: String)
    case wrongLength(what: String, expected: Int, found: Int)
    case inconsistentSecretKey
    case keyFile(path: String, problem: String)
    case secretFile(path: String, problem: String)
    /// `sodium_malloc` refused: guarded, locked memory for secrets is exhausted (mlock limit, map count).
    case secureMemoryExhausted

    public var description: String {
        switch self {
        case .invalidBase64(let what): return "\(what) is not valid standard base64"
        case .invalidHex(let what): return "\(what) is not valid lower-case hex"
        case .wrongLength(let what, let expected, let found):
            return "\(what) must be \(expected) bytes, found \(found)"
        case .inconsistentSecretKey:
            return "secret key is corrupt: its public half does not match its seed"
        case .keyFile(let path, let problem): return "key file \(path): \(problem)"
        case .secretFile(let path, let problem): return "secret file \(path): \(problem)"
        case .secureMemoryExhausted: return "no guarded memory left for a secret key (sodium_malloc failed)"
        }
    }
}

/// libsodium must be initialised once before use; a global `let` gives thread-safe once-only init.
let sodiumReady: Bool = sodium_init() >= 0

@inline(__always) func ensureSodium() {
    precondition(sodiumReady, "libsodium failed to initialise")
}

/// Standard base64 (RFC 4648 §4, with padding) via libsodium, strict: no whitespace, no URL alphabet.
public enum Base64 {
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        let length = sodium_base64_encoded_len(input.count, sodium_base64_VARIANT_ORIGINAL)
        var output = [CChar](repeating: 0, count: length)
        input.withUnsafeBufferPointer { source in
            _ = sodium_bin2base64(&output, length, source.baseAddress, source.count, sodium_base64_VARIANT_ORIGINAL)
        }
        return output.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// Appends the standard base64 of `bytes` to `output` (no String in between: the publisher
    /// writes one signature per entry).
    public static func append(_ bytes: [UInt8], to output: inout [UInt8]) {
        let length = sodium_base64_encoded_len(bytes.count, sodium_base64_VARIANT_ORIGINAL)  // with the NUL
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: length))
        output.withUnsafeMutableBufferPointer { buffer in
            bytes.withUnsafeBufferPointer { source in
                buffer.baseAddress!.advanced(by: start).withMemoryRebound(to: CChar.self, capacity: length) { target in
                    _ = sodium_bin2base64(target, length, source.baseAddress, source.count, sodium_base64_VARIANT_ORIGINAL)
                }
            }
        }
        output.removeLast()  // the NUL
    }

    /// Decodes, or throws naming `what` (e.g. "public key", "sig of seq 7").
    public static func decode(_ text: some StringProtocol, what: String = "value") throws(SodiumError) -> [UInt8] {
        try decode(utf8: Array(text.utf8), what: what)
    }

    public static func decode(utf8 input: [UInt8], what: String = "value") throws(SodiumError) -> [UInt8] {
        var utf8 = input
        if utf8.isEmpty { return [] }
        var output = [UInt8](repeating: 0, count: utf8.count * 3 / 4 + 3)
        var decoded = 0
        var end: UnsafePointer<CChar>?
        let status = utf8.withUnsafeMutableBufferPointer { input in
            input.baseAddress!.withMemoryRebound(to: CChar.self, capacity: input.count) { chars in
                let result = sodium_base642bin(&output, output.count, chars, input.count, nil, &decoded, &end,
                                               sodium_base64_VARIANT_ORIGINAL)
                // Trailing bytes after valid base64 are an error too.
                return result == 0 && end == UnsafePointer(chars + input.count) ? 0 : -1
            }
        }
        // Temporaries are wiped: this also decodes secret keys.
        defer {
            sodium_memzero(&utf8, utf8.count)
            sodium_memzero(&output, output.count)
        }
        guard status == 0 else { throw .invalidBase64(what: what) }
        return Array(output[0..<decoded])
    }
}

/// Lower-case hex, the contract's encoding for hashes.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        var output = [UInt8]()
        output.reserveCapacity(bytes.count * 2)
        append(Array(bytes), to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Concrete `[UInt8]`, not generic: called across modules per hash, where an unspecialised
    /// generic walks the bytes through witness tables.
    public static func append(_ bytes: [UInt8], to output: inout [UInt8]) {
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: bytes.count * 2))
        output.withUnsafeMutableBufferPointer { buffer in
            digits.withUnsafeBufferPointer { digits in
                var index = start
                for byte in bytes {
                    buffer[index] = digits[Int(byte >> 4)]
                    buffer[index + 1] = digits[Int(byte & 0x0F)]
                    index += 2
                }
            }
        }
    }

    /// Decodes lower-case hex only (the contract's form), so that each value has one spelling.
    public static func decode(_ text: some StringProtocol, what: String = "value") throws(SodiumError) -> [UInt8] {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { throw .invalidHex(what: what) }
        var output = [UInt8]()
        output.reserveCapacity(utf8.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else {
                throw .invalidHex(what: what)
            }
            output.append(high << 4 | low)
            index += 2
        }
        return output
    }
}
