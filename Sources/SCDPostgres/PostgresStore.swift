import Certification
import Foundation
import GridCore
import Ledger
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import SCD
import Sodium

/// The production SCD backend: PostgreSQL through postgres-nio's connection pool. Several
/// coordinator instances may share one database: inserts are idempotent on `(node, seq)`, each
/// instance keeps its own chain segments (`instance`), sealing checks every link across what all
/// instances staged, and certification-log appends are serialised by an advisory lock.
public final class PostgresStore: SCDStore {
    let client: PostgresClient
    let running: Task<Void, Never>
    let instance: String
    let logger: Logger

    /// Advisory lock keys: schema migrations, certification-log appends and Common Reference changes.
    static let migrationLock: Int64 = 0x5343_4431_0001
    static let logLock: Int64 = 0x5343_4431_0002
    static let portfolioLock: Int64 = 0x5343_4431_0003

    /// Connects to `url` (`postgres://user:password@host:port/database?sslmode=disable|prefer|require`)
    /// and applies pending migrations. `instance` names this coordinator's chain state (its MQTT client id).
    public init(url: String, instance: String, logger: Logger) async throws {
        let configuration = try Self.configuration(url)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.instance = instance
        self.logger = logger
        // Migrations lease a connection only once the client's run() has been entered (it marks
        // the client running first thing; a lease before that is logged as a misuse).
        let (entered, enteredSignal) = AsyncStream<Void>.makeStream()
        running = Task {
            enteredSignal.finish()
            await client.run()
        }
        for await _ in entered {}
        do {
            try await migrate()
        } catch {
            running.cancel()
            throw error
        }
    }

    deinit {
        running.cancel()
    }

    static func configuration(_ url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty else {
            throw SCDError("[scd] url: \"\(Self.redacted(url))\" is not postgres://user[:password]@host[:port]/database")
        }
        guard let user = components.user, !user.isEmpty else { throw SCDError("[scd] url: names no user") }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !database.isEmpty else { throw SCDError("[scd] url: names no database") }
        var tls = PostgresClient.Configuration.TLS.prefer(.makeClientConfiguration())
        for item in components.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "disable"): tls = .disable
            case ("sslmode", "prefer"): tls = .prefer(.makeClientConfiguration())
            case ("sslmode", "require"): tls = .require(.makeClientConfiguration())
            default: throw SCDError("[scd] url: unknown parameter \(item.name)=\(item.value ?? ""); only sslmode=disable|prefer|require")
            }
        }
        var configuration = PostgresClient.Configuration(host: host, port: components.port ?? 5432, username: user,
                                                         password: components.password, database: database, tls: tls)
        configuration.options.maximumConnections = 8
        return configuration
    }

    /// The URL without its password, for messages.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "postgres://…"
    }

    /// A transaction whose errors say what went wrong (postgres-nio hides the server's message
    /// from `description` and wraps a closure's error).
    func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> sending Result) async throws -> Result {
        do {
            return try await client.withTransaction(logger: logger, body)
        } catch let error as PostgresTransactionError {
            throw Self.explained(error.closureError ?? error.beginError ?? error.commitError ?? error)
        } catch {
            throw Self.explained(error)
        }
    }

    @discardableResult
    func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        do {
            return try await client.query(query, logger: logger)
        } catch {
            throw Self.explained(error)
        }
    }

    static func explained(_ error: any Error) -> any Error {
        guard let error = error as? PSQLError else { return error }
        if let message = error.serverInfo?[.message] {
            return SCDError("PostgreSQL: \(message)\(error.serverInfo?[.detail].map { " (\($0))" } ?? "")")
        }
        return SCDError("PostgreSQL: \(error.code)\(error.underlying.map { ": \($0)" } ?? "")")
    }

    // MARK: Schema

    func migrate() async throws {
        try await transaction { db in
            try await db.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
            let known = try await db.query("SELECT to_regclass('scd_migrations') IS NOT NULL, to_regclass('pods') IS NOT NULL",
                                           logger: logger).collect().first!.decode((Bool, Bool).self)
            if !known.0 {
                guard !known.1 else { throw SCDError("the PostgreSQL database holds tables the coordinator did not make") }
                try await db.query("""
                    CREATE TABLE scd_migrations (version integer PRIMARY KEY, name text NOT NULL,
                                                 applied timestamptz NOT NULL DEFAULT now())
                    """, logger: logger)
            }
            var applied = 0
            for try await version in try await db.query("SELECT coalesce(max(version), 0) FROM scd_migrations", logger: logger)
                .decode(Int.self) { applied = version }
            guard applied <= PostgresSchema.migrations.count else {
                throw SCDError("the PostgreSQL SCD has schema version \(applied); this coordinator knows up to \(PostgresSchema.migrations.count)")
            }
            for (index, migration) in PostgresSchema.migrations.enumerated() where index >= applied {
                for statement in migration.statements {
                    try await db.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await db.query("INSERT INTO scd_migrations(version, name) VALUES (\(index + 1), \(migration.name))", logger: logger)
            }
            for view in PublishedViews.all {
                for statement in view.statements(PostgresSchema.Dialect()) {
                    try await db.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
            }
        }
    }

    // MARK: Ingest

    public func chainStates() async throws -> [ChainState] {
        var states: [String: ChainState] = [:]
        for try await (node, quarantine) in try await query("SELECT id, quarantine FROM nodes", logger: logger)
            .decode((String, String?).self) {
            states[node] = ChainState(node: node, segments: [], quarantine: quarantine)
        }
        let rows = try await query("""
            SELECT node, first, last, first_prev, last_hash, last_sig, certified_through FROM chain_segments
            WHERE instance = \(instance) ORDER BY node, first
            """, logger: logger)
        for try await row in rows.decode((String, Int64, Int64, ByteBuffer, ByteBuffer, ByteBuffer, Int64).self) {
            let segment = NodeChain.Segment(first: UInt64(row.1), last: UInt64(row.2), firstPrev: SHA256Digest(unchecked: row.3.bytes),
                                            lastHash: SHA256Digest(unchecked: row.4.bytes), certifiedThrough: UInt64(row.6),
                                            lastSignature: Signature(unchecked: row.5.bytes))
            states[row.0, default: ChainState(node: row.0, segments: [], quarantine: nil)].segments.append(segment)
        }
        return Array(states.values)
    }

    public func stagedEntries(after: [(node: String, seq: UInt64)]) async throws -> [(node: String, entry: LedgerEntry)] {
        guard !after.isEmpty else { return [] }
        var found: [(node: String, entry: LedgerEntry)] = []
        for try await row in try await query("""
            SELECT e.node, e.seq, e.body, e.prev, e.hash, e.sig FROM raw_entries e
            JOIN unnest(\(after.map(\.node))::text[], \(after.map { Int64($0.seq) })::bigint[]) AS a(node, after)
              ON e.node = a.node AND e.seq > a.after
            ORDER BY e.node, e.seq
            """, logger: logger).decode((String, Int64, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer).self) {
            found.append((row.0, LedgerEntry(seq: UInt64(row.1), body: row.2.bytes, prev: SHA256Digest(unchecked: row.3.bytes),
                                             hash: SHA256Digest(unchecked: row.4.bytes), signature: Signature(unchecked: row.5.bytes))))
        }
        return found
    }

    public func storedHashes(node: String, seqs: [UInt64]) async throws -> [UInt64: SHA256Digest] {
        var hashes: [UInt64: SHA256Digest] = [:]
        let wanted = seqs.map { Int64($0) }
        for try await (seq, hash) in try await query("""
            SELECT seq, hash FROM raw_entries WHERE node = \(node) AND seq = ANY(\(wanted))
            """, logger: logger).decode((Int64, ByteBuffer).self) {
            hashes[UInt64(seq)] = SHA256Digest(unchecked: hash.bytes)
        }
        let rest = seqs.filter { hashes[$0] == nil }
        guard !rest.isEmpty else { return hashes }
        for block in try await blocks(node: node, holding: rest) {
            for entry in try block.entries() where rest.contains(entry.seq) { hashes[entry.seq] = entry.hash }
        }
        return hashes
    }

    /// The sealed blocks of `node` holding any of `seqs`.
    func blocks(node: String, holding seqs: [UInt64]) async throws -> [RawBlock] {
        let wanted = seqs.map { Int64($0) }
        let rows = try await query("""
            SELECT \(unescaped: Self.blockColumns) FROM raw_blocks b
            WHERE b.node = \(node) AND EXISTS (SELECT 1 FROM unnest(\(wanted)::bigint[]) s WHERE s BETWEEN b.first_seq AND b.first_seq + b.count - 1)
            """, logger: logger)
        var blocks: [RawBlock] = []
        for try await row in rows.decode(BlockRow.self) { blocks.append(Self.block(row, node: node)) }
        return blocks
    }

    static let blockColumns = "first_seq, count, t_first, t_last, first_prev, last_hash, last_sig, data"
    typealias BlockRow = (Int64, Int32, Int64, Int64, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer)

    static func block(_ row: BlockRow, node: String) -> RawBlock {
        RawBlock(node: node, firstSeq: UInt64(row.0), count: Int(row.1),
                 firstTime: Timestamp(millisecondsSince1970: row.2), lastTime: Timestamp(millisecondsSince1970: row.3),
                 firstPrev: SHA256Digest(unchecked: row.4.bytes), lastHash: SHA256Digest(unchecked: row.5.bytes),
                 lastSignature: Signature(unchecked: row.6.bytes), data: row.7.bytes)
    }

    public func commit(_ commit: IngestCommit) async throws -> [HeldConflict] {
        guard !commit.isEmpty else { return [] }
        let instance = instance
        let logger = logger
        return try await transaction { db in
            var conflicts: [HeldConflict] = []
            if !commit.entries.isEmpty {
                let entries = commit.entries
                // Entries already sealed into a block are not staged again (another instance sealed them).
                let inserted = try await db.query("""
                    INSERT INTO raw_entries(node, seq, t, body, prev, hash, sig)
                    SELECT u.* FROM unnest(\(entries.map(\.node))::text[], \(entries.map { Int64($0.entry.seq) })::bigint[],
                      \(entries.map(\.reading.time.millisecondsSince1970))::bigint[], \(entries.map { ByteBuffer(bytes: $0.entry.body) })::bytea[],
                      \(entries.map { ByteBuffer(bytes: $0.entry.prev.bytes) })::bytea[], \(entries.map { ByteBuffer(bytes: $0.entry.hash.bytes) })::bytea[],
                      \(entries.map { ByteBuffer(bytes: $0.entry.signature.bytes) })::bytea[]) AS u(node, seq, t, body, prev, hash, sig)
                    WHERE NOT EXISTS (SELECT 1 FROM raw_blocks b WHERE b.node = u.node AND u.seq BETWEEN b.first_seq AND b.first_seq + b.count - 1)
                    ON CONFLICT (node, seq) DO NOTHING RETURNING node, seq
                    """, logger: logger)
                var stored: Set<String> = []
                for try await (node, seq) in inserted.decode((String, Int64).self) { stored.insert("\(node) \(seq)") }
                let others = entries.filter { !stored.contains("\($0.node) \($0.entry.seq)") }
                if !others.isEmpty {
                    // Held already: the same entry (a redelivery) or a different one (a fork).
                    var held: [String: [UInt8]] = [:]
                    for try await (node, seq, hash) in try await db.query("""
                        SELECT e.node, e.seq, e.hash FROM raw_entries e
                        JOIN unnest(\(others.map(\.node))::text[], \(others.map { Int64($0.entry.seq) })::bigint[]) AS o(node, seq)
                          ON e.node = o.node AND e.seq = o.seq
                        """, logger: logger).decode((String, Int64, ByteBuffer).self) {
                        held["\(node) \(seq)"] = hash.bytes
                    }
                    for staged in others {
                        if let hash = held["\(staged.node) \(staged.entry.seq)"], hash != staged.entry.hash.bytes {
                            conflicts.append(HeldConflict(node: staged.node, seq: staged.entry.seq))
                        }
                    }
                }
            }
            if !commit.chains.isEmpty {
                try await db.query("""
                    DELETE FROM chain_segments WHERE instance = \(instance) AND node = ANY(\(commit.chains.map(\.node)))
                    """, logger: logger)
                let segments = commit.chains.flatMap { chain in chain.segments.map { (chain.node, $0) } }
                if !segments.isEmpty {
                    try await db.query("""
                        INSERT INTO chain_segments(instance, node, first, last, first_prev, last_hash, last_sig, certified_through)
                        SELECT \(instance), * FROM unnest(\(segments.map(\.0))::text[], \(segments.map { Int64($0.1.first) })::bigint[],
                          \(segments.map { Int64($0.1.last) })::bigint[], \(segments.map { ByteBuffer(bytes: $0.1.firstPrev.bytes) })::bytea[],
                          \(segments.map { ByteBuffer(bytes: $0.1.lastHash.bytes) })::bytea[],
                          \(segments.map { ByteBuffer(bytes: $0.1.lastSignature.bytes) })::bytea[],
                          \(segments.map { Int64($0.1.certifiedThrough) })::bigint[])
                        """, logger: logger)
                }
            }
            for (node, reason) in commit.quarantined {
                try await db.query("UPDATE nodes SET quarantine = \(reason) WHERE id = \(node)", logger: logger)
                try await db.query("""
                    DELETE FROM raw_entries e WHERE e.node = \(node) AND NOT \(unescaped: SCDSchema.certifiedCondition)
                    """, logger: logger)
            }
            return conflicts
        }
    }

    public func seal(_ requests: [SealRequest]) async throws -> SealOutcome {
        guard !requests.isEmpty else { return SealOutcome() }
        let logger = logger
        return try await transaction { db in
            // One appender at a time across instances; it also keeps two instances from sealing one run twice.
            try await db.query("SELECT pg_advisory_xact_lock(\(Self.logLock))", logger: logger)
            let nodes = requests.map(\.node)
            let throughs = requests.map { Int64($0.through) }
            // Every staged entry up to through + 1 (uncertified ones are the neighbours a run must link to).
            var staged: [String: [(entry: LedgerEntry, time: Timestamp, certified: Bool)]] = [:]
            for try await row in try await db.query("""
                SELECT e.node, e.seq, e.t, e.body, e.prev, e.hash, e.sig, \(unescaped: SCDSchema.certifiedCondition) FROM raw_entries e
                JOIN unnest(\(nodes)::text[], \(throughs)::bigint[]) AS r(node, through) ON e.node = r.node AND e.seq <= r.through + 1
                ORDER BY e.node, e.seq
                """, logger: logger).decode((String, Int64, Int64, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, Bool).self) {
                let entry = LedgerEntry(seq: UInt64(row.1), body: row.3.bytes, prev: SHA256Digest(unchecked: row.4.bytes),
                                        hash: SHA256Digest(unchecked: row.5.bytes), signature: Signature(unchecked: row.6.bytes))
                staged[row.0, default: []].append((entry, Timestamp(millisecondsSince1970: row.2), row.7))
            }
            let candidates = requests.filter { request in
                staged[request.node]?.contains { $0.certified && $0.entry.seq <= request.through } ?? false
            }
            guard !candidates.isEmpty else { return SealOutcome() }
            // The blocks just around the staged entries: their hashes are the links to check.
            let lows = candidates.map { Int64(staged[$0.node]!.first!.entry.seq) - 1 }
            var blockLast: [String: [UInt64: SHA256Digest]] = [:]
            var blockFirstPrev: [String: [UInt64: SHA256Digest]] = [:]
            for try await (node, first, count, firstPrev, lastHash) in try await db.query("""
                SELECT b.node, b.first_seq, b.count, b.first_prev, b.last_hash FROM raw_blocks b
                JOIN unnest(\(candidates.map(\.node))::text[], \(lows)::bigint[], \(candidates.map { Int64($0.through) + 1 })::bigint[])
                  AS r(node, low, high)
                  ON b.node = r.node AND b.first_seq <= r.high AND b.first_seq + b.count - 1 >= r.low
                """, logger: logger).decode((String, Int64, Int32, ByteBuffer, ByteBuffer).self) {
                blockLast[node, default: [:]][UInt64(first) + UInt64(count) - 1] = SHA256Digest(unchecked: lastHash.bytes)
                blockFirstPrev[node, default: [:]][UInt64(first)] = SHA256Digest(unchecked: firstPrev.bytes)
            }
            var log = try await Self.logAppender(db, logger: logger)
            var outcome = SealOutcome()
            var sealed: [(block: RawBlock, index: UInt64)] = []
            for request in candidates {
                let node = request.node
                let held = staged[node]!
                let bySeq = Dictionary(held.map { ($0.entry.seq, $0.entry) }, uniquingKeysWith: { first, _ in first })
                let uncertified = Set(held.filter { !$0.certified }.map(\.entry.seq))
                let rows = held.filter { $0.certified && $0.entry.seq <= request.through }.map { Sealing.Row(entry: $0.entry, time: $0.time) }
                let (blocks, fork) = Sealing.blocks(node: node, rows: rows, keys: request.keys,
                                                    held: { bySeq[$0]?.hash ?? blockLast[node]?[$0] },
                                                    prevHeld: { bySeq[$0]?.prev ?? blockFirstPrev[node]?[$0] },
                                                    awaiting: { uncertified.contains($0) })
                if let fork {
                    outcome.forks[node] = fork
                    continue
                }
                for block in blocks {
                    sealed.append((block, log.size))
                    log.append(MerkleTree.leafHash(LogLeaf.data(node: node, seq: block.lastSeq, hash: block.lastHash)))
                    outcome.sealed += block.count
                    outcome.leaves += 1
                }
            }
            guard !sealed.isEmpty else { return outcome }
            try await Self.write(sealed, log: log, db, logger: logger)
            return outcome
        }
    }

    /// Writes sealed blocks, drops their staged entries and writes the log tiles they changed.
    static func write(_ sealed: [(block: RawBlock, index: UInt64)], log: LogTiles.Appender, _ db: PostgresConnection,
                      logger: Logger) async throws {
        try await db.query("""
            INSERT INTO raw_blocks(node, first_seq, count, t_first, t_last, first_prev, last_hash, last_sig, data, log_index)
            SELECT * FROM unnest(\(sealed.map(\.block.node))::text[], \(sealed.map { Int64($0.block.firstSeq) })::bigint[],
              \(sealed.map { Int32($0.block.count) })::integer[], \(sealed.map(\.block.firstTime.millisecondsSince1970))::bigint[],
              \(sealed.map(\.block.lastTime.millisecondsSince1970))::bigint[], \(sealed.map { ByteBuffer(bytes: $0.block.firstPrev.bytes) })::bytea[],
              \(sealed.map { ByteBuffer(bytes: $0.block.lastHash.bytes) })::bytea[],
              \(sealed.map { ByteBuffer(bytes: $0.block.lastSignature.bytes) })::bytea[],
              \(sealed.map { ByteBuffer(bytes: $0.block.data) })::bytea[], \(sealed.map { Int64($0.index) })::bigint[])
            """, logger: logger)
        try await db.query("""
            DELETE FROM raw_entries e
            USING unnest(\(sealed.map(\.block.node))::text[], \(sealed.map { Int64($0.block.firstSeq) })::bigint[],
              \(sealed.map { Int64($0.block.lastSeq) })::bigint[]) AS d(node, low, high)
            WHERE e.node = d.node AND e.seq BETWEEN d.low AND d.high
            """, logger: logger)
        let writes = log.writes.sorted { ($0.key.stratum, $0.key.index) < ($1.key.stratum, $1.key.index) }
        try await db.query("""
            INSERT INTO log_tiles(stratum, idx, hashes)
            SELECT * FROM unnest(\(writes.map { Int32($0.key.stratum) })::integer[], \(writes.map { Int64($0.key.index) })::bigint[],
              \(writes.map { ByteBuffer(bytes: $0.value.flatMap(\.bytes)) })::bytea[])
            ON CONFLICT (stratum, idx) DO UPDATE SET hashes = excluded.hashes
            """, logger: logger)
    }

    static func logSize(_ db: PostgresConnection, logger: Logger) async throws -> UInt64 {
        for try await (index, bytes) in try await db.query("""
            SELECT idx, length(hashes) FROM log_tiles WHERE stratum = 0 ORDER BY idx DESC LIMIT 1
            """, logger: logger).decode((Int64, Int32).self) {
            return UInt64(index) * LogTiles.width + UInt64(bytes / 32)
        }
        return 0
    }

    static func tiles(_ db: PostgresConnection, _ ids: [LogTiles.TileID], logger: Logger) async throws
        -> [LogTiles.TileID: [SHA256Digest]] {
        guard !ids.isEmpty else { return [:] }
        var tiles: [LogTiles.TileID: [SHA256Digest]] = [:]
        for try await (stratum, index, hashes) in try await db.query("""
            SELECT t.stratum, t.idx, t.hashes FROM log_tiles t
            JOIN unnest(\(ids.map { Int32($0.stratum) })::integer[], \(ids.map { Int64($0.index) })::bigint[]) AS w(stratum, idx)
              ON t.stratum = w.stratum AND t.idx = w.idx
            """, logger: logger).decode((Int32, Int64, ByteBuffer).self) {
            tiles[LogTiles.TileID(stratum: Int(stratum), index: UInt64(index))] = SHA256Digest.split(hashes.bytes)
        }
        return tiles
    }

    static func logAppender(_ db: PostgresConnection, logger: Logger) async throws -> LogTiles.Appender {
        let size = try await logSize(db, logger: logger)
        return try LogTiles.Appender(size: size, tiles: try await tiles(db, LogTiles.Appender.partialTiles(size: size), logger: logger))
    }

    public func expireRaw(before: Timestamp) async throws -> Int {
        let cutoff = before.millisecondsSince1970
        let logger = logger
        return try await transaction { db in
            var removed = 0
            for try await count in try await db.query("""
                WITH blocks AS (DELETE FROM raw_blocks WHERE t_last < \(cutoff) RETURNING 1),
                     staged AS (DELETE FROM raw_entries WHERE t < \(cutoff) RETURNING 1)
                SELECT (SELECT count(*) FROM blocks) + (SELECT count(*) FROM staged)
                """, logger: logger).decode(Int64.self) { removed = Int(count) }
            return removed
        }
    }
}

extension ByteBuffer {
    var bytes: [UInt8] { Array(readableBytesView) }
}

extension PostgresSchema {
    /// The published views in PostgreSQL's words: documents as `jsonb`, values cast to their type.
    /// `CREATE OR REPLACE` keeps a DSO's grants on them; a view whose columns change needs a
    /// migration that drops it first.
    struct Dialect: ViewDialect {
        var document: String { "convert_from(d.body, 'UTF8')::jsonb" }

        func value(_ json: String, _ path: [String], _ type: PublishedViews.ValueType) -> String {
            let text = "(\(json) #>> '{\(path.joined(separator: ","))}')"
            return switch type {
            case .text: text
            case .integer: text + "::bigint"
            case .decimal: text + "::numeric"
            case .boolean: text + "::boolean"
            }
        }

        func expanding(_ table: String, _ array: [String]) -> String {
            "\(table) d CROSS JOIN LATERAL jsonb_array_elements(convert_from(d.body, 'UTF8')::jsonb #> '{\(array.joined(separator: ","))}') AS e(value)"
        }

        func create(_ name: String, as select: String) -> [String] {
            ["CREATE OR REPLACE VIEW \(name) AS \(select)"]
        }
    }
}

/// The SCD's PostgreSQL schema: ordered migrations (never edited once released), recorded in
/// `scd_migrations`.
enum PostgresSchema {
    static let migrations: [(name: String, statements: [String])] = [
        ("registry, raw storage and certification log", [
            """
            CREATE TABLE pods (id text PRIMARY KEY, customer text, connection_ean text, congestion_point text,
                               aggregator text, brp text, fr_owner text)
            """,
            "CREATE INDEX pods_aggregator ON pods (aggregator)",
            "CREATE TABLE nodes (id text PRIMARY KEY, pod text NOT NULL REFERENCES pods (id), meter text NOT NULL, quarantine text)",
            "CREATE INDEX nodes_pod ON nodes (pod)",
            """
            CREATE TABLE node_keys (node text NOT NULL REFERENCES nodes (id), key bytea NOT NULL, added integer NOT NULL,
                                    PRIMARY KEY (node, key))
            """,
            "CREATE TABLE tokens (hash bytea PRIMARY KEY, role text NOT NULL, participant text)",
            """
            CREATE TABLE chain_segments (instance text NOT NULL, node text NOT NULL, first bigint NOT NULL, last bigint NOT NULL,
                                         first_prev bytea NOT NULL, last_hash bytea NOT NULL, last_sig bytea NOT NULL,
                                         certified_through bigint NOT NULL, PRIMARY KEY (instance, node, first))
            """,
            """
            CREATE TABLE raw_entries (node text NOT NULL, seq bigint NOT NULL, t bigint NOT NULL, body bytea NOT NULL,
                                      prev bytea NOT NULL, hash bytea NOT NULL, sig bytea NOT NULL,
                                      certified boolean NOT NULL DEFAULT false, PRIMARY KEY (node, seq))
            """,
            "CREATE INDEX raw_entries_t ON raw_entries (t)",
            """
            CREATE TABLE raw_blocks (node text NOT NULL, first_seq bigint NOT NULL, count integer NOT NULL,
                                     t_first bigint NOT NULL, t_last bigint NOT NULL, first_prev bytea NOT NULL,
                                     last_hash bytea NOT NULL, last_sig bytea NOT NULL, data bytea NOT NULL,
                                     log_index bigint NOT NULL, PRIMARY KEY (node, first_seq))
            """,
            // Block data is deflated already: never spend time compressing it again.
            "ALTER TABLE raw_blocks ALTER COLUMN data SET STORAGE EXTERNAL",
            "CREATE INDEX raw_blocks_time ON raw_blocks (node, t_first)",
            "CREATE INDEX raw_blocks_expiry ON raw_blocks (t_last)",
            """
            CREATE TABLE measures (pod text NOT NULL, start bigint NOT NULL, energy_wh double precision NOT NULL,
                                   avg_w double precision NOT NULL, coverage double precision NOT NULL,
                                   samples integer NOT NULL, certified boolean NOT NULL, PRIMARY KEY (pod, start))
            """,
            "CREATE TABLE log_tiles (stratum integer NOT NULL, idx bigint NOT NULL, hashes bytea NOT NULL, PRIMARY KEY (stratum, idx))",
            "CREATE TABLE log_checkpoints (size bigint PRIMARY KEY, note text NOT NULL, t bigint NOT NULL)",
            """
            CREATE TABLE customer_lists (day text NOT NULL, pod text NOT NULL REFERENCES pods (id), aggregator text NOT NULL,
                                         PRIMARY KEY (day, pod))
            """,
            """
            CREATE TABLE baselines (pod text NOT NULL REFERENCES pods (id), day text NOT NULL, brp text NOT NULL,
                                    energy_wh bytea NOT NULL, PRIMARY KEY (pod, day))
            """,
        ]),
        // A staged entry is certified when a persisted chain segment says so (SCDSchema.certifiedCondition):
        // marking each one wrote a new row version of it.
        ("certification from the chain state", [
            "ALTER TABLE raw_entries DROP COLUMN certified",
            "CREATE INDEX chain_segments_node ON chain_segments (node, first)",
        ]),
        ("UFTP message log and outbox", [
            """
            CREATE TABLE uftp_messages (
                id bigserial PRIMARY KEY, direction text NOT NULL, type text NOT NULL, message_id text NOT NULL,
                conversation_id text NOT NULL, sender_domain text NOT NULL, sender_role text NOT NULL,
                recipient_domain text NOT NULL, t bigint NOT NULL, signed bytea NOT NULL, payload bytea NOT NULL)
            """,
            "CREATE INDEX uftp_messages_conversation ON uftp_messages (conversation_id, id)",
            "CREATE INDEX uftp_messages_sender ON uftp_messages (sender_domain, message_id, id)",
            """
            CREATE TABLE uftp_outbox (
                message bigint PRIMARY KEY REFERENCES uftp_messages (id), endpoint text NOT NULL,
                state text NOT NULL, attempts integer NOT NULL, next_attempt bigint NOT NULL, problem text)
            """,
            "CREATE INDEX uftp_outbox_due ON uftp_outbox (state, next_attempt)",
        ]),
        ("UFTP revisions", [
            """
            CREATE TABLE uftp_revisions (
                sender_domain text NOT NULL, type text NOT NULL, scope text NOT NULL, revision bigint NOT NULL,
                PRIMARY KEY (sender_domain, type, scope))
            """,
        ]),
        ("Common Reference", [
            "CREATE TABLE cro_participants (role text NOT NULL, domain text NOT NULL, name text NOT NULL, PRIMARY KEY (role, domain))",
            """
            CREATE TABLE cro_congestion_points (
                entity_address text PRIMARY KEY, dso text NOT NULL, first_day text NOT NULL, last_day text,
                mutex_offers boolean NOT NULL, day_ahead_by text NOT NULL, intraday_by text)
            """,
            "CREATE INDEX cro_congestion_points_dso ON cro_congestion_points (dso)",
            """
            CREATE TABLE cro_connections (
                connection text NOT NULL, kind text NOT NULL, holder text NOT NULL, first_day text NOT NULL, last_day text,
                PRIMARY KEY (connection, kind, holder, first_day))
            """,
            "CREATE INDEX cro_connections_holder ON cro_connections (kind, holder)",
        ]),
        ("market", [
            """
            CREATE TABLE market_documents (kind text NOT NULL, id text NOT NULL, day text NOT NULL, body bytea NOT NULL,
                PRIMARY KEY (kind, id))
            """,
            "CREATE INDEX market_documents_day ON market_documents (kind, day, id)",
        ]),
        ("PODs by congestion point", ["CREATE INDEX pods_congestion_point ON pods (congestion_point, id)"]),
        // The sender claims each endpoint's first due message: read from this index alone.
        ("UFTP outbox by endpoint", ["CREATE INDEX uftp_outbox_endpoint ON uftp_outbox (state, endpoint, message, next_attempt)"]),
    ]
}
