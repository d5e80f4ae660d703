import Certification
import GridCore
import Ledger
import Sodium

/// What a backend asks to seal: a node's certified staged entries up to `through`.
public struct SealRequest: Sendable {
    public var node: String
    public var through: UInt64
    public var keys: [PublicKey]

    public init(node: String, through: UInt64, keys: [PublicKey]) {
        self.node = node
        self.through = through
        self.keys = keys
    }
}

/// What sealing did: entries moved into blocks, leaves appended to the certification log, and
/// nodes found forked (entries that do not link, staged by different coordinator instances).
public struct SealOutcome: Sendable, Equatable {
    public var sealed = 0
    public var leaves = 0
    public var forks: [String: String] = [:]

    public init() {}
}

/// An entry staged with a different hash for a (node, seq) another writer already holds: a fork.
public struct HeldConflict: Sendable, Equatable {
    public var node: String
    public var seq: UInt64

    package init(node: String, seq: UInt64) {
        self.node = node
        self.seq = seq
    }
}

/// A signed tree head of the certification log.
public struct StoredCheckpoint: Sendable, Equatable {
    public var size: UInt64
    /// The signed note (c2sp.org/signed-note over a c2sp.org/tlog-checkpoint body).
    public var note: String
    public var time: Timestamp

    public init(size: UInt64, note: String, time: Timestamp) {
        self.size = size
        self.note = note
        self.time = time
    }
}

/// A sealed block and where its tip sits in the certification log.
public struct SealedBlock: Sendable, Equatable {
    public var block: RawBlock
    public var logIndex: UInt64

    package init(block: RawBlock, logIndex: UInt64) {
        self.block = block
        self.logIndex = logIndex
    }
}

/// Backend-independent sealing: cuts a node's certified staged entries into blocks and checks
/// every link, including the links to the blocks and staged entries around them.
package enum Sealing {
    package struct Row {
        package var entry: LedgerEntry
        package var time: Timestamp

        package init(entry: LedgerEntry, time: Timestamp) {
            self.entry = entry
            self.time = time
        }
    }

    /// `held(seq)`: the hash of `seq` if held outside `rows` (sealed, or staged uncertified);
    /// `prevHeld(seq)`: the `prev` of `seq` if held outside `rows`; `awaiting(seq)`: whether `seq`
    /// is staged but not certified yet (a short run ending there waits to be sealed whole).
    package static func blocks(node: String, rows: [Row], keys: [PublicKey], held: (UInt64) throws -> SHA256Digest?,
                       prevHeld: (UInt64) throws -> SHA256Digest?,
                       awaiting: (UInt64) throws -> Bool) rethrows -> (blocks: [RawBlock], fork: String?) {
        var runs: [[Row]] = []
        for row in rows {
            if let last = runs.last?.last, last.entry.seq + 1 == row.entry.seq {
                guard row.entry.prev == last.entry.hash else {
                    return ([], "fork: seq \(row.entry.seq) does not link to seq \(last.entry.seq)")
                }
                if (row.entry.seq - 1) % blockSize != 0 {
                    runs[runs.count - 1].append(row)
                    continue
                }
            }
            runs.append([row])
        }
        var blocks: [RawBlock] = []
        for run in runs {
            let first = run[0].entry, last = run[run.count - 1].entry
            if first.seq > 1, let before = try held(first.seq - 1), before != first.prev {
                return ([], "fork: seq \(first.seq) does not link to seq \(first.seq - 1)")
            }
            if let after = try prevHeld(last.seq + 1), after != last.hash {
                return ([], "fork: seq \(last.seq + 1) does not link to seq \(last.seq)")
            }
            // Another instance is still certifying the next entry: seal the whole block later.
            if last.seq % blockSize != 0, try awaiting(last.seq + 1) { continue }
            // The block must re-prove itself: its last signature has to verify.
            guard keys.contains(where: { $0.verify(last.signature, of: last.hash.bytes) }) else { continue }
            blocks.append(RawBlock(node: node, entries: run.map(\.entry), times: run.map(\.time)))
        }
        return (blocks, nil)
    }
}

extension SHA256Digest {
    /// Concatenated 32-byte hashes, as a log tile stores them.
    package static func split(_ bytes: [UInt8]) -> [SHA256Digest] {
        stride(from: 0, to: bytes.count - bytes.count % 32, by: 32).map { SHA256Digest(unchecked: Array(bytes[$0..<($0 + 32)])) }
    }
}
