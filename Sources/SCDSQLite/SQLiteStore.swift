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

    private let writer: SerialConnection
    private let reader: SerialConnection
    private let staging: Mutex<Staging>
    private let lock: ExclusiveFileLock?
    public let path: String
    public let purpose: Purpose

    /// The staged entries' index, and samples of the highest row for copying long-staged
    /// entries forward.
    private struct Staging {
        var index: StagingIndex
        var highestRow: Int64
        var marks: [(time: ContinuousClock.Instant, row: Int64)] = []
    }

    /// Rows deleted at most per cut, so one pass after a long outage does not hold the writer.
    private static let cutRows = 100_000

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
    private func requireService() throws {
        guard purpose == .service else { throw SCDError("\(path) is open for administration: staged entries are not reachable") }
    }

    // MARK: Registry

    public func addNodes(_ nodes: [NodeRecord]) async throws {
        try await writer.run { db in
            try db.transaction {
                let pod = try db.prepare("INSERT OR IGNORE INTO pods(id) VALUES (?)")
                let node = try db.prepare("""
                    INSERT INTO nodes(id, pod, meter) VALUES (?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET pod = excluded.pod, meter = excluded.meter
                    """)
                let key = try db.prepare("""
                    INSERT INTO node_keys(node, key, added) SELECT ?, ?, coalesce(max(added), 0) + 1 FROM node_keys WHERE node = ?
                    ON CONFLICT(node, key) DO NOTHING
                    """)
                for record in nodes {
                    try pod.bind(1, record.pod).run()
                    try node.bind(1, record.id).bind(2, record.pod).bind(3, record.meter).run()
                    // Oldest first, so the last given becomes the newest key.
                    for publicKey in record.keys.reversed() {
                        try key.bind(1, record.id).bind(2, blob: publicKey.bytes).bind(3, record.id).run()
                    }
                }
            }
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await reader.run { db in try Self.nodes(db, id: nil, pod: nil) }
    }

    public func node(_ id: String) async throws -> NodeRecord? {
        try await reader.run { db in try Self.nodes(db, id: id, pod: nil).first }
    }

    public func nodes(pod: String) async throws -> [NodeRecord] {
        try await reader.run { db in try Self.nodes(db, id: nil, pod: pod) }
    }

    private static func nodes(_ db: Connection, id: String?, pod: String?) throws -> [NodeRecord] {
        let query = try db.prepare("""
            SELECT n.id, n.pod, n.meter, n.quarantine, k.key FROM nodes n LEFT JOIN node_keys k ON k.node = n.id
            WHERE (?1 IS NULL OR n.id = ?1) AND (?2 IS NULL OR n.pod = ?2) ORDER BY n.id, k.added DESC
            """).bind(1, id).bind(2, pod)
        var nodes: [NodeRecord] = []
        while try query.step() {
            let nodeID = query.text(0)
            if nodes.last?.id != nodeID {
                nodes.append(NodeRecord(id: nodeID, pod: query.text(1), meter: query.text(2), keys: [],
                                        quarantine: query.optionalText(3)))
            }
            if !query.isNull(4) { nodes[nodes.count - 1].keys.append(PublicKey(unchecked: query.blob(4))) }
        }
        return nodes
    }

    public func releaseQuarantine(node: String) async throws {
        try await writer.run { db in
            try db.prepare("UPDATE nodes SET quarantine = NULL WHERE id = ?").bind(1, node).run()
        }
    }

    public func upsertPOD(_ pod: PODRecord) async throws {
        try await writer.run { db in
            try db.prepare("""
                INSERT INTO pods(id, customer, connection_ean, congestion_point, aggregator, brp, fr_owner)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET customer = excluded.customer, connection_ean = excluded.connection_ean,
                  congestion_point = excluded.congestion_point, aggregator = excluded.aggregator,
                  brp = excluded.brp, fr_owner = excluded.fr_owner
                """).bind(1, pod.id).bind(2, pod.customer).bind(3, pod.connectionEAN).bind(4, pod.congestionPoint)
                .bind(5, pod.aggregator).bind(6, pod.brp).bind(7, pod.frOwner).run()
        }
    }

    public func pod(_ id: String) async throws -> PODRecord? {
        try await reader.run { db in try Self.pods(db, id: id, aggregator: nil, after: nil, limit: 1).first }
    }

    public func pods(aggregator: String?, after: String?, limit: Int) async throws -> [PODRecord] {
        try await reader.run { db in try Self.pods(db, id: nil, aggregator: aggregator, after: after, limit: limit) }
    }

    public func pods(congestionPoint: String) async throws -> [PODRecord] {
        try await reader.run { db in
            try Self.pods(db, id: nil, aggregator: nil, congestionPoint: congestionPoint, after: nil, limit: Int(Int32.max))
        }
    }

    private static func pods(_ db: Connection, id: String?, aggregator: String?, congestionPoint: String? = nil, after: String?,
                             limit: Int) throws -> [PODRecord] {
        let query = try db.prepare("""
            SELECT id, customer, connection_ean, congestion_point, aggregator, brp, fr_owner FROM pods
            WHERE (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR aggregator = ?2) AND (?5 IS NULL OR congestion_point = ?5)
              AND (?3 IS NULL OR id > ?3) ORDER BY id LIMIT ?4
            """).bind(1, id).bind(2, aggregator).bind(3, after).bind(4, Int64(limit)).bind(5, congestionPoint)
        var pods: [PODRecord] = []
        while try query.step() {
            pods.append(PODRecord(id: query.text(0), customer: query.optionalText(1), connectionEAN: query.optionalText(2),
                                  congestionPoint: query.optionalText(3), aggregator: query.optionalText(4),
                                  brp: query.optionalText(5), frOwner: query.optionalText(6)))
        }
        return pods
    }

    public func addToken(_ token: TokenRecord) async throws {
        try await writer.run { db in
            try db.prepare("INSERT INTO tokens(hash, role, participant) VALUES (?, ?, ?)")
                .bind(1, blob: token.hash.bytes).bind(2, token.role.rawValue).bind(3, token.participant).run()
        }
    }

    public func token(hash: SHA256Digest) async throws -> TokenRecord? {
        try await reader.run { db in
            let query = try db.prepare("SELECT role, participant FROM tokens WHERE hash = ?").bind(1, blob: hash.bytes)
            guard try query.step(), let role = Role(rawValue: query.text(0)) else { return nil }
            return TokenRecord(hash: hash, role: role, participant: query.optionalText(1))
        }
    }

    public func putCustomerList(day: String, aggregator: String, pods: [String]) async throws {
        try await writer.run { db in
            try db.transaction {
                try db.prepare("DELETE FROM customer_lists WHERE day = ? AND aggregator = ?").bind(1, day).bind(2, aggregator).run()
                let insert = try db.prepare("INSERT OR REPLACE INTO customer_lists(day, pod, aggregator) VALUES (?, ?, ?)")
                for pod in pods { try insert.bind(1, day).bind(2, pod).bind(3, aggregator).run() }
            }
        }
    }

    public func customerList(day: String, aggregator: String?) async throws -> [CustomerListEntry] {
        try await reader.run { db in
            let query = try db.prepare("""
                SELECT c.pod, c.aggregator, p.congestion_point FROM customer_lists c JOIN pods p ON p.id = c.pod
                WHERE c.day = ?1 AND (?2 IS NULL OR c.aggregator = ?2) ORDER BY c.pod
                """).bind(1, day).bind(2, aggregator)
            var entries: [CustomerListEntry] = []
            while try query.step() {
                entries.append(CustomerListEntry(pod: query.text(0), aggregator: query.text(1), congestionPoint: query.optionalText(2)))
            }
            return entries
        }
    }

    public func putBaseline(_ baseline: Baseline) async throws {
        try await writer.run { db in
            try db.prepare("INSERT OR REPLACE INTO baselines(pod, day, brp, energy_wh) VALUES (?, ?, ?, ?)")
                .bind(1, baseline.pod).bind(2, baseline.day).bind(3, baseline.brp).bind(4, blob: baseline.packed).run()
        }
    }

    public func baselines(pods: [String], day: String) async throws -> [Baseline] {
        try await reader.run { db in
            let query = try db.prepare("SELECT brp, energy_wh FROM baselines WHERE pod = ? AND day = ?")
            var baselines: [Baseline] = []
            for pod in pods {
                query.reset()
                if try query.bind(1, pod).bind(2, day).step() {
                    baselines.append(Baseline(pod: pod, day: day, brp: query.text(0), energyWh: Baseline.unpack(query.blob(1))))
                }
            }
            return baselines
        }
    }

    // MARK: Market

    @discardableResult
    public func putMarketDocument(_ document: MarketDocument, replace: Bool) async throws -> Bool {
        try await writer.run { db in
            try db.prepare("INSERT OR \(replace ? "REPLACE" : "IGNORE") INTO market_documents(kind, id, day, body) VALUES (?, ?, ?, ?)")
                .bind(1, document.kind.rawValue).bind(2, document.id).bind(3, document.day).bind(4, blob: document.body).run()
            return db.changes > 0
        }
    }

    public func marketDocument(kind: MarketDocument.Kind, id: String) async throws -> MarketDocument? {
        try await reader.run { db in
            let query = try db.prepare("SELECT day, body FROM market_documents WHERE kind = ? AND id = ?").bind(1, kind.rawValue).bind(2, id)
            guard try query.step() else { return nil }
            return MarketDocument(kind: kind, id: id, day: query.text(0), body: query.blob(1))
        }
    }

    public func marketDocuments(kind: MarketDocument.Kind, days: ClosedRange<String>) async throws -> [MarketDocument] {
        try await reader.run { db in
            let query = try db.prepare("SELECT id, day, body FROM market_documents WHERE kind = ? AND day >= ? AND day <= ? ORDER BY day, id")
                .bind(1, kind.rawValue).bind(2, days.lowerBound).bind(3, days.upperBound)
            var documents: [MarketDocument] = []
            while try query.step() {
                documents.append(MarketDocument(kind: kind, id: query.text(0), day: query.text(1), body: query.blob(2)))
            }
            return documents
        }
    }

    public func marketDocumentIDs(kind: MarketDocument.Kind, days: ClosedRange<String>) async throws -> [String] {
        try await reader.run { db in
            let query = try db.prepare("SELECT id FROM market_documents WHERE kind = ? AND day >= ? AND day <= ? ORDER BY day, id")
                .bind(1, kind.rawValue).bind(2, days.lowerBound).bind(3, days.upperBound)
            var ids: [String] = []
            while try query.step() { ids.append(query.text(0)) }
            return ids
        }
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
    private static func loadStagingIndex(_ db: Connection) throws -> StagingIndex {
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
    private static let blockColumns = "first_seq, count, t_first, t_last, first_prev, last_hash, last_sig, data"

    private static func block(_ row: Statement, node: String) -> RawBlock {
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
    private func cutStaging(_ db: Connection) throws {
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

    private static func logSize(_ db: Connection) throws -> UInt64 {
        let query = try db.prepare("SELECT idx, length(hashes) FROM log_tiles WHERE stratum = 0 ORDER BY idx DESC LIMIT 1")
        guard try query.step() else { return 0 }
        return UInt64(query.int64(0)) * LogTiles.width + UInt64(query.int64(1) / 32)
    }

    private static func tiles(_ db: Connection, _ ids: some Sequence<LogTiles.TileID>) throws -> [LogTiles.TileID: [SHA256Digest]] {
        let query = try db.prepare("SELECT hashes FROM log_tiles WHERE stratum = ? AND idx = ?")
        var tiles: [LogTiles.TileID: [SHA256Digest]] = [:]
        for id in ids {
            defer { query.reset() }
            query.bind(1, Int64(id.stratum)).bind(2, Int64(id.index))
            if try query.step() { tiles[id] = SHA256Digest.split(query.blob(0)) }
        }
        return tiles
    }

    private static func logAppender(_ db: Connection) throws -> LogTiles.Appender {
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

    // MARK: Certification log

    public func logSize() async throws -> UInt64 {
        try await reader.run { db in try Self.logSize(db) }
    }

    public func logTiles(_ ids: Set<LogTiles.TileID>) async throws -> [LogTiles.TileID: [SHA256Digest]] {
        try await reader.run { db in try Self.tiles(db, ids) }
    }

    public func addCheckpoint(_ checkpoint: StoredCheckpoint) async throws {
        try await writer.run { db in
            try db.prepare("INSERT INTO log_checkpoints(size, note, t) VALUES (?, ?, ?) ON CONFLICT(size) DO NOTHING")
                .bind(1, Int64(checkpoint.size)).bind(2, checkpoint.note).bind(3, checkpoint.time.millisecondsSince1970).run()
        }
    }

    public func checkpoint(size: UInt64?) async throws -> StoredCheckpoint? {
        try await reader.run { db in
            let query = try db.prepare("""
                SELECT size, note, t FROM log_checkpoints WHERE ?1 IS NULL OR size = ?1 ORDER BY size DESC LIMIT 1
                """).bind(1, size.map { Int64($0) })
            guard try query.step() else { return nil }
            return StoredCheckpoint(size: UInt64(query.int64(0)), note: query.text(1),
                                    time: Timestamp(millisecondsSince1970: query.int64(2)))
        }
    }

    public func sealedBlock(node: String, seq: UInt64) async throws -> SealedBlock? {
        guard let seqColumn = Bounds.seq(seq) else { return nil }
        return try await reader.run { db in
            let query = try db.prepare("""
                SELECT \(Self.blockColumns), log_index FROM raw_blocks WHERE node = ? AND first_seq <= ?
                ORDER BY first_seq DESC LIMIT 1
                """).bind(1, node).bind(2, seqColumn)
            guard try query.step(), !query.isNull(8) else { return nil }
            let block = Self.block(query, node: node)
            return seq <= block.lastSeq ? SealedBlock(block: block, logIndex: UInt64(query.int64(8))) : nil
        }
    }

    // MARK: UFTP message log

    public func addUFTPMessage(_ message: UFTPMessageRecord) async throws -> Int64 {
        try await writer.run { db in try Self.insert(message, into: db) }
    }

    private static func insert(_ message: UFTPMessageRecord, into db: Connection) throws -> Int64 {
        try db.prepare("""
            INSERT INTO uftp_messages(direction, type, message_id, conversation_id, sender_domain, sender_role,
              recipient_domain, t, signed, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).bind(1, message.direction.rawValue).bind(2, message.type).bind(3, message.messageID)
            .bind(4, message.conversationID).bind(5, message.senderDomain).bind(6, message.senderRole)
            .bind(7, message.recipientDomain).bind(8, message.time.millisecondsSince1970)
            .bind(9, blob: message.signed).bind(10, blob: message.payload).run()
        return db.lastInsertRowID
    }

    public func recordUFTPRevision(sender: String, type: String, scope: String, revision: Int64) async throws -> Int64? {
        try await writer.run { db in
            let taken = try db.prepare("""
                INSERT INTO uftp_revisions(sender_domain, type, scope, revision) VALUES (?, ?, ?, ?)
                ON CONFLICT (sender_domain, type, scope) DO UPDATE SET revision = excluded.revision
                  WHERE excluded.revision >= uftp_revisions.revision
                RETURNING revision
                """).bind(1, sender).bind(2, type).bind(3, scope).bind(4, revision).step()
            if taken { return nil }
            let higher = try db.prepare("SELECT revision FROM uftp_revisions WHERE sender_domain = ? AND type = ? AND scope = ?")
                .bind(1, sender).bind(2, type).bind(3, scope)
            return try higher.step() ? higher.int64(0) : nil
        }
    }

    public func uftpMessages(_ request: UFTPMessageQuery) async throws -> [UFTPMessageRecord] {
        try await reader.run { db in
            let (conditions, values) = request.conditions { "?\($0)" }
            let query = try db.prepare("""
                SELECT m.id, m.direction, m.type, m.message_id, m.conversation_id, m.sender_domain, m.sender_role,
                  m.recipient_domain, m.t, m.signed, m.payload, o.state, o.attempts, o.next_attempt, o.problem
                FROM uftp_messages m LEFT JOIN uftp_outbox o ON o.message = m.id
                WHERE \(conditions)m.id > ?\(values.count + 1) ORDER BY m.id LIMIT ?\(values.count + 2)
                """)
            for (index, value) in values.enumerated() { query.bind(Int32(index + 1), value) }
            query.bind(Int32(values.count + 1), request.after ?? 0).bind(Int32(values.count + 2), Int64(request.limit))
            var messages: [UFTPMessageRecord] = []
            while try query.step() {
                let delivery = query.optionalText(11).flatMap(UFTPDeliveryStatus.State.init(rawValue:)).map { state in
                    UFTPDeliveryStatus(state: state, attempts: Int(query.int64(12)),
                                       nextAttempt: Timestamp(millisecondsSince1970: query.int64(13)), problem: query.optionalText(14))
                }
                messages.append(UFTPMessageRecord(
                    id: query.int64(0), direction: UFTPMessageRecord.Direction(rawValue: query.text(1)) ?? .inbound,
                    type: query.text(2), messageID: query.text(3), conversationID: query.text(4),
                    senderDomain: query.text(5), senderRole: query.text(6), recipientDomain: query.text(7),
                    time: Timestamp(millisecondsSince1970: query.int64(8)), signed: query.blob(9), payload: query.blob(10),
                    delivery: delivery))
            }
            return messages
        }
    }

    public func queueUFTPMessage(_ message: UFTPMessageRecord, endpoint: String) async throws -> Int64 {
        try await writer.run { db in
            try db.transaction {
                let id = try Self.insert(message, into: db)
                try db.prepare("INSERT INTO uftp_outbox(message, endpoint, state, attempts, next_attempt) VALUES (?, ?, 'pending', 0, ?)")
                    .bind(1, id).bind(2, endpoint).bind(3, message.time.millisecondsSince1970).run()
                return id
            }
        }
    }

    public func claimUFTPDeliveries(now: Timestamp, leaseMs: Int64, limit: Int) async throws -> [UFTPDelivery] {
        try await writer.run { db in
            try db.transaction {
                let due = try db.prepare("""
                    WITH RECURSIVE \(SCDSchema.pendingEndpoints)
                    SELECT o.message, o.endpoint, o.attempts, m.signed, m.t, m.type, m.message_id
                    FROM uftp_outbox o JOIN uftp_messages m ON m.id = o.message
                    WHERE o.message IN (\(SCDSchema.firstDue("?")))
                    ORDER BY o.next_attempt LIMIT ?
                    """).bind(1, now.millisecondsSince1970).bind(2, Int64(limit))
                var claimed: [UFTPDelivery] = []
                while try due.step() {
                    claimed.append(UFTPDelivery(message: due.int64(0), endpoint: due.text(1), signed: due.blob(3), attempts: Int(due.int64(2)),
                                                queued: Timestamp(millisecondsSince1970: due.int64(4)), type: due.text(5), messageID: due.text(6)))
                }
                let lease = try db.prepare("UPDATE uftp_outbox SET next_attempt = ? WHERE message = ?")
                for delivery in claimed {
                    try lease.bind(1, now.millisecondsSince1970 + leaseMs).bind(2, delivery.message).run()
                }
                return claimed
            }
        }
    }

    public func recordUFTPDelivery(message: Int64, _ status: UFTPDeliveryStatus) async throws {
        try await writer.run { db in
            try db.prepare("UPDATE uftp_outbox SET state = ?, attempts = ?, next_attempt = ?, problem = ? WHERE message = ?")
                .bind(1, status.state.rawValue).bind(2, Int64(status.attempts)).bind(3, status.nextAttempt.millisecondsSince1970)
                .bind(4, status.problem).bind(5, message).run()
        }
    }

    // MARK: Common Reference

    public func registerCROParticipant(_ participant: CROParticipant) async throws {
        try await writer.run { db in
            try db.prepare("INSERT OR REPLACE INTO cro_participants(role, domain, name) VALUES (?, ?, ?)")
                .bind(1, participant.role.rawValue).bind(2, participant.domain).bind(3, participant.name).run()
        }
    }

    public func croParticipants() async throws -> [CROParticipant] {
        try await reader.run { db in
            let query = try db.prepare("SELECT role, domain, name FROM cro_participants ORDER BY role, domain")
            var participants: [CROParticipant] = []
            while try query.step() {
                guard let role = CROParticipant.Role(rawValue: query.text(0)) else { continue }
                participants.append(CROParticipant(role: role, domain: query.text(1), name: query.text(2)))
            }
            return participants
        }
    }

    public func portfolio(_ scope: PortfolioScope) async throws -> Portfolio {
        try await reader.run { db in try Self.readPortfolio(scope, db) }
    }

    public func changePortfolio(_ scope: PortfolioScope, _ change: @escaping @Sendable (Portfolio) throws -> Portfolio) async throws {
        try await writer.run { db in
            try db.transaction {
                let read = try Self.readPortfolio(scope, db)
                let changed = try change(read)
                let dropPoint = try db.prepare("DELETE FROM cro_congestion_points WHERE entity_address = ?")
                for point in read.congestionPoints { try dropPoint.bind(1, point.entityAddress).run() }
                let dropAssignment = try db.prepare("""
                    DELETE FROM cro_connections WHERE connection = ? AND kind = ? AND holder = ? AND first_day = ?
                    """)
                for row in read.assignments {
                    try dropAssignment.bind(1, row.connection).bind(2, row.kind.rawValue).bind(3, row.holder).bind(4, row.firstDay).run()
                }
                let addPoint = try db.prepare("""
                    INSERT OR REPLACE INTO cro_congestion_points(entity_address, dso, first_day, last_day, mutex_offers,
                      day_ahead_by, intraday_by) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
                for point in changed.congestionPoints {
                    try addPoint.bind(1, point.entityAddress).bind(2, point.dso).bind(3, point.firstDay).bind(4, point.lastDay)
                        .bind(5, Int64(point.mutexOffersSupported ? 1 : 0)).bind(6, point.dayAheadRedispatchBy)
                        .bind(7, point.intradayRedispatchBy).run()
                }
                let addAssignment = try db.prepare("""
                    INSERT OR REPLACE INTO cro_connections(connection, kind, holder, first_day, last_day) VALUES (?, ?, ?, ?, ?)
                    """)
                for row in changed.assignments {
                    try addAssignment.bind(1, row.connection).bind(2, row.kind.rawValue).bind(3, row.holder)
                        .bind(4, row.firstDay).bind(5, row.lastDay).run()
                }
            }
        }
    }

    /// The lists travel as one JSON array each (`json_each`): an aggregator's update may name
    /// more connections than SQLite takes bound parameters.
    private static func readPortfolio(_ scope: PortfolioScope, _ db: Connection) throws -> Portfolio {
        var portfolio = Portfolio()
        if !scope.congestionPoints.isEmpty || !scope.dsos.isEmpty {
            let query = try db.prepare("""
                SELECT entity_address, dso, first_day, last_day, mutex_offers, day_ahead_by, intraday_by FROM cro_congestion_points
                WHERE entity_address IN (SELECT value FROM json_each(?1)) OR dso IN (SELECT value FROM json_each(?2))
                ORDER BY entity_address
                """).bind(1, try jsonArray(scope.congestionPoints)).bind(2, try jsonArray(scope.dsos))
            while try query.step() {
                portfolio.congestionPoints.append(CongestionPointRecord(
                    entityAddress: query.text(0), dso: query.text(1), firstDay: query.text(2), lastDay: query.optionalText(3),
                    mutexOffersSupported: query.int64(4) != 0, dayAheadRedispatchBy: query.text(5),
                    intradayRedispatchBy: query.optionalText(6)))
            }
        }
        if !scope.connections.isEmpty || !scope.holders.isEmpty {
            let query = try db.prepare("""
                SELECT connection, kind, holder, first_day, last_day FROM cro_connections
                WHERE connection IN (SELECT value FROM json_each(?1))
                  OR (kind, holder) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?2))
                ORDER BY connection, kind, first_day
                """).bind(1, try jsonArray(scope.connections)).bind(2, try jsonArray(scope.holders.map { [$0.kind.rawValue, $0.holder] }))
            while try query.step() {
                guard let kind = ConnectionAssignment.Kind(rawValue: query.text(1)) else { continue }
                portfolio.assignments.append(ConnectionAssignment(
                    connection: query.text(0), kind: kind, holder: query.text(2), firstDay: query.text(3), lastDay: query.optionalText(4)))
            }
        }
        return portfolio
    }

    private static func jsonArray(_ values: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(values), as: UTF8.self)
    }

    // MARK: Queries

    public func entries(node: String, from: Timestamp, to: Timestamp) async throws -> [RawEntry] {
        try requireService()
        // The index before the snapshot: an entry sealed in between is found in its block and in
        // its row (which the cut has not reached, or the row is gone); `collect` keeps it once.
        let rows = staging.withLock { $0.index.entries(node: node).map(\.row) }
        let (blocks, staged) = try await reader.run { db in
            try db.transaction(immediate: false) {
                let blockQuery = try db.prepare("""
                    SELECT \(Self.blockColumns) FROM raw_blocks
                    WHERE node = ? AND t_first < ? AND t_last >= ? ORDER BY first_seq
                    """).bind(1, node).bind(2, to.millisecondsSince1970).bind(3, from.millisecondsSince1970)
                var blocks: [RawBlock] = []
                while try blockQuery.step() { blocks.append(Self.block(blockQuery, node: node)) }
                // By row, checking the row still is this node's entry: the index was read first.
                let stagedQuery = try db.prepare("""
                    SELECT seq, body, \(SCDSchema.certifiedCondition) FROM staged_entries AS e
                    WHERE id = ? AND node = ? AND t >= ? AND t < ?
                    """)
                var staged: [(seq: UInt64, body: [UInt8], certified: Bool)] = []
                for row in rows {
                    defer { stagedQuery.reset() }
                    stagedQuery.bind(1, row).bind(2, node).bind(3, from.millisecondsSince1970).bind(4, to.millisecondsSince1970)
                    if try stagedQuery.step() {
                        staged.append((UInt64(stagedQuery.int64(0)), stagedQuery.blob(1), stagedQuery.int64(2) != 0))
                    }
                }
                return (blocks, staged)
            }
        }
        return try RawEntry.collect(blocks: blocks, staged: staged, from: from, to: to)
    }

    public func upsertMeasures(_ measures: [QuarterMeasure]) async throws {
        guard !measures.isEmpty else { return }
        try await writer.run { db in
            try db.transaction {
                let upsert = try db.prepare("""
                    INSERT INTO measures(pod, start, energy_wh, avg_w, coverage, samples, certified) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(pod, start) DO UPDATE SET energy_wh = excluded.energy_wh, avg_w = excluded.avg_w,
                      coverage = excluded.coverage, samples = excluded.samples, certified = excluded.certified
                    """)
                for measure in measures {
                    try upsert.bind(1, measure.pod).bind(2, measure.start.millisecondsSince1970).bind(3, measure.energyWh)
                        .bind(4, measure.averageW).bind(5, measure.coverage).bind(6, Int64(measure.samples))
                        .bind(7, Int64(measure.certified ? 1 : 0)).run()
                }
            }
        }
    }

    public func measures(pods: [String], from: Timestamp, to: Timestamp) async throws -> [QuarterMeasure] {
        try await reader.run { db in
            let query = try db.prepare("""
                SELECT start, energy_wh, avg_w, coverage, samples, certified FROM measures
                WHERE pod = ? AND start >= ? AND start < ? ORDER BY start
                """)
            var measures: [QuarterMeasure] = []
            for pod in pods {
                query.reset()
                _ = query.bind(1, pod).bind(2, from.millisecondsSince1970).bind(3, to.millisecondsSince1970)
                while try query.step() {
                    measures.append(QuarterMeasure(pod: pod, start: Timestamp(millisecondsSince1970: query.int64(0)),
                                                   energyWh: query.double(1), averageW: query.double(2), coverage: query.double(3),
                                                   samples: Int(query.int64(4)), certified: query.int64(5) != 0))
                }
            }
            return measures
        }
    }

    public func rawStorageStats() async throws -> RawStorageStats {
        try await reader.run { [self] db in
            let query = try db.prepare("""
                SELECT count(*), coalesce(sum(count), 0),
                  coalesce(sum(length(data) + length(first_prev) + length(last_hash) + length(last_sig) + length(node) + 32), 0)
                FROM raw_blocks
                """)
            _ = try query.step()
            return RawStorageStats(stagedEntries: staging.withLock { $0.index.count }, blocks: Int(query.int64(0)),
                                   blockEntries: Int(query.int64(1)), blockBytes: Int(query.int64(2)))
        }
    }
}
