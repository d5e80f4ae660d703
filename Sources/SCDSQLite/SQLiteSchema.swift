import SCD
import SQLite

/// The SCD's SQLite schema: ordered migrations, never edited once released (a change is a new
/// migration); `PRAGMA user_version` counts those applied.
enum SQLiteSchema {
    /// `PRAGMA application_id` of an SCD file: "SCD1".
    static let applicationID: Int64 = 0x5343_4431

    static let migrations: [(name: String, sql: String)] = [
        ("registry and raw storage",
         """
         CREATE TABLE pods (
             id TEXT PRIMARY KEY, customer TEXT, connection_ean TEXT, congestion_point TEXT,
             aggregator TEXT, brp TEXT, fr_owner TEXT
         );
         CREATE INDEX pods_aggregator ON pods (aggregator);
         CREATE TABLE nodes (
             id TEXT PRIMARY KEY, pod TEXT NOT NULL REFERENCES pods (id), meter TEXT NOT NULL, quarantine TEXT
         );
         CREATE INDEX nodes_pod ON nodes (pod);
         CREATE TABLE node_keys (
             node TEXT NOT NULL REFERENCES nodes (id), key BLOB NOT NULL, added INTEGER NOT NULL,
             PRIMARY KEY (node, key)
         );
         CREATE TABLE tokens (hash BLOB PRIMARY KEY, role TEXT NOT NULL, participant TEXT);
         CREATE TABLE chain_segments (
             node TEXT NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL, first_prev BLOB NOT NULL,
             last_hash BLOB NOT NULL, last_sig BLOB NOT NULL, certified_through INTEGER NOT NULL,
             PRIMARY KEY (node, first)
         ) WITHOUT ROWID;
         CREATE TABLE raw_entries (
             node TEXT NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL, body BLOB NOT NULL,
             prev BLOB NOT NULL, hash BLOB NOT NULL, sig BLOB NOT NULL, certified INTEGER NOT NULL DEFAULT 0,
             PRIMARY KEY (node, seq)
         ) WITHOUT ROWID;
         CREATE TABLE raw_blocks (
             node TEXT NOT NULL, first_seq INTEGER NOT NULL, count INTEGER NOT NULL,
             t_first INTEGER NOT NULL, t_last INTEGER NOT NULL, first_prev BLOB NOT NULL,
             last_hash BLOB NOT NULL, last_sig BLOB NOT NULL, data BLOB NOT NULL,
             PRIMARY KEY (node, first_seq)
         ) WITHOUT ROWID;
         CREATE INDEX raw_blocks_time ON raw_blocks (node, t_first);
         CREATE INDEX raw_blocks_expiry ON raw_blocks (t_last);
         CREATE TABLE measures (
             pod TEXT NOT NULL, start INTEGER NOT NULL, energy_wh REAL NOT NULL, avg_w REAL NOT NULL,
             coverage REAL NOT NULL, samples INTEGER NOT NULL, certified INTEGER NOT NULL,
             PRIMARY KEY (pod, start)
         ) WITHOUT ROWID;
         """),
        ("certification log",
         """
         ALTER TABLE raw_blocks ADD COLUMN log_index INTEGER;
         CREATE TABLE log_tiles (
             stratum INTEGER NOT NULL, idx INTEGER NOT NULL, hashes BLOB NOT NULL, PRIMARY KEY (stratum, idx)
         ) WITHOUT ROWID;
         CREATE TABLE log_checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, t INTEGER NOT NULL);
         CREATE TABLE customer_lists (
             day TEXT NOT NULL, pod TEXT NOT NULL REFERENCES pods (id), aggregator TEXT NOT NULL, PRIMARY KEY (day, pod)
         ) WITHOUT ROWID;
         CREATE TABLE baselines (
             pod TEXT NOT NULL REFERENCES pods (id), day TEXT NOT NULL, brp TEXT NOT NULL, energy_wh BLOB NOT NULL,
             PRIMARY KEY (pod, day)
         ) WITHOUT ROWID;
         """),
        // A staged entry is certified when its node's persisted chain state says so
        // (`certifiedCondition`); marking each one rewrote its page (its row, in PostgreSQL) again.
        ("certification from the chain state", "ALTER TABLE raw_entries DROP COLUMN certified;"),
        // Staged rows in arrival order, found through `StagingIndex`: a commit appends to one
        // end of the table instead of rewriting a page per node that published.
        ("staging in arrival order",
         """
         CREATE TABLE staged_entries (
             id INTEGER PRIMARY KEY, node TEXT NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL, body BLOB NOT NULL,
             prev BLOB NOT NULL, hash BLOB NOT NULL, sig BLOB NOT NULL
         );
         INSERT INTO staged_entries(node, seq, t, body, prev, hash, sig)
             SELECT node, seq, t, body, prev, hash, sig FROM raw_entries ORDER BY node, seq;
         DROP TABLE raw_entries;
         """),
        ("UFTP message log and outbox",
         """
         CREATE TABLE uftp_messages (
             id INTEGER PRIMARY KEY AUTOINCREMENT, direction TEXT NOT NULL, type TEXT NOT NULL, message_id TEXT NOT NULL,
             conversation_id TEXT NOT NULL, sender_domain TEXT NOT NULL, sender_role TEXT NOT NULL,
             recipient_domain TEXT NOT NULL, t INTEGER NOT NULL, signed BLOB NOT NULL, payload BLOB NOT NULL
         );
         CREATE INDEX uftp_messages_conversation ON uftp_messages (conversation_id, id);
         CREATE INDEX uftp_messages_sender ON uftp_messages (sender_domain, message_id, id);
         CREATE TABLE uftp_outbox (
             message INTEGER PRIMARY KEY REFERENCES uftp_messages (id), endpoint TEXT NOT NULL,
             state TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt INTEGER NOT NULL, problem TEXT
         );
         CREATE INDEX uftp_outbox_due ON uftp_outbox (state, next_attempt);
         """),
        ("UFTP revisions",
         """
         CREATE TABLE uftp_revisions (
             sender_domain TEXT NOT NULL, type TEXT NOT NULL, scope TEXT NOT NULL, revision INTEGER NOT NULL,
             PRIMARY KEY (sender_domain, type, scope)
         ) WITHOUT ROWID;
         """),
        ("Common Reference",
         """
         CREATE TABLE cro_participants (role TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (role, domain));
         CREATE TABLE cro_congestion_points (
             entity_address TEXT PRIMARY KEY, dso TEXT NOT NULL, first_day TEXT NOT NULL, last_day TEXT,
             mutex_offers INTEGER NOT NULL, day_ahead_by TEXT NOT NULL, intraday_by TEXT
         );
         CREATE INDEX cro_congestion_points_dso ON cro_congestion_points (dso);
         CREATE TABLE cro_connections (
             connection TEXT NOT NULL, kind TEXT NOT NULL, holder TEXT NOT NULL, first_day TEXT NOT NULL, last_day TEXT,
             PRIMARY KEY (connection, kind, holder, first_day)
         ) WITHOUT ROWID;
         CREATE INDEX cro_connections_holder ON cro_connections (kind, holder);
         """),
        ("market",
         """
         CREATE TABLE market_documents (
             kind TEXT NOT NULL, id TEXT NOT NULL, day TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (kind, id)
         ) WITHOUT ROWID;
         CREATE INDEX market_documents_day ON market_documents (kind, day, id);
         """),
        ("PODs by congestion point",
         """
         CREATE INDEX pods_congestion_point ON pods (congestion_point, id);
         """),
        // The sender claims each endpoint's first due message: read from this index alone.
        ("UFTP outbox by endpoint",
         """
         CREATE INDEX uftp_outbox_endpoint ON uftp_outbox (state, endpoint, message, next_attempt);
         """),
    ]

    /// Brings a writable connection's schema up to date; refuses files of other applications.
    static func migrate(_ connection: Connection) throws {
        let applied = try connection.scalarInteger("PRAGMA user_version") ?? 0
        let application = try connection.scalarInteger("PRAGMA application_id") ?? 0
        if applied == 0 {
            let tables = try connection.scalarInteger("SELECT count(*) FROM sqlite_schema") ?? 0
            guard tables == 0 else { throw SCDError("\(connection.path) is a SQLite database of another application") }
        } else {
            guard application == applicationID else {
                throw SCDError("\(connection.path) is a SQLite database of another application")
            }
            guard applied <= Int64(migrations.count) else {
                throw SCDError("\(connection.path) has SCD schema version \(applied); this coordinator knows up to \(migrations.count)")
            }
        }
        try connection.migrate(migrations, applicationID: applicationID, applied: applied)
        try connection.transaction {
            for view in PublishedViews.all {
                for statement in view.statements(Dialect()) { try connection.execute(statement) }
            }
        }
    }

    /// The published views in SQLite's words: JSON read with `json_extract`, arrays with `json_each`
    /// (documents are stored as BLOBs of JSON text: cast, or SQLite ≥ 3.45 would read them as JSONB).
    struct Dialect: ViewDialect {
        var document: String { "CAST(d.body AS TEXT)" }

        func value(_ json: String, _ path: [String], _ type: PublishedViews.ValueType) -> String {
            "json_extract(\(json), '$.\(path.joined(separator: "."))')"
        }

        func expanding(_ table: String, _ array: [String]) -> String {
            "\(table) d, json_each(CAST(d.body AS TEXT), '$.\(array.joined(separator: "."))') e"
        }

        func create(_ name: String, as select: String) -> [String] {
            ["DROP VIEW IF EXISTS \(name)", "CREATE VIEW \(name) AS \(select)"]
        }
    }
}
