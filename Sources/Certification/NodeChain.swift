import GridCore
import Ledger
import Sodium

/// What the platform knows of one Light Node's chain, from the entries it has received: the
/// runs of consecutive, linked entries it holds (segments), how far a verified signature
/// certifies each run, and whether the node forked. Pure: storage is the caller's.
///
/// A valid signature on entry N certifies every entry linked before it, so the platform checks
/// one signature per segment when its oldest uncertified entry has waited `certifyAfterMs`,
/// not one per entry: a bounded number of Ed25519 verifications per node per minute.
public struct NodeChain: Sendable {
    public struct Segment: Sendable, Equatable {
        public fileprivate(set) var first: UInt64
        public fileprivate(set) var last: UInt64
        /// `prev` of `first`: what the entry before the segment must hash to.
        public fileprivate(set) var firstPrev: SHA256Digest
        public fileprivate(set) var lastHash: SHA256Digest
        /// Entries `first…certifiedThrough` are certified (0: none yet).
        public fileprivate(set) var certifiedThrough: UInt64
        /// The newest entry's signature, checked at the next certification.
        public fileprivate(set) var lastSignature: Signature
        /// When the oldest uncertified entry arrived.
        public fileprivate(set) var uncertifiedSince: Timestamp?

        public var isCertified: Bool { certifiedThrough == last }

        /// A segment as stored by the platform; `uncertifiedSince` restarts at the chain's restore time.
        public init(first: UInt64, last: UInt64, firstPrev: SHA256Digest, lastHash: SHA256Digest,
                    certifiedThrough: UInt64, lastSignature: Signature) {
            self.first = first
            self.last = last
            self.firstPrev = firstPrev
            self.lastHash = lastHash
            self.certifiedThrough = certifiedThrough
            self.lastSignature = lastSignature
        }

        public static func == (lhs: Segment, rhs: Segment) -> Bool {
            lhs.first == rhs.first && lhs.last == rhs.last && lhs.firstPrev == rhs.firstPrev
                && lhs.lastHash == rhs.lastHash && lhs.certifiedThrough == rhs.certifiedThrough
                && lhs.lastSignature == rhs.lastSignature
        }
    }

    /// What became of one received entry.
    public enum Verdict: Sendable, Equatable {
        case stored
        /// Already held with the same hash (at-least-once delivery, a replayed batch).
        case duplicate
        case rejected(String)
        /// Not taken: it would open a run beyond `maximumRuns` (a chain published piecemeal on
        /// purpose); the runs held are kept, and the entry is taken once the gaps around it fill.
        case tooFragmented
    }

    /// Runs of a chain held apart at once: a backlog drained in batches leaves a few; beyond this
    /// many, each would cost every later entry a search, and memory without end.
    public static let maximumRuns = 1_000

    public let node: String
    /// The node's registered keys, newest first (rotation: older entries verify under older keys).
    public var keys: [PublicKey]
    public private(set) var segments: [Segment] = []
    /// Why the node is quarantined (a fork or a signature that does not verify): nothing more is stored.
    public private(set) var quarantine: String?
    /// Entries certified on arrival because they link into an already certified run (a filled gap).
    private var certifiedByLinking: [ClosedRange<UInt64>] = []

    public init(node: String, keys: [PublicKey]) {
        self.node = node
        self.keys = keys
    }

    /// A chain restored from storage at `now`: uncertified segments wait a full period again.
    public init(node: String, keys: [PublicKey], segments: [Segment], quarantine: String?, now: Timestamp) {
        self.node = node
        self.keys = keys
        self.quarantine = quarantine
        self.segments = segments.sorted { $0.first < $1.first }.map { segment in
            var restored = segment
            if !restored.isCertified { restored.uncertifiedSince = now }
            return restored
        }
    }

    /// When the oldest entry still waiting for certification arrived (nil: all certified).
    public var uncertifiedSince: Timestamp? { segments.compactMap(\.uncertifiedSince).min() }

    /// Lifts a quarantine (an operator's decision after investigating the fork).
    public mutating func release() { quarantine = nil }

    /// Quarantines the node for a fork found outside this chain's view (by the store, or by
    /// another coordinator instance).
    public mutating func markForked(_ reason: String) {
        if quarantine == nil { quarantine = reason }
    }

    /// Takes a batch (consecutive ascending entries, as published). `storedHash` answers for a
    /// seq the platform already holds (nil if expired from raw storage). Entries after a fork
    /// in the batch are rejected too.
    public mutating func receive(_ entries: [LedgerEntry], now: Timestamp,
                                 storedHash: (UInt64) -> SHA256Digest?) -> [Verdict] {
        var hasher = EntryHasher()
        return entries.map { entry in
            if let quarantine { return .rejected("node quarantined: \(quarantine)") }
            guard entry.seq >= 1, hasher.hash(seq: entry.seq, prev: entry.prev, body: entry.body) == entry.hash else {
                return .rejected("hash of seq \(entry.seq) does not match its body and prev")
            }
            if let index = segments.firstIndex(where: { $0.first <= entry.seq && entry.seq <= $0.last }) {
                guard let held = entry.seq == segments[index].last ? segments[index].lastHash : storedHash(entry.seq) else {
                    return .duplicate  // past raw retention: nothing to compare, nothing to store
                }
                if held == entry.hash { return .duplicate }
                return fork("two different entries for seq \(entry.seq)")
            }
            let left = segments.firstIndex { $0.last + 1 == entry.seq }
            let right = segments.firstIndex { $0.first == entry.seq + 1 }
            if let left, segments[left].lastHash != entry.prev {
                return fork("seq \(entry.seq) does not link to seq \(entry.seq - 1)")
            }
            if let right, segments[right].firstPrev != entry.hash {
                return fork("seq \(entry.seq + 1) does not link to seq \(entry.seq)")
            }
            if left == nil && right == nil && segments.count >= Self.maximumRuns { return .tooFragmented }
            insert(entry, left: left, right: right, now: now)
            return .stored
        }
    }

    private mutating func fork(_ reason: String) -> Verdict {
        quarantine = "fork: \(reason)"
        return .rejected(quarantine!)
    }

    private mutating func insert(_ entry: LedgerEntry, left: Int?, right: Int?, now: Timestamp) {
        switch (left, right) {
        case (let left?, let right?):
            // The gap closes: one segment; a signature verified on the right certifies the left too.
            var merged = segments[left]
            let after = segments[right]
            merged.last = after.last
            merged.lastHash = after.lastHash
            merged.lastSignature = after.lastSignature
            if after.certifiedThrough > 0 {
                certifiedByLinking.append((merged.certifiedThrough == 0 ? merged.first : merged.certifiedThrough + 1)...entry.seq)
                merged.certifiedThrough = after.certifiedThrough
            }
            if !merged.isCertified { merged.uncertifiedSince = [merged.uncertifiedSince, after.uncertifiedSince, now].compactMap { $0 }.min() }
            segments[left] = merged
            segments.remove(at: right)
        case (let left?, nil):
            segments[left].last = entry.seq
            segments[left].lastHash = entry.hash
            segments[left].lastSignature = entry.signature
            if segments[left].uncertifiedSince == nil { segments[left].uncertifiedSince = now }
        case (nil, let right?):
            segments[right].first = entry.seq
            segments[right].firstPrev = entry.prev
            // Already certified entries to the right certify this one too (it links into them).
            if segments[right].certifiedThrough > 0 { certifiedByLinking.append(entry.seq...entry.seq) }
            if segments[right].certifiedThrough == 0 && segments[right].uncertifiedSince == nil {
                segments[right].uncertifiedSince = now
            }
        case (nil, nil):
            var segment = Segment(first: entry.seq, last: entry.seq, firstPrev: entry.prev, lastHash: entry.hash,
                                  certifiedThrough: 0, lastSignature: entry.signature)
            segment.uncertifiedSince = now
            segments.append(segment)
            segments.sort { $0.first < $1.first }
        }
    }

    /// Checks the newest signature of every segment whose oldest uncertified entry has waited at
    /// least `certifyAfterMs`; returns the seq ranges newly certified. A signature that verifies
    /// under none of the keys quarantines the node.
    public mutating func certify(now: Timestamp, certifyAfterMs: Int64) -> [ClosedRange<UInt64>] {
        guard quarantine == nil else { return [] }
        var certified: [ClosedRange<UInt64>] = []
        for index in segments.indices {
            let segment = segments[index]
            guard !segment.isCertified, let since = segment.uncertifiedSince,
                  now.millisecondsSince1970 - since.millisecondsSince1970 >= certifyAfterMs else { continue }
            guard keys.contains(where: { $0.verify(segment.lastSignature, of: segment.lastHash.bytes) }) else {
                quarantine = "signature of seq \(segment.last) does not verify under the registered key"
                return certified
            }
            let from = segment.certifiedThrough == 0 ? segment.first : segment.certifiedThrough + 1
            certified.append(from...segment.last)
            segments[index].certifiedThrough = segment.last
            segments[index].uncertifiedSince = nil
        }
        return certified
    }

    /// The entries certified since the last call because they arrived linking into a certified
    /// run (`certify` reports the others).
    public mutating func takeCertifiedByLinking() -> [ClosedRange<UInt64>] {
        defer { certifiedByLinking = [] }
        return certifiedByLinking
    }

    /// Whether `seq` is certified (held in a segment, at or below its certified mark).
    public func isCertified(_ seq: UInt64) -> Bool {
        segments.contains { $0.first <= seq && seq <= $0.certifiedThrough }
    }

    /// The seqs missing between the segments (to be filled when the backlog arrives).
    public var gaps: [ClosedRange<UInt64>] {
        zip(segments, segments.dropFirst()).map { ($0.last + 1)...($1.first - 1) }
    }
}
