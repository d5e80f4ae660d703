import Sodium

/// Why a chain is not intact, at the first `seq` where it breaks.
public struct ChainFault: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Reason: Equatable, Sendable {
        /// Entries must run on without gap; `found` is the seq that came instead (nil: the chain ended).
        case missing(found: UInt64?)
        /// The entry's stated `prev` is not the hash of the entry before it.
        case brokenLink
        /// The stored hash is not the hash of (seq, prev, body).
        case hashMismatch
        /// The signature does not verify under the node's key.
        case badSignature
        /// A field of the wrong size or encoding.
        case malformed(String)
    }

    public let seq: UInt64
    public let reason: Reason

    public init(seq: UInt64, reason: Reason) {
        self.seq = seq
        self.reason = reason
    }

    public var description: String {
        switch reason {
        case .missing(let found?): return "seq \(seq): missing (the next entry present is seq \(found))"
        case .missing(nil): return "seq \(seq): missing (the chain ends before it)"
        case .brokenLink: return "seq \(seq): prev is not the hash of seq \(seq - 1)"
        case .hashMismatch: return "seq \(seq): hash does not match its seq, prev and body (content altered)"
        case .badSignature: return "seq \(seq): signature does not verify under the node's key"
        case .malformed(let why): return "seq \(seq): \(why)"
        }
    }
}

/// Checks a chain entry by entry, in ascending order, without I/O: every link and hash always,
/// and every signature or only the newest (the hash chain makes a valid signature on entry N
/// certify every entry ≤ N).
public struct ChainVerifier {
    public enum SignatureCheck: Sendable {
        case every
        case newestOnly
    }

    public let key: PublicKey
    public let signatureCheck: SignatureCheck
    /// The seq the next entry must have.
    public private(set) var nextSeq: UInt64
    public private(set) var entriesChecked = 0
    public private(set) var signaturesChecked = 0
    private var previousHash: [UInt8]
    private var newestSignature: [UInt8] = []
    private var hasher = EntryHasher()

    /// Starts after `anchor` (seq 0 and 64 zero hex digits for a chain checked from its first entry).
    public init(key: PublicKey, after anchorSeq: UInt64 = 0, anchorHash: SHA256Digest = .zero,
                signatures: SignatureCheck = .every) {
        self.key = key
        self.signatureCheck = signatures
        self.nextSeq = anchorSeq + 1
        self.previousHash = anchorHash.bytes
    }

    /// Checks the next entry. `prev` is the entry's own claim (export, MQTT) or nil where the
    /// store derives it from the entry before (the SQLite ledger keeps no prev column).
    public mutating func check(seq: UInt64, body: UnsafeRawBufferPointer, prev: UnsafeRawBufferPointer?,
                               hash: UnsafeRawBufferPointer, signature: UnsafeRawBufferPointer) -> ChainFault? {
        guard seq == nextSeq else {
            return ChainFault(seq: nextSeq, reason: .missing(found: seq))
        }
        guard hash.count == SHA256Digest.length else {
            return ChainFault(seq: seq, reason: .malformed("hash is \(hash.count) bytes, not 32"))
        }
        guard signature.count == Signature.length else {
            return ChainFault(seq: seq, reason: .malformed("signature is \(signature.count) bytes, not 64"))
        }
        let linked = previousHash.withUnsafeBytes { expected in
            guard let prev else { return true }
            return prev.count == 32 && prev.elementsEqual(expected)
        }
        guard linked else { return ChainFault(seq: seq, reason: .brokenLink) }
        let hashMatches = previousHash.withUnsafeBytes { previous in
            hasher.hash(seq: seq, prev: previous, body: body) { $0.elementsEqual(hash) }
        }
        guard hashMatches else { return ChainFault(seq: seq, reason: .hashMismatch) }
        switch signatureCheck {
        case .every:
            signaturesChecked += 1
            guard key.verify(signature, of: hash) else { return ChainFault(seq: seq, reason: .badSignature) }
        case .newestOnly:
            newestSignature.removeAll(keepingCapacity: true)
            newestSignature.append(contentsOf: signature)
        }
        previousHash.withUnsafeMutableBytes { $0.copyMemory(from: hash) }
        entriesChecked += 1
        nextSeq = seq + 1
        return nil
    }

    public mutating func check(_ entry: LedgerEntry) -> ChainFault? {
        entry.body.withUnsafeBytes { body in
            entry.prev.bytes.withUnsafeBytes { prev in
                entry.hash.bytes.withUnsafeBytes { hash in
                    entry.signature.bytes.withUnsafeBytes { signature in
                        check(seq: entry.seq, body: body, prev: prev, hash: hash, signature: signature)
                    }
                }
            }
        }
    }

    /// Ends the check: with `.newestOnly`, verifies the newest entry's signature.
    public mutating func finish() -> ChainFault? {
        guard signatureCheck == .newestOnly, entriesChecked > 0 else { return nil }
        signaturesChecked += 1
        let valid = previousHash.withUnsafeBytes { hash in
            newestSignature.withUnsafeBytes { key.verify($0, of: hash) }
        }
        return valid ? nil : ChainFault(seq: nextSeq - 1, reason: .badSignature)
    }
}
