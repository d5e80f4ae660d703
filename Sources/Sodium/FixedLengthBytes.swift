import CSodium

/// A byte string of one fixed length (digest, public key, signature): the length is checked
/// once, at construction, so code holding one never re-checks it.
public protocol FixedLengthBytes: Hashable, Sendable {
    static var length: Int { get }
    /// What the value is, for error messages ("SHA-256 digest", "public key").
    static var name: String { get }
    var bytes: [UInt8] { get }
    init(unchecked bytes: [UInt8])
}

extension FixedLengthBytes {
    public init(bytes: some Collection<UInt8>) throws(SodiumError) {
        try self.init(checking: Array(bytes))
    }

    public init(base64: some StringProtocol) throws(SodiumError) {
        try self.init(bytes: Base64.decode(base64, what: Self.name))
    }

    public init(hex: some StringProtocol) throws(SodiumError) {
        try self.init(bytes: Hex.decode(hex, what: Self.name))
    }

    /// From base64 text as UTF-8 bytes (a view into a message being parsed).
    public init(base64UTF8: UnsafeBufferPointer<UInt8>) throws(SodiumError) {
        try self.init(checking: Base64.decode(utf8: base64UTF8, what: Self.name))
    }

    /// From lower-case hex text as UTF-8 bytes (a view into a message being parsed).
    public init(hexUTF8: UnsafeBufferPointer<UInt8>) throws(SodiumError) {
        try self.init(checking: Hex.decode(utf8: hexUTF8, what: Self.name))
    }

    private init(checking array: [UInt8]) throws(SodiumError) {
        guard array.count == Self.length else {
            throw .wrongLength(what: Self.name, expected: Self.length, found: array.count)
        }
        self.init(unchecked: array)
    }

    public var base64: String { Base64.encode(bytes) }
    public var hex: String { Hex.encode(bytes) }
}

/// A SHA-256 digest.
public struct SHA256Digest: FixedLengthBytes, CustomStringConvertible {
    public static let length = 32
    public static let name = "SHA-256 digest"
    public static let zero = SHA256Digest(unchecked: [UInt8](repeating: 0, count: 32))
    public let bytes: [UInt8]
    public init(unchecked bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { hex }
}

/// An Ed25519 detached signature.
public struct Signature: FixedLengthBytes, CustomStringConvertible {
    public static let length = 64
    public static let name = "Ed25519 signature"
    public let bytes: [UInt8]
    public init(unchecked bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { base64 }
}

/// SHA-256 (libsodium's `crypto_hash_sha256`).
public enum SHA256 {
    public static func hash(_ bytes: some Collection<UInt8>) -> SHA256Digest {
        let input = Array(bytes)
        return input.withUnsafeBytes { hash($0) }
    }

    public static func hash(_ buffer: UnsafeRawBufferPointer) -> SHA256Digest {
        var output = [UInt8](repeating: 0, count: 32)
        hash(buffer, into: &output)
        return SHA256Digest(unchecked: output)
    }

    /// Hashes into a caller-owned 32-byte buffer: no allocation, for verification loops.
    public static func hash(_ buffer: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>) {
        _ = crypto_hash_sha256(output, buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(buffer.count))
    }
}

/// Whether two byte strings are equal, in a time that does not depend on where they differ
/// (libsodium's `sodium_memcmp`): for comparing a presented secret with the expected one.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    ensureSodium()
    return a.count == b.count && sodium_memcmp(a, b, a.count) == 0
}

/// Cryptographically secure random bytes (libsodium's `randombytes_buf`).
public enum RandomBytes {
    public static func make(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        return bytes
    }
}
