import CSodium

/// An Ed25519 public key. Written as standard base64 of its 32 bytes, or as a UFTP CS1 string
/// (`cs1.` + base64 of the signing key, optionally followed by the 32-byte encryption key), both
/// accepted wherever a key is read.
public struct PublicKey: FixedLengthBytes, CustomStringConvertible {
    public static let length = 32
    public static let name = "Ed25519 public key"
    public let bytes: [UInt8]
    public init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// Parses `base64` or `cs1.base64` (a CS1 string of 64 bytes: the first 32 sign).
    public init(parsing text: some StringProtocol) throws(SodiumError) {
        guard text.hasPrefix("cs1.") else {
            try self.init(base64: text)
            return
        }
        let bytes = try Base64.decode(text.dropFirst(4), what: "CS1 public key")
        guard bytes.count == 32 || bytes.count == 64 else {
            throw .wrongLength(what: "CS1 public key", expected: 32, found: bytes.count)
        }
        self.init(unchecked: Array(bytes.prefix(32)))
    }

    public var cs1: String { "cs1." + base64 }
    public var description: String { base64 }

    /// Verifies a detached signature over `message`.
    public func verify(_ signature: Signature, of message: some Collection<UInt8>) -> Bool {
        let input = Array(message)
        return input.withUnsafeBytes { verify(signature.bytes, of: $0) }
    }

    /// Verifies a raw 64-byte signature over a raw message (verification loops: no allocation).
    public func verify(_ signature: UnsafeRawBufferPointer, of message: UnsafeRawBufferPointer) -> Bool {
        guard signature.count == Signature.length else { return false }
        return bytes.withUnsafeBufferPointer { key in
            crypto_sign_verify_detached(signature.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                        message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                                        UInt64(message.count), key.baseAddress!) == 0
        }
    }

    public func verify(_ signature: [UInt8], of message: UnsafeRawBufferPointer) -> Bool {
        signature.withUnsafeBytes { verify($0, of: message) }
    }

    /// Opens a combined-mode signed message (`crypto_sign_open`): the message if the signature holds.
    public func open(signedMessage: some Collection<UInt8>) -> [UInt8]? {
        let input = Array(signedMessage)
        guard input.count >= Signature.length else { return nil }
        var output = [UInt8](repeating: 0, count: input.count - Signature.length)
        var outputLength: UInt64 = 0
        let status = bytes.withUnsafeBufferPointer { key in
            crypto_sign_open(&output, &outputLength, input, UInt64(input.count), key.baseAddress!)
        }
        return status == 0 ? Array(output[0..<Int(outputLength)]) : nil
    }
}

/// An Ed25519 signing key: libsodium's 64-byte secret key (32-byte seed ‖ 32-byte public key).
///
/// The secret lives in `sodium_malloc` memory (guard pages, no swap via mlock where allowed,
/// wiped on release) and is never printed: `description` shows only the public half.
public final class SigningKey: Sendable, CustomStringConvertible {
    public static let length = 64
    public let publicKey: PublicKey
    // Written once in init, read-only afterwards (sodium_mprotect_readonly), freed in deinit.
    nonisolated(unsafe) private let secret: UnsafeMutablePointer<UInt8>

    private init(filling fill: (UnsafeMutablePointer<UInt8>) throws(SodiumError) -> Void) throws(SodiumError) {
        ensureSodium()
        guard let raw = sodium_malloc(Self.length) else { throw .secureMemoryExhausted }
        let secret = raw.bindMemory(to: UInt8.self, capacity: Self.length)
        do {
            try fill(secret)
        } catch {
            sodium_free(raw)
            throw error
        }
        // The public half must be the one the seed derives; a corrupt key file fails here.
        var derived = [UInt8](repeating: 0, count: 32)
        var scratch = [UInt8](repeating: 0, count: 64)
        crypto_sign_seed_keypair(&derived, &scratch, secret)
        sodium_memzero(&scratch, scratch.count)
        guard sodium_memcmp(derived, secret + 32, 32) == 0 else {
            sodium_free(raw)
            throw .inconsistentSecretKey
        }
        self.secret = secret
        self.publicKey = PublicKey(unchecked: derived)
        sodium_mprotect_readonly(raw)
    }

    /// A fresh key from the system's random source. Each key holds guarded memory: a process
    /// keeps a few, not tens of thousands (sodium_malloc would run out and this would trap).
    public static func generate() -> SigningKey {
        // crypto_sign_keypair cannot fail once libsodium is initialised; only sodium_malloc can.
        try! SigningKey { secret in
            var publicKey = [UInt8](repeating: 0, count: 32)
            crypto_sign_keypair(&publicKey, secret)
        }
    }

    /// Derived deterministically from a 32-byte seed (`crypto_sign_seed_keypair`).
    public convenience init(seed: [UInt8]) throws(SodiumError) {
        guard seed.count == 32 else { throw .wrongLength(what: "Ed25519 seed", expected: 32, found: seed.count) }
        try self.init { secret in
            var publicKey = [UInt8](repeating: 0, count: 32)
            crypto_sign_seed_keypair(&publicKey, secret, seed)
        }
    }

    /// From the 64 bytes of a libsodium secret key.
    public convenience init(secretKey bytes: [UInt8]) throws(SodiumError) {
        guard bytes.count == Self.length else {
            throw .wrongLength(what: "Ed25519 secret key", expected: Self.length, found: bytes.count)
        }
        try self.init { secret in secret.update(from: bytes, count: Self.length) }
    }

    /// From base64 of the 64-byte secret key, optionally with the UFTP `cs1.` prefix.
    public convenience init(base64 text: some StringProtocol) throws(SodiumError) {
        let trimmed = text.hasPrefix("cs1.") ? text.dropFirst(4) : text[...]
        var bytes = try Base64.decode(trimmed, what: "Ed25519 secret key")
        defer { sodium_memzero(&bytes, bytes.count) }
        try self.init(secretKey: bytes)
    }

    deinit {
        sodium_free(secret)
    }

    /// The base64 secret key, for writing a key file. Never log it.
    func exportBase64() -> String {
        Base64.encode(UnsafeBufferPointer(start: secret, count: Self.length))
    }

    /// Detached Ed25519 signature over `message`.
    public func sign(_ message: some Collection<UInt8>) -> Signature {
        let input = Array(message)
        return input.withUnsafeBytes { Signature(unchecked: sign($0)) }
    }

    /// Detached signature of a raw message.
    public func sign(_ message: UnsafeRawBufferPointer) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Signature.length)
        crypto_sign_detached(&signature, nil, message.baseAddress?.assumingMemoryBound(to: UInt8.self),
                             UInt64(message.count), secret)
        return signature
    }

    /// Combined mode (`crypto_sign`): the 64-byte signature followed by the message — UFTP's CS1.
    public func signCombined(_ message: some Collection<UInt8>) -> [UInt8] {
        let input = Array(message)
        var output = [UInt8](repeating: 0, count: input.count + Signature.length)
        var outputLength: UInt64 = 0
        crypto_sign(&output, &outputLength, input, UInt64(input.count), secret)
        return output
    }

    public var description: String { "SigningKey(public: \(publicKey.base64))" }
}
