import Sodium

/// Signed notes (c2sp.org/signed-note) with Ed25519 keys: the text, a blank line, then one
/// line `— <key name> <base64(key id ‖ signature)>` per signature. The key id is the first four
/// bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
public enum SignedNote {
    public struct Verifier: Sendable, Equatable {
        public let name: String
        public let keyID: UInt32
        public let key: PublicKey

        public init(name: String, key: PublicKey) throws(CertificationError) {
            try SignedNote.checkName(name)
            self.name = name
            self.key = key
            keyID = SignedNote.keyID(name: name, key: key)
        }

        /// Parses `<name>+<8 hex digits of key id>+<base64(0x01 ‖ 32-byte key)>`.
        public init(parsing text: String) throws(CertificationError) {
            // The key's base64 may itself hold "+": only the first two separate fields.
            let parts = text.split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[1].count == 8, let id = UInt32(parts[1], radix: 16),
                  let raw = try? Base64.decode(parts[2]), raw.count == 33, raw[0] == 0x01,
                  let key = try? PublicKey(bytes: raw[1...]) else {
                throw .malformed("verifier key \"\(text.prefix(80))\" is not <name>+<hex id>+<base64 Ed25519 key>")
            }
            try self.init(name: String(parts[0]), key: key)
            guard keyID == id else { throw .malformed("verifier key \(name): id \(parts[1]) does not match the key") }
        }

        /// `<name>+<hex id>+<base64(0x01 ‖ key)>`.
        public var text: String {
            name + "+" + String(format8: keyID) + "+" + Base64.encode([0x01] + key.bytes)
        }
    }

    /// The signature line for `text` by `signer` under `name` (the text must end in a newline).
    public static func sign(_ text: String, name: String, signer: SigningKey) throws(CertificationError) -> String {
        try checkText(text)
        try checkName(name)
        let signature = signer.sign(Array(text.utf8))
        let id = keyID(name: name, key: signer.publicKey)
        let tagged = [UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)] + signature.bytes
        return "— \(name) \(Base64.encode(tagged))\n"
    }

    /// The whole note: text, blank line, signature line.
    public static func note(_ text: String, name: String, signer: SigningKey) throws(CertificationError) -> String {
        text + "\n" + (try sign(text, name: name, signer: signer))
    }

    /// The note's text once a signature by one of `verifiers` checks out. Signatures by other keys
    /// are ignored; one by a known key that does not verify fails the note.
    public static func open(_ note: String, verifiers: [Verifier]) throws(CertificationError) -> String {
        // The signatures follow the last blank line.
        let bytes = Array(note.utf8)
        guard let split = (1..<max(bytes.count, 1)).reversed().first(where: { bytes[$0] == 0x0A && bytes[$0 - 1] == 0x0A }) else {
            throw .malformed("a signed note needs a blank line before its signatures")
        }
        let text = String(decoding: bytes[..<split], as: UTF8.self)
        try checkText(text)
        let block = String(decoding: bytes[(split + 1)...], as: UTF8.self)
        guard block.hasSuffix("\n") else { throw .malformed("the signature block must end with a newline") }
        var verified = false
        for line in block.dropLast().split(separator: "\n", omittingEmptySubsequences: false) {
            guard line.hasPrefix("— ") else { throw .malformed("signature line without \"— \": \(line.prefix(80))") }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, let tagged = try? Base64.decode(fields[1]), tagged.count > 4 else {
                throw .malformed("signature line is not \"— <name> <base64>\": \(line.prefix(80))")
            }
            let id = tagged.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard let verifier = verifiers.first(where: { $0.name == fields[0] && $0.keyID == id }) else { continue }
            guard tagged.count == 68, verifier.key.verify(Signature(unchecked: Array(tagged[4...])), of: Array(text.utf8)) else {
                throw .badSignature("note signature by \(verifier.name) does not verify")
            }
            verified = true
        }
        guard verified else { throw .badSignature("no signature by a known key") }
        return text
    }

    static func keyID(name: String, key: PublicKey) -> UInt32 {
        let digest = SHA256.hash(Array(name.utf8) + [0x0A, 0x01] + key.bytes)
        return digest.bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    static func checkName(_ name: String) throws(CertificationError) {
        guard !name.isEmpty, !name.contains("+"), !name.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else {
            throw .malformed("key name \"\(name.prefix(80))\" must be non-empty, without spaces or '+'")
        }
    }

    static func checkText(_ text: String) throws(CertificationError) {
        guard text.hasSuffix("\n"), !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" }) else {
            throw .malformed("note text must end with a newline and hold no control characters")
        }
    }
}

public enum CertificationError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case badSignature(String)

    public var description: String {
        switch self {
        case .malformed(let message): return message
        case .badSignature(let message): return message
        }
    }
}

extension String {
    /// Eight lower-case hex digits.
    init(format8 value: UInt32) {
        let hex = String(value, radix: 16)
        self = String(repeating: "0", count: 8 - hex.count) + hex
    }
}
