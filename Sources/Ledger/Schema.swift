import SQLite

/// The ledger's SQLite schema: an ordered list of migrations, never edited once released
/// (a change is a new migration). `PRAGMA user_version` counts those applied.
enum Schema {
    /// `PRAGMA application_id` of a ledger file: "LNL1", so foreign databases are refused.
    static let applicationID: Int64 = 0x4C4E_4C31

    static let migrations: [(name: String, sql: String)] = [
        ("v1: chain, anchor, cursors, append-only triggers", """
        CREATE TABLE node (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            node TEXT NOT NULL,
            pod TEXT NOT NULL,
            public_key BLOB NOT NULL CHECK (length(public_key) = 32),
            created TEXT NOT NULL
        );
        -- prev is not stored: it is the hash of the entry before (or the anchor's). Nor is the
        -- time: every body starts with {"t":"<24-character RFC 3339 UTC>", which pruning reads.
        CREATE TABLE entries (
            seq INTEGER PRIMARY KEY CHECK (seq >= 1),
            body BLOB NOT NULL CHECK (substr(body, 1, 6) = CAST('{"t":"' AS BLOB)),
            hash BLOB NOT NULL CHECK (length(hash) = 32),
            sig BLOB NOT NULL CHECK (length(sig) = 64)
        );
        -- The newest pruned entry (seq 0 and a zero hash before any pruning): the chain stays
        -- verifiable from it, and seq continues after it even when every entry was pruned.
        CREATE TABLE anchor (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            hash BLOB NOT NULL CHECK (length(hash) = 32),
            sig BLOB CHECK (sig IS NULL OR length(sig) = 64)
        );
        INSERT INTO anchor VALUES (1, 0, zeroblob(32), NULL);
        CREATE TABLE cursors (
            name TEXT PRIMARY KEY,
            seq INTEGER NOT NULL CHECK (seq >= 0)
        );
        INSERT INTO cursors VALUES ('published', 0);

        CREATE TRIGGER node_immutable_update BEFORE UPDATE ON node
        BEGIN SELECT RAISE(ABORT, 'ledger node identity is immutable'); END;
        CREATE TRIGGER node_immutable_delete BEFORE DELETE ON node
        BEGIN SELECT RAISE(ABORT, 'ledger node identity is immutable'); END;

        CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: UPDATE refused'); END;
        CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
        WHEN OLD.seq > (SELECT seq FROM anchor)
        BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: DELETE refused (only pruning removes entries)'); END;
        CREATE TRIGGER entries_no_gap BEFORE INSERT ON entries
        WHEN NEW.seq IS NOT ((SELECT coalesce(max(seq), (SELECT seq FROM anchor)) FROM entries) + 1)
        BEGIN SELECT RAISE(ABORT, 'ledger seq must follow the head: no gap, no reuse'); END;

        CREATE TRIGGER anchor_forward_only BEFORE UPDATE ON anchor
        WHEN NEW.id IS NOT OLD.id
          OR NEW.seq <= OLD.seq
          OR NEW.seq > (SELECT seq FROM cursors WHERE name = 'published')
          OR NOT EXISTS (SELECT 1 FROM entries e WHERE e.seq = NEW.seq AND e.hash = NEW.hash AND e.sig IS NEW.sig)
        BEGIN SELECT RAISE(ABORT, 'ledger anchor may only move forward to a published entry'); END;
        CREATE TRIGGER anchor_no_delete BEFORE DELETE ON anchor
        BEGIN SELECT RAISE(ABORT, 'ledger anchor cannot be deleted'); END;

        CREATE TRIGGER cursors_forward_only BEFORE UPDATE ON cursors
        WHEN NEW.name IS NOT OLD.name
          OR NEW.seq < OLD.seq
          OR NEW.seq > (SELECT coalesce(max(seq), (SELECT seq FROM anchor)) FROM entries)
        BEGIN SELECT RAISE(ABORT, 'ledger cursors only move forward, up to the head'); END;
        CREATE TRIGGER cursors_no_delete BEFORE DELETE ON cursors
        BEGIN SELECT RAISE(ABORT, 'ledger cursors cannot be deleted'); END;
        """),
        ("v2: set-point records", """
        -- The node's set-points as they stand: one row per accepted set-point id (so a second
        -- message with that id is a replay, also after a restart), kept beside the ledger entries
        -- that tell the same story and changed in the same transactions. Not part of the chain.
        CREATE TABLE setpoints (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,              -- the `setpoint` entry recording it
            issued_ms INTEGER NOT NULL,
            from_ms INTEGER NOT NULL,
            until_ms INTEGER NOT NULL,
            end_ms INTEGER NOT NULL,           -- until, or earlier once superseded
            mode TEXT NOT NULL CHECK (mode IN ('target', 'max', 'min')),
            w INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('scheduled', 'active', 'done'))
        );
        CREATE INDEX setpoints_open ON setpoints (state) WHERE state <> 'done';
        """),
        ("v3: release set-points", """
        -- DESIGN §5 v1.1: a `release` (no constraint; w is 0 in the record). SQLite cannot change
        -- a CHECK in place: the table is copied into one that allows it.
        CREATE TABLE setpoints_v3 (
            id TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            issued_ms INTEGER NOT NULL,
            from_ms INTEGER NOT NULL,
            until_ms INTEGER NOT NULL,
            end_ms INTEGER NOT NULL,
            mode TEXT NOT NULL CHECK (mode IN ('target', 'max', 'min', 'release')),
            w INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('scheduled', 'active', 'done'))
        );
        INSERT INTO setpoints_v3 SELECT id, seq, issued_ms, from_ms, until_ms, end_ms, mode, w, state FROM setpoints;
        DROP TABLE setpoints;
        ALTER TABLE setpoints_v3 RENAME TO setpoints;
        CREATE INDEX setpoints_open ON setpoints (state) WHERE state <> 'done';
        """),
    ]

    /// Brings a writable connection's schema up to date; refuses files that are not ledgers.
    static func migrate(_ connection: Connection) throws(LedgerError) {
        do {
            let applied = try connection.scalarInteger("PRAGMA user_version") ?? 0
            let application = try connection.scalarInteger("PRAGMA application_id") ?? 0
            if applied == 0 {
                let tables = try connection.scalarInteger("SELECT count(*) FROM sqlite_schema") ?? 0
                guard tables == 0 else {
                    throw LedgerError.notALedger(path: connection.path, reason: "a SQLite database with other tables")
                }
                // Fixed before the first table (neither changes later without VACUUM), page_size
                // first or SQLite ignores it. 8 KiB pages: ~5 % fewer bytes per reading than 4 KiB
                // (less slack at page ends) and the flash page size of most eMMC/SD parts.
                // auto_vacuum lets pruning hand space back to the file system.
                try connection.execute("PRAGMA page_size = 8192; PRAGMA auto_vacuum = INCREMENTAL")
                try connection.execute("PRAGMA journal_mode = WAL")
            } else {
                try check(applicationID: application, userVersion: applied, path: connection.path)
            }
            try connection.migrate(migrations, applicationID: applicationID, applied: applied)
        } catch let error as LedgerError {
            throw error
        } catch let error as SQLiteError {
            throw LedgerError(error)
        } catch {
            throw LedgerError.notALedger(path: connection.path, reason: "\(error)")
        }
    }

    static func check(applicationID: Int64, userVersion: Int64, path: String) throws(LedgerError) {
        guard applicationID == Schema.applicationID else {
            throw .notALedger(path: path, reason: "a SQLite database of another application")
        }
        guard userVersion <= Int64(migrations.count) else {
            throw .unsupportedVersion(path: path, version: userVersion, supported: migrations.count)
        }
    }
}
