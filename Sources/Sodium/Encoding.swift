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

    /// Decodes a secret (a key file's text): the input and every temporary are wiped.
    public static func decode(utf8 input: [UInt8], what: String = "value") throws(SodiumError) -> [UInt8] {
        var utf8 = input
        if utf8.isEmpty { return [] }
        var output = [UInt8](repeating: 0, count: utf8.count * 3 / 4 + 3)
        let decoded = utf8.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { decode(input, into: $0) }
        }
        defer {
            sodium_memzero(&utf8, utf8.count)
            sodium_memzero(&output, output.count)
        }
        guard let decoded else { throw .invalidBase64(what: what) }
        return Array(output[0..<decoded])
    }

    /// Decodes a public value (a signature, a key) straight from UTF-8 bytes: one allocation.
    public static func decode(utf8 input: UnsafeBufferPointer<UInt8>, what: String = "value") throws(SodiumError) -> [UInt8] {
        var valid = true
        let output = [UInt8](unsafeUninitializedCapacity: input.count * 3 / 4 + 3) { buffer, count in
            let decoded = decode(input, into: buffer)
            valid = decoded != nil
            count = decoded ?? 0
        }
        guard valid else { throw .invalidBase64(what: what) }
        return output
    }

    /// The number of bytes decoded into `output`, or nil when `input` is not strict base64
    /// (trailing bytes after valid base64 are an error too).
    private static func decode(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        guard let start = input.baseAddress, !input.isEmpty else { return 0 }
        var decoded = 0
        var end: UnsafePointer<CChar>?
        return start.withMemoryRebound(to: CChar.self, capacity: input.count) { chars in
            let result = sodium_base642bin(output.baseAddress!, output.count, chars, input.count, nil, &decoded, &end,
                                           sodium_base64_VARIANT_ORIGINAL)
            return result == 0 && end == chars + input.count ? decoded : nil
        }
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
        var text = String(text)
        return try text.withUTF8 { utf8 in Result { () throws(SodiumError) in try decode(utf8: utf8, what: what) } }.get()
    }

    /// Decodes lower-case hex straight from UTF-8 bytes: one allocation.
    public static func decode(utf8: UnsafeBufferPointer<UInt8>, what: String = "value") throws(SodiumError) -> [UInt8] {
        guard utf8.count % 2 == 0 else { throw .invalidHex(what: what) }
        @inline(__always) func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        var valid = true
        let output = [UInt8](unsafeUninitializedCapacity: utf8.count / 2) { buffer, count in
            var index = 0
            while index < utf8.count {
                guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { valid = false; break }
                buffer[index / 2] = high << 4 | low
                index += 2
            }
            count = valid ? utf8.count / 2 : 0
        }
        guard valid else { throw .invalidHex(what: what) }
        return output
    }
}
