import GridCore
import Sodium

/// One entry of a Light Node's chain (ledger contract v1, docs/ledger-format.md).
public struct LedgerEntry: Sendable, Equatable {
    public let seq: UInt64
    /// Exact UTF-8 bytes of a JSON object; stored and sent verbatim, never re-serialized.
    public let body: [UInt8]
    public let prev: SHA256Digest
    public let hash: SHA256Digest
    public let signature: Signature

    public init(seq: UInt64, body: [UInt8], prev: SHA256Digest, hash: SHA256Digest, signature: Signature) {
        self.seq = seq
        self.body = body
        self.prev = prev
        self.hash = hash
        self.signature = signature
    }

    /// Hash and signature of a new entry after `prev`.
    public static func make(seq: UInt64, body: [UInt8], prev: SHA256Digest, signer: SigningKey) -> LedgerEntry {
        var hasher = EntryHasher()
        let hash = hasher.hash(seq: seq, prev: prev, body: body)
        return LedgerEntry(seq: seq, body: body, prev: prev, hash: hash, signature: signer.sign(hash.bytes))
    }

    /// The body as text (it is UTF-8 JSON by construction).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Computes `SHA-256("LN-LEDGER-1" ‖ 0x00 ‖ seq as u64 big-endian ‖ prev (32 raw bytes) ‖ body)`.
/// Keeps one scratch buffer so that hashing a chain allocates nothing per entry.
public struct EntryHasher {
    static let domain: [UInt8] = Array("LN-LEDGER-1".utf8) + [0]
    static let headerLength = domain.count + 8 + 32
    private var scratch: [UInt8]
    private var output = [UInt8](repeating: 0, count: 32)

    public init() {
        scratch = Self.domain + [UInt8](repeating: 0, count: 40)
        scratch.reserveCapacity(Self.headerLength + 512)
    }

    public mutating func hash(seq: UInt64, prev: SHA256Digest, body: [UInt8]) -> SHA256Digest {
        prev.bytes.withUnsafeBytes { prevBuffer in
            body.withUnsafeBytes { bodyBuffer in
                hash(seq: seq, prev: prevBuffer, body: bodyBuffer)
            }
        }
        return SHA256Digest(unchecked: output)
    }

    /// Hashes into the internal 32-byte output and lends it to `use` (no allocation).
    @discardableResult
    public mutating func hash<R>(seq: UInt64, prev: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer,
                                 _ use: (UnsafeRawBufferPointer) -> R = { _ in () }) -> R {
        precondition(prev.count == 32, "prev must be 32 bytes")
        scratch.removeSubrange(Self.headerLength...)
        scratch.withUnsafeMutableBytes { header in
            header.storeBytes(of: seq.bigEndian, toByteOffset: Self.domain.count, as: UInt64.self)
            UnsafeMutableRawBufferPointer(rebasing: header[(Self.domain.count + 8)...]).copyMemory(from: prev)
        }
        scratch.append(contentsOf: body)
        scratch.withUnsafeBytes { message in
            output.withUnsafeMutableBufferPointer { SHA256.hash(message, into: $0.baseAddress!) }
        }
        return output.withUnsafeBytes(use)
    }
}
