import Foundation
import Certification
import GridCore
import Ledger
import Sodium
import SQLite
import SCD
import Synchronization

/// The embedded SCD backend: one SQLite file in WAL mode, a writer connection (ingest, sealing,
/// measures) and a reader connection (the API), so queries never wait behind a commit. One
/// serving process at a time (a lock on `<path>.lock`): the staged entries are indexed in its
/// memory. Administration (registry, tokens) may open the file beside it.
public final class SQLiteStore: SCDStore {
    /// What the store is opened for: serving (ingest, sealing, queries) or administration
    /// (registry, PODs, tokens; the staged entries are neither indexed nor reachable).
    public enum Purpose: Sendable {
        case service, administration
    }

    let writer: SerialConnection
    let reader: SerialConnection
    let staging: Mutex<Staging>
    let lock: ExclusiveFileLock?
    public let path: String
    public let purpose: Purpose

    /// The staged entries' index, and samples of the highest row for copying long-staged
    /// entries forward.
    struct Staging {
        var index: StagingIndex
        var highestRow: Int64
        var marks: [(time: ContinuousClock.Instant, row: Int64)] = []
    }

    /// Rows deleted at most per cut, so one pass after a long outage does not hold the writer.
    static let cutRows = 100_000

    /// An entry staged longer than `stagingWindow` is copied to the end of the table, so the
    /// range cut below the oldest staged row keeps the table at about a window of arrivals.
    /// Normally an entry waits at most a block (64 × 4 s) plus certification before it is sealed.
    public let stagingWindow: Duration

    public init(path: String, purpose: Purpose = .service, stagingWindow: Duration = .seconds(600)) throws {
        self.path = path
        self.purpose = purpose
        self.stagingWindow = stagingWindow
        do {
            lock = purpose == .service ? try ExclusiveFileLock(path: path + ".lock") : nil
        } catch {
            switch error {
            case .cannotOpen(let lockPath, let reason): throw SCDError("cannot open \(lockPath): \(reason)")
            case .held: throw SCDError("\(path) is in use by another coordinator (SQLite serves one process; use PostgreSQL for several)")
            }
        }
        let writer = try Connection(path: path, mode: .readWriteCreate)
        writer.setBusyTimeout(milliseconds: 10_000)
        try writer.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
        // Each commit dirties a page per node that published (staged rows are clustered by node):
        // checkpointing every 100,000 pages (400 MiB) writes a page rewritten by several commits
        // back once, not once per commit (ingest-bench store: 39 → 32 µs a reading at 25,000
        // nodes). The WAL file keeps that size: cutting it back after each checkpoint made the
        // kernel zero and truncate hundreds of MiB of page cache each time (35.0 → 28.9 µs); only a
        // WAL grown past 1 GiB (a checkpoint held back by a long read) is cut back.
        try writer.execute("PRAGMA wal_autocheckpoint = 100000; PRAGMA journal_size_limit = 1073741824")
        try SQLiteSchema.migrate(writer)
        staging = Mutex(Staging(index: purpose == .service ? try Self.loadStagingIndex(writer) : StagingIndex(),
                                highestRow: try writer.scalarInteger("SELECT max(id) FROM staged_entries") ?? 0))
        let reader = try Connection(path: path, mode: .readOnly)
        reader.setBusyTimeout(milliseconds: 10_000)
        self.writer = SerialConnection(writer, label: "scd.sqlite.writer")
        self.reader = SerialConnection(reader, label: "scd.sqlite.reader")
    }

    /// Staged entries are known only to a store opened to serve.
    func requireService() throws {
        guard purpose == .service else { throw SCDError("\(path) is open for administration: staged entries are not reachable") }
    }

    // MARK: Ingest

    public func chainStates() async throws -> [ChainState] {
        try await writer.run { db in
            var states: [String: ChainState] = [:]
            let quarantines = try db.prepare("SELECT id, quarantine FROM nodes")
            while try quarantines.step() {
                states[quarantines.text(0)] = ChainState(node: quarantines.text(0), segments: [],
                                                         quarantine: quarantines.optionalText(1))
            }
            let query = try db.prepare("""
                SELECT node, first, last, first_prev, last_hash, last_sig, certified_through FROM chain_segments ORDER BY node, first
                """)
            while try query.step() {
                let node = query.text(0)
                let segment = NodeChain.Segment(
                    first: UInt64(query.int64(1)), last: UInt64(query.int64(2)),
                    firstPrev: SHA256Digest(unchecked: query.blob(3)), lastHash: SHA256Digest(unchecked: query.blob(4)),
                    certifiedThrough: UInt64(query.int64(6)), lastSignature: Signature(unchecked: query.blob(5)))
                states[node, default: ChainState(node: node, segments: [], quarantine: nil)].segments.append(segment)
            }
            return Array(states.values)
        }
    }

    public func stagedEntries(after: [(node: String, seq: UInt64)]) async throws -> [(node: String, entry: LedgerEntry)] {
        try requireService()
        let rows = staging.withLock { staging in
            after.flatMap { node, seq in
                seq == .max ? [] : staging.index.entries(node: node, seqs: (seq + 1)...UInt64.max).map(\.row)
            }
        }
        return try await writer.run { db in
            let query = try db.prepare("SELECT node, seq, body, prev, hash, sig FROM staged_entries WHERE id = ?")
            var found: [(node: String, entry: LedgerEntry)] = []
            // In row order: the pages are read front to back.
            for row in rows.sorted() {
                defer { query.reset() }
                guard try query.bind(1, row).step() else { continue }
                found.append((query.text(0), LedgerEntry(seq: UInt64(query.int64(1)), body: query.blob(2),
                                                         prev: SHA256Digest(unchecked: query.blob(3)), hash: SHA256Digest(unchecked: query.blob(4)),
                                                         signature: Signature(unchecked: query.blob(5)))))
            }
            found.sort { ($0.node, $0.entry.seq) < ($1.node, $1.entry.seq) }
            return found
        }
    }

    public func storedHashes(node: String, seqs: [UInt64]) async throws -> [UInt64: SHA256Digest] {
        try requireService()
        return try await writer.run { [self] db in
            var hashes: [UInt64: SHA256Digest] = [:]
            let staged = try db.prepare("SELECT hash FROM staged_entries WHERE id = ?")
            let block = try db.prepare("""
                SELECT \(Self.blockColumns) FROM raw_blocks
                WHERE node = ? AND first_seq <= ? ORDER BY first_seq DESC LIMIT 1
                """)
            for seq in seqs where hashes[seq] == nil {
                if let row = staging.withLock({ $0.index.row(node: node, seq: seq) }) {
                    defer { staged.reset() }
                    if try staged.bind(1, row).step() { hashes[seq] = SHA256Digest(unchecked: staged.blob(0)) }
                    continue
                }
                defer { block.reset() }
                block.bind(1, node).bind(2, Int64(seq))
                guard try block.step() else { continue }
                let sealed = Self.block(block, node: node)
                guard seq <= sealed.lastSeq else { continue }
                for entry in try sealed.entries() where seqs.contains(entry.seq) { hashes[entry.seq] = entry.hash }
            }
            return hashes
        }
    }

    /// The index of the staged rows: every row, less those whose entry a block already holds
    /// (sealed rows stay in the table until the range cut passes them).
    static func loadStagingIndex(_ db: Connection) throws -> StagingIndex {
        var index = StagingIndex()
        let rows = try db.prepare("SELECT id, node, seq FROM staged_entries ORDER BY id")
        while try rows.step() { index.insert(node: rows.text(1), seq: UInt64(rows.int64(2)), row: rows.int64(0)) }
        let blocks = try db.prepare("SELECT first_seq, count FROM raw_blocks WHERE node = ? AND first_seq BETWEEN ? AND ?")
        var sealed: [(node: String, seqs: ClosedRange<UInt64>)] = []
        for (node, entries) in index.nodes {
            defer { blocks.reset() }
            let first = entries[0].seq, last = entries[entries.count - 1].seq
            blocks.bind(1, node).bind(2, Int64(first - min(first, blockSize - 1))).bind(3, Int64(last))
            while try blocks.step() {
                let start = UInt64(blocks.int64(0))
                sealed.append((node, start...(start + UInt64(blocks.int64(1)) - 1)))
            }
        }
        for (node, seqs) in sealed { index.remove(node: node, seqs: seqs) }
        return index
    }

    /// The columns `block(_:node:)` reads, in its order.
    static let blockColumns = "first_seq, count, t_first, t_last, first_prev, last_hash, last_sig, data"

    static func block(_ row: Statement, node: String) -> RawBlock {
        RawBlock(node: node, firstSeq: UInt64(row.int64(0)), count: Int(row.int64(1)),
                 firstTime: Timestamp(millisecondsSince1970: row.int64(2)), lastTime: Timestamp(millisecondsSince1970: row.int64(3)),
                 firstPrev: SHA256Digest(unchecked: row.blob(4)), lastHash: SHA256Digest(unchecked: row.blob(5)),
                 lastSignature: Signature(unchecked: row.blob(6)), data: row.blob(7))
    }

    public func commit(_ commit: IngestCommit) async throws -> [HeldConflict] {
        try requireService()
        guard !commit.isEmpty else { return [] }
        return try await writer.run { [self] db in
            var added: [StagedKey: Int64] = [:]
            var discarded: [StagedKey] = []
            let conflicts = try db.transaction {
                let insert = try db.prepare("INSERT INTO staged_entries(node, seq, t, body, prev, hash, sig) VALUES (?, ?, ?, ?, ?, ?, ?)")
                let heldHash = try db.prepare("SELECT hash FROM staged_entries WHERE id = ?")
                var conflicts: [HeldConflict] = []
                for staged in commit.entries {
                    let key = StagedKey(node: staged.node, seq: staged.entry.seq)
                    if let row = added[key] ?? staging.withLock({ $0.index.row(node: key.node, seq: key.seq) }) {
                        defer { heldHash.reset() }
                        if try heldHash.bind(1, row).step(), heldHash.blob(0) != staged.entry.hash.bytes {
                            conflicts.append(HeldConflict(node: staged.node, seq: staged.entry.seq))
                        }
                        continue
                    }
                    try insert.bind(1, staged.node).bind(2, Int64(staged.entry.seq))
                        .bind(3, staged.reading.time.millisecondsSince1970).bind(4, blob: staged.entry.body)
                        .bind(5, blob: staged.entry.prev.bytes).bind(6, blob: staged.entry.hash.bytes)
                        .bind(7, blob: staged.entry.signature.bytes).run()
                    added[key] = db.lastInsertRowID
                }
                let clear = try db.prepare("DELETE FROM chain_segments WHERE node = ?")
                let segment = try db.prepare("""
                    INSERT INTO chain_segments(node, first, last, first_prev, last_hash, last_sig, certified_through)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
                for chain in commit.chains {
                    try clear.bind(1, chain.node).run()
                    for held in chain.segments {
                        try segment.bind(1, chain.node).bind(2, Int64(held.first)).bind(3, Int64(held.last))
                            .bind(4, blob: held.firstPrev.bytes).bind(5, blob: held.lastHash.bytes)
                            .bind(6, blob: held.lastSignature.bytes).bind(7, Int64(held.certifiedThrough)).run()
                    }
                }
                let quarantine = try db.prepare("UPDATE nodes SET quarantine = ? WHERE id = ?")
                let discard = try db.prepare("DELETE FROM staged_entries AS e WHERE id = ? AND NOT \(SCDSchema.certifiedCondition)")
                for (node, reason) in commit.quarantined {
                    try quarantine.bind(1, reason).bind(2, node).run()
                    var rows = staging.withLock { $0.index.entries(node: node).map { (StagedKey(node: node, seq: $0.seq), $0.row) } }
                    rows += added.filter { $0.key.node == node }.map { ($0.key, $0.value) }
                    for (key, row) in rows {
                        try discard.bind(1, row).run()
                        if db.changes > 0 { discarded.append(key) }
                    }
                }
                return conflicts
            }
            staging.withLock { staging in
                for (key, row) in added {
                    staging.index.insert(node: key.node, seq: key.seq, row: row)
                    staging.highestRow = max(staging.highestRow, row)
                }
                for key in discarded { staging.index.remove(node: key.node, seqs: key.seq...key.seq) }
            }
            return conflicts
        }
    }

    public func seal(_ requests: [SealRequest]) async throws -> SealOutcome {
        try requireService()
        guard !requests.isEmpty else { return SealOutcome() }
        return try await writer.run { [self] db in
            var sealed: [(node: String, seqs: ClosedRange<UInt64>)] = []
            let outcome = try db.transaction {
                let stagedRow = try db.prepare("""
                    SELECT seq, t, body, prev, hash, sig, \(SCDSchema.certifiedCondition) FROM staged_entries AS e WHERE id = ?
                    """)
                /// The staged entry of `node` at `seq`, and whether it is certified.
                func staged(_ node: String, _ seq: UInt64) throws -> (row: Sealing.Row, certified: Bool)? {
                    guard let row = staging.withLock({ $0.index.row(node: node, seq: seq) }) else { return nil }
                    return try fetch(row)
                }
                func fetch(_ row: Int64) throws -> (row: Sealing.Row, certified: Bool)? {
                    defer { stagedRow.reset() }
                    guard try stagedRow.bind(1, row).step() else { return nil }
                    return (Sealing.Row(
                        entry: LedgerEntry(seq: UInt64(stagedRow.int64(0)), body: stagedRow.blob(2),
                                           prev: SHA256Digest(unchecked: stagedRow.blob(3)), hash: SHA256Digest(unchecked: stagedRow.blob(4)),
                                           signature: Signature(unchecked: stagedRow.blob(5))),
                        time: Timestamp(millisecondsSince1970: stagedRow.int64(1))), stagedRow.int64(6) != 0)
                }
                let blockBefore = try db.prepare("""
                    SELECT last_hash FROM raw_blocks WHERE node = ? AND first_seq <= ? AND first_seq + count - 1 = ?
                    ORDER BY first_seq DESC LIMIT 1
                    """)
                let blockAt = try db.prepare("SELECT first_prev FROM raw_blocks WHERE node = ? AND first_seq = ?")
                let insert = try db.prepare("""
                    INSERT INTO raw_blocks(node, first_seq, count, t_first, t_last, first_prev, last_hash, last_sig, data, log_index)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                var log = try Self.logAppender(db)
                var outcome = SealOutcome()
                for request in requests {
                    let node = request.node
                    let rows = staging.withLock { $0.index.entries(node: node, seqs: 0...request.through).map(\.row) }
                    let selected = try rows.compactMap { try fetch($0) }.filter(\.certified).map(\.row)
                    guard !selected.isEmpty else { continue }
                    let (blocks, fork) = try Sealing.blocks(node: node, rows: selected, keys: request.keys, held: { seq in
                        if let staged = try staged(node, seq) { return staged.row.entry.hash }
                        defer { blockBefore.reset() }
                        blockBefore.bind(1, node).bind(2, Int64(seq)).bind(3, Int64(seq))
                        return try blockBefore.step() ? SHA256Digest(unchecked: blockBefore.blob(0)) : nil
                    }, prevHeld: { seq in
                        if let staged = try staged(node, seq) { return staged.row.entry.prev }
                        defer { blockAt.reset() }
                        blockAt.bind(1, node).bind(2, Int64(seq))
                        return try blockAt.step() ? SHA256Digest(unchecked: blockAt.blob(0)) : nil
                    }, awaiting: { seq in
                        try staged(node, seq).map { !$0.certified } ?? false
                    })
                    if let fork {
                        outcome.forks[node] = fork
                        continue
                    }
                    for block in blocks {
                        try insert.bind(1, node).bind(2, Int64(block.firstSeq)).bind(3, Int64(block.count))
                            .bind(4, block.firstTime.millisecondsSince1970).bind(5, block.lastTime.millisecondsSince1970)
                            .bind(6, blob: block.firstPrev.bytes).bind(7, blob: block.lastHash.bytes)
                            .bind(8, blob: block.lastSignature.bytes).bind(9, blob: block.data).bind(10, Int64(log.size)).run()
                        log.append(MerkleTree.leafHash(LogLeaf.data(node: node, seq: block.lastSeq, hash: block.lastHash)))
                        sealed.append((node, block.firstSeq...block.lastSeq))
                        outcome.sealed += block.count
                        outcome.leaves += 1
                    }
                }
                let tile = try db.prepare("INSERT OR REPLACE INTO log_tiles(stratum, idx, hashes) VALUES (?, ?, ?)")
                for (id, hashes) in log.writes {
                    try tile.bind(1, Int64(id.stratum)).bind(2, Int64(id.index)).bind(3, blob: hashes.flatMap(\.bytes)).run()
                }
                return outcome
            }
            staging.withLock { staging in
                for (node, seqs) in sealed { staging.index.remove(node: node, seqs: seqs) }
            }
            try cutStaging(db)
            return outcome
        }
    }

    /// Deletes the rows below the oldest staged one (sealed, their entries in blocks), at most
    /// `cutRows` a call, after copying entries staged longer than `stagingWindow` to the end.
    func cutStaging(_ db: Connection) throws {
        let now = ContinuousClock.now
        let stale = staging.withLock { staging -> [(node: String, entry: StagingIndex.Entry)] in
            if staging.marks.last.map({ now - $0.time >= stagingWindow / 10 }) ?? true {
                staging.marks.append((now, staging.highestRow))
            }
            guard let horizon = staging.marks.lastIndex(where: { now - $0.time >= stagingWindow }) else { return [] }
            let row = staging.marks[horizon].row
            staging.marks.removeFirst(horizon + 1)
            return staging.index.entries(below: row + 1)
        }
        if !stale.isEmpty {
            let moved = try db.transaction {
                let copy = try db.prepare("""
                    INSERT INTO staged_entries(node, seq, t, body, prev, hash, sig)
                    SELECT node, seq, t, body, prev, hash, sig FROM staged_entries WHERE id = ?
                    """)
                let delete = try db.prepare("DELETE FROM staged_entries WHERE id = ?")
                return try stale.map { node, entry in
                    try copy.bind(1, entry.row).run()
                    try delete.bind(1, entry.row).run()
                    return (node, entry.seq, db.lastInsertRowID)
                }
            }
            staging.withLock { staging in
                for (node, seq, row) in moved {
                    staging.index.move(node: node, seq: seq, to: row)
                    staging.highestRow = max(staging.highestRow, row)
                }
            }
        }
        let lowest = staging.withLock { $0.index.lowestRow ?? $0.highestRow + 1 }
        try db.prepare("DELETE FROM staged_entries WHERE id < min(?, (SELECT min(id) FROM staged_entries) + ?)")
            .bind(1, lowest).bind(2, Int64(Self.cutRows)).run()
    }

    static func logSize(_ db: Connection) throws -> UInt64 {
        let query = try db.prepare("SELECT idx, length(hashes) FROM log_tiles WHERE stratum = 0 ORDER BY idx DESC LIMIT 1")
        guard try query.step() else { return 0 }
        return UInt64(query.int64(0)) * LogTiles.width + UInt64(query.int64(1) / 32)
    }

    static func tiles(_ db: Connection, _ ids: some Sequence<LogTiles.TileID>) throws -> [LogTiles.TileID: [SHA256Digest]] {
        let query = try db.prepare("SELECT hashes FROM log_tiles WHERE stratum = ? AND idx = ?")
        var tiles: [LogTiles.TileID: [SHA256Digest]] = [:]
        for id in ids {
            defer { query.reset() }
            query.bind(1, Int64(id.stratum)).bind(2, Int64(id.index))
            if try query.step() { tiles[id] = SHA256Digest.split(query.blob(0)) }
        }
        return tiles
    }

    static func logAppender(_ db: Connection) throws -> LogTiles.Appender {
        let size = try logSize(db)
        return try LogTiles.Appender(size: size, tiles: tiles(db, LogTiles.Appender.partialTiles(size: size)))
    }

    public func expireRaw(before: Timestamp) async throws -> Int {
        try requireService()
        return try await writer.run { [self] db in
            var expired: [StagedKey] = []
            let count = try db.transaction {
                try db.prepare("DELETE FROM raw_blocks WHERE t_last < ?").bind(1, before.millisecondsSince1970).run()
                let blocks = db.changes
                let old = try db.prepare("SELECT id, node, seq FROM staged_entries WHERE t < ?").bind(1, before.millisecondsSince1970)
                let delete = try db.prepare("DELETE FROM staged_entries WHERE id = ?")
                while try old.step() {
                    let key = StagedKey(node: old.text(1), seq: UInt64(old.int64(2)))
                    guard staging.withLock({ $0.index.row(node: key.node, seq: key.seq) }) == old.int64(0) else { continue }
                    try delete.bind(1, old.int64(0)).run()
                    expired.append(key)
                }
                return blocks + expired.count
            }
            staging.withLock { staging in
                for key in expired { staging.index.remove(node: key.node, seqs: key.seq...key.seq) }
            }
            return count
        }
    }
}
