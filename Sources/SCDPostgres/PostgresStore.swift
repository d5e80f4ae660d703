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
    private let client: PostgresClient
    private let running: Task<Void, Never>
    private let instance: String
    private let logger: Logger

    /// Advisory lock keys: schema migrations, certification-log appends and Common Reference changes.
    private static let migrationLock: Int64 = 0x5343_4431_0001
    private static let logLock: Int64 = 0x5343_4431_0002
    private static let portfolioLock: Int64 = 0x5343_4431_0003

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
    private func transaction<Result: Sendable>(_ body: (PostgresConnection) async throws -> sending Result) async throws -> Result {
        do {
            return try await client.withTransaction(logger: logger, body)
        } catch let error as PostgresTransactionError {
            throw Self.explained(error.closureError ?? error.beginError ?? error.commitError ?? error)
        } catch {
            throw Self.explained(error)
        }
    }

    @discardableResult
    private func query(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
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

    private func migrate() async throws {
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
        }
    }

    // MARK: Registry

    public func addNodes(_ nodes: [NodeRecord]) async throws {
        guard !nodes.isEmpty else { return }
        try await transaction { db in
            try await db.query("""
                INSERT INTO pods(id) SELECT DISTINCT p FROM unnest(\(nodes.map(\.pod))::text[]) AS p ON CONFLICT DO NOTHING
                """, logger: self.logger)
            try await db.query("""
                INSERT INTO nodes(id, pod, meter)
                SELECT * FROM unnest(\(nodes.map(\.id))::text[], \(nodes.map(\.pod))::text[], \(nodes.map(\.meter))::text[])
                ON CONFLICT (id) DO UPDATE SET pod = excluded.pod, meter = excluded.meter
                """, logger: self.logger)
            // Oldest first, so the last given becomes the newest key; `added` orders a node's keys.
            let keys = nodes.flatMap { node in node.keys.reversed().enumerated().map { (node.id, $0.element, Int32($0.offset)) } }
            try await db.query("""
                INSERT INTO node_keys(node, key, added)
                SELECT k.node, k.key, coalesce((SELECT max(added) FROM node_keys o WHERE o.node = k.node), 0) + 1 + k.position
                FROM unnest(\(keys.map(\.0))::text[], \(keys.map { ByteBuffer(bytes: $0.1.bytes) })::bytea[],
                  \(keys.map(\.2))::integer[]) AS k(node, key, position)
                ON CONFLICT (node, key) DO NOTHING
                """, logger: self.logger)
        }
    }

    public func nodes() async throws -> [NodeRecord] { try await nodes(id: nil, pod: nil) }

    public func node(_ id: String) async throws -> NodeRecord? { try await nodes(id: id, pod: nil).first }

    public func nodes(pod: String) async throws -> [NodeRecord] { try await nodes(id: nil, pod: pod) }

    private func nodes(id: String?, pod: String?) async throws -> [NodeRecord] {
        let rows = try await query("""
            SELECT n.id, n.pod, n.meter, n.quarantine, k.key FROM nodes n LEFT JOIN node_keys k ON k.node = n.id
            WHERE (\(id)::text IS NULL OR n.id = \(id)) AND (\(pod)::text IS NULL OR n.pod = \(pod)) ORDER BY n.id, k.added DESC
            """, logger: logger)
        var nodes: [NodeRecord] = []
        for try await (nodeID, pod, meter, quarantine, key) in rows.decode((String, String, String, String?, ByteBuffer?).self) {
            if nodes.last?.id != nodeID {
                nodes.append(NodeRecord(id: nodeID, pod: pod, meter: meter, keys: [], quarantine: quarantine))
            }
            if let key { nodes[nodes.count - 1].keys.append(PublicKey(unchecked: Array(key.readableBytesView))) }
        }
        return nodes
    }

    public func releaseQuarantine(node: String) async throws {
        try await query("UPDATE nodes SET quarantine = NULL WHERE id = \(node)", logger: logger)
    }

    public func upsertPOD(_ pod: PODRecord) async throws {
        try await query("""
            INSERT INTO pods(id, customer, connection_ean, congestion_point, aggregator, brp, fr_owner)
            VALUES (\(pod.id), \(pod.customer), \(pod.connectionEAN), \(pod.congestionPoint), \(pod.aggregator), \(pod.brp), \(pod.frOwner))
            ON CONFLICT (id) DO UPDATE SET customer = excluded.customer, connection_ean = excluded.connection_ean,
              congestion_point = excluded.congestion_point, aggregator = excluded.aggregator,
              brp = excluded.brp, fr_owner = excluded.fr_owner
            """, logger: logger)
    }

    public func pod(_ id: String) async throws -> PODRecord? { try await pods(id: id, aggregator: nil, after: nil, limit: 1).first }

    public func pods(aggregator: String?, after: String?, limit: Int) async throws -> [PODRecord] {
        try await pods(id: nil, aggregator: aggregator, after: after, limit: limit)
    }

    public func pods(congestionPoint: String) async throws -> [PODRecord] {
        try await pods(id: nil, aggregator: nil, congestionPoint: congestionPoint, after: nil, limit: Int(Int32.max))
    }

    private func pods(id: String?, aggregator: String?, congestionPoint: String? = nil, after: String?, limit: Int) async throws -> [PODRecord] {
        let rows = try await query("""
            SELECT id, customer, connection_ean, congestion_point, aggregator, brp, fr_owner FROM pods
            WHERE (\(id)::text IS NULL OR id = \(id)) AND (\(aggregator)::text IS NULL OR aggregator = \(aggregator))
              AND (\(congestionPoint)::text IS NULL OR congestion_point = \(congestionPoint))
              AND (\(after)::text IS NULL OR id > \(after)) ORDER BY id LIMIT \(Int64(limit))
            """, logger: logger)
        var pods: [PODRecord] = []
        for try await row in rows.decode((String, String?, String?, String?, String?, String?, String?).self) {
            pods.append(PODRecord(id: row.0, customer: row.1, connectionEAN: row.2, congestionPoint: row.3,
                                  aggregator: row.4, brp: row.5, frOwner: row.6))
        }
        return pods
    }

    public func addToken(_ token: TokenRecord) async throws {
        try await query("""
            INSERT INTO tokens(hash, role, participant) VALUES (\(ByteBuffer(bytes: token.hash.bytes)), \(token.role.rawValue), \(token.participant))
            """, logger: logger)
    }

    public func token(hash: SHA256Digest) async throws -> TokenRecord? {
        let rows = try await query("SELECT role, participant FROM tokens WHERE hash = \(ByteBuffer(bytes: hash.bytes))",
                                          logger: logger)
        for try await (role, participant) in rows.decode((String, String?).self) {
            guard let role = Role(rawValue: role) else { return nil }
            return TokenRecord(hash: hash, role: role, participant: participant)
        }
        return nil
    }

    public func putCustomerList(day: String, aggregator: String, pods: [String]) async throws {
        try await transaction { db in
            try await db.query("DELETE FROM customer_lists WHERE day = \(day) AND aggregator = \(aggregator)", logger: self.logger)
            try await db.query("""
                INSERT INTO customer_lists(day, pod, aggregator) SELECT \(day), p, \(aggregator) FROM unnest(\(pods)::text[]) AS p
                ON CONFLICT (day, pod) DO UPDATE SET aggregator = excluded.aggregator
                """, logger: self.logger)
        }
    }

    public func customerList(day: String, aggregator: String?) async throws -> [CustomerListEntry] {
        var entries: [CustomerListEntry] = []
        for try await (pod, owner, point) in try await query("""
            SELECT c.pod, c.aggregator, p.congestion_point FROM customer_lists c JOIN pods p ON p.id = c.pod
            WHERE c.day = \(day) AND (\(aggregator)::text IS NULL OR c.aggregator = \(aggregator)) ORDER BY c.pod
            """, logger: logger).decode((String, String, String?).self) {
            entries.append(CustomerListEntry(pod: pod, aggregator: owner, congestionPoint: point))
        }
        return entries
    }

    public func putBaseline(_ baseline: Baseline) async throws {
        try await query("""
            INSERT INTO baselines(pod, day, brp, energy_wh) VALUES (\(baseline.pod), \(baseline.day), \(baseline.brp),
              \(ByteBuffer(bytes: baseline.packed)))
            ON CONFLICT (pod, day) DO UPDATE SET brp = excluded.brp, energy_wh = excluded.energy_wh
            """, logger: logger)
    }

    public func baselines(pods: [String], day: String) async throws -> [Baseline] {
        var baselines: [Baseline] = []
        for try await (pod, brp, values) in try await query("""
            SELECT pod, brp, energy_wh FROM baselines WHERE pod = ANY(\(pods)) AND day = \(day)
            """, logger: logger).decode((String, String, ByteBuffer).self) {
            baselines.append(Baseline(pod: pod, day: day, brp: brp, energyWh: Baseline.unpack(values.bytes)))
        }
        return baselines
    }

    // MARK: Market

    @discardableResult
    public func putMarketDocument(_ document: MarketDocument, replace: Bool) async throws -> Bool {
        let body = ByteBuffer(bytes: document.body)
        let rows = replace
            ? try await query("""
                INSERT INTO market_documents(kind, id, day, body) VALUES (\(document.kind.rawValue), \(document.id), \(document.day), \(body))
                ON CONFLICT (kind, id) DO UPDATE SET day = excluded.day, body = excluded.body RETURNING 1
                """, logger: logger)
            : try await query("""
                INSERT INTO market_documents(kind, id, day, body) VALUES (\(document.kind.rawValue), \(document.id), \(document.day), \(body))
                ON CONFLICT (kind, id) DO NOTHING RETURNING 1
                """, logger: logger)
        for try await _ in rows.decode(Int32.self) { return true }
        return false
    }

    public func marketDocument(kind: MarketDocument.Kind, id: String) async throws -> MarketDocument? {
        for try await (day, body) in try await query("""
            SELECT day, body FROM market_documents WHERE kind = \(kind.rawValue) AND id = \(id)
            """, logger: logger).decode((String, ByteBuffer).self) {
            return MarketDocument(kind: kind, id: id, day: day, body: Array(body.readableBytesView))
        }
        return nil
    }

    public func marketDocuments(kind: MarketDocument.Kind, days: ClosedRange<String>) async throws -> [MarketDocument] {
        var documents: [MarketDocument] = []
        for try await (id, day, body) in try await query("""
            SELECT id, day, body FROM market_documents
            WHERE kind = \(kind.rawValue) AND day >= \(days.lowerBound) AND day <= \(days.upperBound) ORDER BY day, id
            """, logger: logger).decode((String, String, ByteBuffer).self) {
            documents.append(MarketDocument(kind: kind, id: id, day: day, body: Array(body.readableBytesView)))
        }
        return documents
    }

    public func marketDocumentIDs(kind: MarketDocument.Kind, days: ClosedRange<String>) async throws -> [String] {
        var ids: [String] = []
        for try await id in try await query("""
            SELECT id FROM market_documents WHERE kind = \(kind.rawValue) AND day >= \(days.lowerBound) AND day <= \(days.upperBound) ORDER BY day, id
            """, logger: logger).decode(String.self) {
            ids.append(id)
        }
        return ids
    }

    // MARK: UFTP message log

    public func addUFTPMessage(_ message: UFTPMessageRecord) async throws -> Int64 {
        try await transaction { db in try await Self.insert(message, into: db, logger: self.logger) }
    }

    private static func insert(_ message: UFTPMessageRecord, into db: PostgresConnection, logger: Logger) async throws -> Int64 {
        let rows = try await db.query("""
            INSERT INTO uftp_messages(direction, type, message_id, conversation_id, sender_domain, sender_role,
              recipient_domain, t, signed, payload)
            VALUES (\(message.direction.rawValue), \(message.type), \(message.messageID), \(message.conversationID),
              \(message.senderDomain), \(message.senderRole), \(message.recipientDomain), \(message.time.millisecondsSince1970),
              \(ByteBuffer(bytes: message.signed)), \(ByteBuffer(bytes: message.payload)))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw SCDError("storing a UFTP message returned no id")
    }

    public func recordUFTPRevision(sender: String, type: String, scope: String, revision: Int64) async throws -> Int64? {
        try await transaction { db in
            let taken = try await db.query("""
                INSERT INTO uftp_revisions(sender_domain, type, scope, revision) VALUES (\(sender), \(type), \(scope), \(revision))
                ON CONFLICT (sender_domain, type, scope) DO UPDATE SET revision = excluded.revision
                  WHERE excluded.revision >= uftp_revisions.revision
                RETURNING revision
                """, logger: self.logger)
            for try await _ in taken.decode(Int64.self) { return nil }
            let higher = try await db.query("""
                SELECT revision FROM uftp_revisions WHERE sender_domain = \(sender) AND type = \(type) AND scope = \(scope)
                """, logger: self.logger)
            for try await revision in higher.decode(Int64.self) { return revision }
            return nil
        }
    }

    public func uftpMessages(_ request: UFTPMessageQuery) async throws -> [UFTPMessageRecord] {
        let (conditions, values) = request.conditions { "$\($0)" }
        var binds = PostgresBindings(capacity: values.count + 2)
        for value in values { binds.append(value) }
        binds.append(request.after ?? 0)
        binds.append(Int64(request.limit))
        let rows = try await query(PostgresQuery(unsafeSQL: """
            SELECT m.id, m.direction, m.type, m.message_id, m.conversation_id, m.sender_domain, m.sender_role,
              m.recipient_domain, m.t, m.signed, m.payload, o.state, o.attempts, o.next_attempt, o.problem
            FROM uftp_messages m LEFT JOIN uftp_outbox o ON o.message = m.id
            WHERE \(conditions)m.id > $\(values.count + 1) ORDER BY m.id LIMIT $\(values.count + 2)
            """, binds: binds), logger: logger)
        var messages: [UFTPMessageRecord] = []
        typealias Row = (Int64, String, String, String, String, String, String, String, Int64, ByteBuffer, ByteBuffer,
                         String?, Int32?, Int64?, String?)
        for try await row in rows.decode(Row.self) {
            let delivery = row.11.flatMap(UFTPDeliveryStatus.State.init(rawValue:)).map { state in
                UFTPDeliveryStatus(state: state, attempts: Int(row.12 ?? 0),
                                   nextAttempt: Timestamp(millisecondsSince1970: row.13 ?? 0), problem: row.14)
            }
            messages.append(UFTPMessageRecord(
                id: row.0, direction: UFTPMessageRecord.Direction(rawValue: row.1) ?? .inbound, type: row.2, messageID: row.3,
                conversationID: row.4, senderDomain: row.5, senderRole: row.6, recipientDomain: row.7,
                time: Timestamp(millisecondsSince1970: row.8), signed: row.9.bytes, payload: row.10.bytes, delivery: delivery))
        }
        return messages
    }

    public func queueUFTPMessage(_ message: UFTPMessageRecord, endpoint: String) async throws -> Int64 {
        try await transaction { db in
            let id = try await Self.insert(message, into: db, logger: self.logger)
            try await db.query("""
                INSERT INTO uftp_outbox(message, endpoint, state, attempts, next_attempt)
                VALUES (\(id), \(endpoint), 'pending', 0, \(message.time.millisecondsSince1970))
                """, logger: self.logger)
            return id
        }
    }

    public func claimUFTPDeliveries(now: Timestamp, leaseMs: Int64, limit: Int) async throws -> [UFTPDelivery] {
        // The first due message of each endpoint (UFTPOutbox.claim); SKIP LOCKED: instances
        // claiming at once take different messages.
        let rows = try await query("""
            WITH RECURSIVE \(unescaped: SCDSchema.pendingEndpoints)
            UPDATE uftp_outbox o SET next_attempt = \(now.millisecondsSince1970 + leaseMs) FROM uftp_messages m
            WHERE m.id = o.message AND o.message IN (
              SELECT message FROM uftp_outbox WHERE message IN (\(unescaped: SCDSchema.firstDue(String(now.millisecondsSince1970))))
              ORDER BY next_attempt LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED)
            RETURNING o.message, o.endpoint, o.attempts, m.signed, m.t, m.type, m.message_id
            """, logger: logger)
        var claimed: [UFTPDelivery] = []
        for try await row in rows.decode((Int64, String, Int32, ByteBuffer, Int64, String, String).self) {
            claimed.append(UFTPDelivery(message: row.0, endpoint: row.1, signed: row.3.bytes, attempts: Int(row.2),
                                        queued: Timestamp(millisecondsSince1970: row.4), type: row.5, messageID: row.6))
        }
        return claimed.sorted { $0.message < $1.message }
    }

    public func recordUFTPDelivery(message: Int64, _ status: UFTPDeliveryStatus) async throws {
        try await query("""
            UPDATE uftp_outbox SET state = \(status.state.rawValue), attempts = \(Int32(status.attempts)),
              next_attempt = \(status.nextAttempt.millisecondsSince1970), problem = \(status.problem)
            WHERE message = \(message)
            """, logger: logger)
    }

    // MARK: Common Reference

    public func registerCROParticipant(_ participant: CROParticipant) async throws {
        try await query("""
            INSERT INTO cro_participants(role, domain, name) VALUES (\(participant.role.rawValue), \(participant.domain), \(participant.name))
            ON CONFLICT (role, domain) DO UPDATE SET name = excluded.name
            """, logger: logger)
    }

    public func croParticipants() async throws -> [CROParticipant] {
        var participants: [CROParticipant] = []
        for try await (role, domain, name) in try await query("SELECT role, domain, name FROM cro_participants ORDER BY role, domain",
                                                              logger: logger).decode((String, String, String).self) {
            if let role = CROParticipant.Role(rawValue: role) { participants.append(CROParticipant(role: role, domain: domain, name: name)) }
        }
        return participants
    }

    public func portfolio(_ scope: PortfolioScope) async throws -> Portfolio {
        let logger = logger
        return try await client.withConnection { db in try await Self.readPortfolio(scope, db, logger: logger) }
    }

    public func changePortfolio(_ scope: PortfolioScope, _ change: @escaping @Sendable (Portfolio) throws -> Portfolio) async throws {
        let logger = logger
        try await transaction { db in
            // Changes are made one at a time across instances: each reads what the last wrote.
            try await db.query("SELECT pg_advisory_xact_lock(\(Self.portfolioLock))", logger: logger)
            let read = try await Self.readPortfolio(scope, db, logger: logger)
            let changed = try change(read)
            try await db.query("""
                DELETE FROM cro_congestion_points WHERE entity_address = ANY(\(read.congestionPoints.map(\.entityAddress))::text[])
                """, logger: logger)
            try await db.query("""
                DELETE FROM cro_connections c USING unnest(\(read.assignments.map(\.connection))::text[],
                  \(read.assignments.map(\.kind.rawValue))::text[], \(read.assignments.map(\.holder))::text[],
                  \(read.assignments.map(\.firstDay))::text[]) AS r(connection, kind, holder, first_day)
                WHERE c.connection = r.connection AND c.kind = r.kind AND c.holder = r.holder AND c.first_day = r.first_day
                """, logger: logger)
            for point in changed.congestionPoints {
                try await db.query("""
                    INSERT INTO cro_congestion_points(entity_address, dso, first_day, last_day, mutex_offers, day_ahead_by, intraday_by)
                    VALUES (\(point.entityAddress), \(point.dso), \(point.firstDay), \(point.lastDay), \(point.mutexOffersSupported),
                      \(point.dayAheadRedispatchBy), \(point.intradayRedispatchBy))
                    ON CONFLICT (entity_address) DO UPDATE SET dso = excluded.dso, first_day = excluded.first_day,
                      last_day = excluded.last_day, mutex_offers = excluded.mutex_offers, day_ahead_by = excluded.day_ahead_by,
                      intraday_by = excluded.intraday_by
                    """, logger: logger)
            }
            let rows = changed.assignments
            // An open end travels as '' (arrays of optionals are not encodable).
            try await db.query("""
                INSERT INTO cro_connections(connection, kind, holder, first_day, last_day)
                SELECT connection, kind, holder, first_day, NULLIF(last_day, '')
                FROM unnest(\(rows.map(\.connection))::text[], \(rows.map(\.kind.rawValue))::text[],
                  \(rows.map(\.holder))::text[], \(rows.map(\.firstDay))::text[], \(rows.map { $0.lastDay ?? "" })::text[])
                  AS r(connection, kind, holder, first_day, last_day)
                ON CONFLICT (connection, kind, holder, first_day) DO UPDATE SET last_day = excluded.last_day
                """, logger: logger)
        }
    }

    private static func readPortfolio(_ scope: PortfolioScope, _ db: PostgresConnection, logger: Logger) async throws -> Portfolio {
        var portfolio = Portfolio()
        if !scope.congestionPoints.isEmpty || !scope.dsos.isEmpty {
            for try await row in try await db.query("""
                SELECT entity_address, dso, first_day, last_day, mutex_offers, day_ahead_by, intraday_by FROM cro_congestion_points
                WHERE entity_address = ANY(\(scope.congestionPoints)::text[]) OR dso = ANY(\(scope.dsos)::text[])
                ORDER BY entity_address
                """, logger: logger).decode((String, String, String, String?, Bool, String, String?).self) {
                portfolio.congestionPoints.append(CongestionPointRecord(
                    entityAddress: row.0, dso: row.1, firstDay: row.2, lastDay: row.3, mutexOffersSupported: row.4,
                    dayAheadRedispatchBy: row.5, intradayRedispatchBy: row.6))
            }
        }
        if !scope.connections.isEmpty || !scope.holders.isEmpty {
            for try await row in try await db.query("""
                SELECT c.connection, c.kind, c.holder, c.first_day, c.last_day FROM cro_connections c
                WHERE c.connection = ANY(\(scope.connections)::text[])
                  OR (c.kind, c.holder) IN (SELECT * FROM unnest(\(scope.holders.map(\.kind.rawValue))::text[],
                                                                 \(scope.holders.map(\.holder))::text[]))
                ORDER BY c.connection, c.kind, c.first_day
                """, logger: logger).decode((String, String, String, String, String?).self) {
                guard let kind = ConnectionAssignment.Kind(rawValue: row.1) else { continue }
                portfolio.assignments.append(ConnectionAssignment(connection: row.0, kind: kind, holder: row.2,
                                                                  firstDay: row.3, lastDay: row.4))
            }
        }
        return portfolio
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
    private func blocks(node: String, holding seqs: [UInt64]) async throws -> [RawBlock] {
        let wanted = seqs.map { Int64($0) }
        let rows = try await query("""
            SELECT \(unescaped: Self.blockColumns) FROM raw_blocks b
            WHERE b.node = \(node) AND EXISTS (SELECT 1 FROM unnest(\(wanted)::bigint[]) s WHERE s BETWEEN b.first_seq AND b.first_seq + b.count - 1)
            """, logger: logger)
        var blocks: [RawBlock] = []
        for try await row in rows.decode(BlockRow.self) { blocks.append(Self.block(row, node: node)) }
        return blocks
    }

    private static let blockColumns = "first_seq, count, t_first, t_last, first_prev, last_hash, last_sig, data"
    private typealias BlockRow = (Int64, Int32, Int64, Int64, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer)

    private static func block(_ row: BlockRow, node: String) -> RawBlock {
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
            return outcome
        }
    }

    private static func logSize(_ db: PostgresConnection, logger: Logger) async throws -> UInt64 {
        for try await (index, bytes) in try await db.query("""
            SELECT idx, length(hashes) FROM log_tiles WHERE stratum = 0 ORDER BY idx DESC LIMIT 1
            """, logger: logger).decode((Int64, Int32).self) {
            return UInt64(index) * LogTiles.width + UInt64(bytes / 32)
        }
        return 0
    }

    private static func tiles(_ db: PostgresConnection, _ ids: [LogTiles.TileID], logger: Logger) async throws
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

    private static func logAppender(_ db: PostgresConnection, logger: Logger) async throws -> LogTiles.Appender {
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

    // MARK: Queries

    public func entries(node: String, from: Timestamp, to: Timestamp) async throws -> [RawEntry] {
        let logger = logger
        let (blocks, staged) = try await transaction { db in
            var blocks: [RawBlock] = []
            for try await row in try await db.query("""
                SELECT \(unescaped: Self.blockColumns) FROM raw_blocks
                WHERE node = \(node) AND t_first < \(to.millisecondsSince1970) AND t_last >= \(from.millisecondsSince1970) ORDER BY first_seq
                """, logger: logger).decode(BlockRow.self) {
                blocks.append(Self.block(row, node: node))
            }
            var staged: [(seq: UInt64, body: [UInt8], certified: Bool)] = []
            for try await (seq, body, certified) in try await db.query("""
                SELECT e.seq, e.body, \(unescaped: SCDSchema.certifiedCondition) FROM raw_entries e
                WHERE e.node = \(node) AND t >= \(from.millisecondsSince1970) AND t < \(to.millisecondsSince1970) ORDER BY seq
                """, logger: logger).decode((Int64, ByteBuffer, Bool).self) {
                staged.append((UInt64(seq), body.bytes, certified))
            }
            return (blocks, staged)
        }
        return try RawEntry.collect(blocks: blocks, staged: staged, from: from, to: to)
    }

    public func upsertMeasures(_ measures: [QuarterMeasure]) async throws {
        // One row per (pod, start) in a statement: the last computed wins.
        var latest: [String: QuarterMeasure] = [:]
        for measure in measures { latest["\(measure.pod) \(measure.start.millisecondsSince1970)"] = measure }
        let rows = Array(latest.values)
        guard !rows.isEmpty else { return }
        try await query("""
            INSERT INTO measures(pod, start, energy_wh, avg_w, coverage, samples, certified)
            SELECT * FROM unnest(\(rows.map(\.pod))::text[], \(rows.map(\.start.millisecondsSince1970))::bigint[],
              \(rows.map(\.energyWh))::float8[], \(rows.map(\.averageW))::float8[], \(rows.map(\.coverage))::float8[],
              \(rows.map { Int32($0.samples) })::integer[], \(rows.map(\.certified))::boolean[])
            ON CONFLICT (pod, start) DO UPDATE SET energy_wh = excluded.energy_wh, avg_w = excluded.avg_w,
              coverage = excluded.coverage, samples = excluded.samples, certified = excluded.certified
            """, logger: logger)
    }

    public func measures(pods: [String], from: Timestamp, to: Timestamp) async throws -> [QuarterMeasure] {
        var byPOD: [String: [QuarterMeasure]] = [:]
        for try await row in try await query("""
            SELECT pod, start, energy_wh, avg_w, coverage, samples, certified FROM measures
            WHERE pod = ANY(\(pods)) AND start >= \(from.millisecondsSince1970) AND start < \(to.millisecondsSince1970)
            """, logger: logger).decode((String, Int64, Double, Double, Double, Int32, Bool).self) {
            byPOD[row.0, default: []].append(QuarterMeasure(pod: row.0, start: Timestamp(millisecondsSince1970: row.1), energyWh: row.2,
                                                            averageW: row.3, coverage: row.4, samples: Int(row.5), certified: row.6))
        }
        return pods.flatMap { (byPOD.removeValue(forKey: $0) ?? []).sorted { $0.start < $1.start } }
    }

    public func rawStorageStats() async throws -> RawStorageStats {
        for try await row in try await query("""
            SELECT (SELECT count(*) FROM raw_entries), count(*), coalesce(sum(count), 0)::bigint,
              coalesce(sum(octet_length(data) + octet_length(first_prev) + octet_length(last_hash) + octet_length(last_sig)
                + octet_length(node) + 40), 0)::bigint
            FROM raw_blocks
            """, logger: logger).decode((Int64, Int64, Int64, Int64).self) {
            return RawStorageStats(stagedEntries: Int(row.0), blocks: Int(row.1), blockEntries: Int(row.2), blockBytes: Int(row.3))
        }
        throw SCDError("no storage statistics")
    }

    // MARK: Certification log

    public func logSize() async throws -> UInt64 {
        try await client.withConnection { db in try await Self.logSize(db, logger: self.logger) }
    }

    public func logTiles(_ ids: Set<LogTiles.TileID>) async throws -> [LogTiles.TileID: [SHA256Digest]] {
        try await client.withConnection { db in try await Self.tiles(db, Array(ids), logger: self.logger) }
    }

    public func addCheckpoint(_ checkpoint: StoredCheckpoint) async throws {
        try await query("""
            INSERT INTO log_checkpoints(size, note, t) VALUES (\(Int64(checkpoint.size)), \(checkpoint.note),
              \(checkpoint.time.millisecondsSince1970)) ON CONFLICT (size) DO NOTHING
            """, logger: logger)
    }

    public func checkpoint(size: UInt64?) async throws -> StoredCheckpoint? {
        let wanted = size.map { Int64($0) }
        for try await (size, note, time) in try await query("""
            SELECT size, note, t FROM log_checkpoints WHERE \(wanted)::bigint IS NULL OR size = \(wanted) ORDER BY size DESC LIMIT 1
            """, logger: logger).decode((Int64, String, Int64).self) {
            return StoredCheckpoint(size: UInt64(size), note: note, time: Timestamp(millisecondsSince1970: time))
        }
        return nil
    }

    public func sealedBlock(node: String, seq: UInt64) async throws -> SealedBlock? {
        guard let seqColumn = Bounds.seq(seq) else { return nil }
        for try await row in try await query("""
            SELECT \(unescaped: Self.blockColumns), log_index FROM raw_blocks
            WHERE node = \(node) AND first_seq <= \(seqColumn) ORDER BY first_seq DESC LIMIT 1
            """, logger: logger).decode((Int64, Int32, Int64, Int64, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, Int64).self) {
            let block = Self.block((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7), node: node)
            return seq <= block.lastSeq ? SealedBlock(block: block, logIndex: UInt64(row.8)) : nil
        }
        return nil
    }
}

extension ByteBuffer {
    fileprivate var bytes: [UInt8] { Array(readableBytesView) }
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
