import GridCore
import Ledger
@testable import SCD
@testable import SCDSQLite
import Sodium
import SQLite
import Testing
import TestSupport

/// The SQLite backend stages in arrival order behind an in-memory index: the table is cut below
/// the oldest staged row, long-staged entries are copied forward, and the index is rebuilt at start.
@Suite struct SQLiteStagingTests {
    static func rows(_ path: String) throws -> Int64 {
        try Connection(path: path, mode: .readOnly).scalarInteger("SELECT count(*) FROM staged_entries") ?? -1
    }

    @Test func sealedRowsAreCutAndAQuietNodesEntriesAreCopiedForward() async throws {
        let folder = TemporaryDirectory()
        let path = folder.path + "/scd.sqlite"
        let key = SigningKey.generate()
        let quiet = StoreTests.chain(3, key: key), busy = StoreTests.chain(70, key: key)
        do {
            // A window of zero: every entry still staged at a seal counts as staged too long.
            let store = try SQLiteStore(path: path, stagingWindow: .zero)
            for node in ["ln-quiet", "ln-busy"] {
                try await store.addNode(NodeRecord(id: node, pod: "POD-\(node)", meter: "main", keys: [key.publicKey]))
            }
            // The quiet node's part block arrives first, so its rows are the oldest in the table.
            _ = try await StoreTests.commit(store, "ln-quiet", quiet, certifiedThrough: 3)
            _ = try await StoreTests.commit(store, "ln-busy", busy, certifiedThrough: 70)
            #expect(try Self.rows(path) == 73)

            let outcome = try await store.seal([SealRequest(node: "ln-busy", through: 64, keys: [key.publicKey])])
            #expect(outcome.sealed == 64)
            // Left in the table: the busy node's 6 staged entries and the quiet node's 3, copied
            // past them; every sealed row below them is cut.
            #expect(try Self.rows(path) == 9)
            #expect(try await store.rawStorageStats().stagedEntries == 9)
            let readings = try await store.readings(node: "ln-quiet", meter: "main", from: StoreTests.t0,
                                                    to: StoreTests.t0.adding(milliseconds: 3_600_000))
            #expect(readings.map(\.seq) == [1, 2, 3] && readings.allSatisfy(\.certified))
            #expect(try await store.storedHashes(node: "ln-quiet", seqs: [2]) == [2: quiet[1].hash])
        }
        // Rebuilt at start: the same entries staged, and a redelivered one is not staged twice.
        let store = try SQLiteStore(path: path)
        #expect(try await store.rawStorageStats().stagedEntries == 9)
        let staged = try await store.stagedEntries(after: [("ln-quiet", 0), ("ln-busy", 66)])
        #expect(staged.map(\.node) == ["ln-busy", "ln-busy", "ln-busy", "ln-busy", "ln-quiet", "ln-quiet", "ln-quiet"])
        #expect(staged.map(\.entry.seq) == [67, 68, 69, 70, 1, 2, 3])
        #expect(try await StoreTests.commit(store, "ln-quiet", quiet[1..<2]).isEmpty)
        #expect(try Self.rows(path) == 9)
        // Retention removes staged entries by their time, and their rows.
        #expect(try await store.expireRaw(before: StoreTests.t0.adding(milliseconds: 4000 * 2)) == 2, "quiet 1 and 2")
        #expect(try await store.rawStorageStats().stagedEntries == 7)
    }

    @Test func sealedButUncutRowsAreNotStagedAfterARestart() async throws {
        let folder = TemporaryDirectory()
        let path = folder.path + "/scd.sqlite"
        let key = SigningKey.generate()
        let early = StoreTests.chain(2, key: key), entries = StoreTests.chain(64, key: key)
        do {
            let store = try SQLiteStore(path: path)
            for node in ["ln-1", "ln-2"] {
                try await store.addNode(NodeRecord(id: node, pod: "POD-\(node)", meter: "main", keys: [key.publicKey]))
            }
            _ = try await StoreTests.commit(store, "ln-2", early)
            _ = try await StoreTests.commit(store, "ln-1", entries, certifiedThrough: 64)
            #expect(try await store.seal([SealRequest(node: "ln-1", through: 64, keys: [key.publicKey])]).sealed == 64)
            // ln-2's older rows hold the cut back: ln-1's sealed rows are still in the table.
            #expect(try Self.rows(path) == 66)
        }
        let store = try SQLiteStore(path: path)
        #expect(try await store.rawStorageStats().stagedEntries == 2)
        #expect(try await store.stagedEntries(after: [("ln-1", 0)]).isEmpty)
        let readings = try await store.readings(node: "ln-1", meter: "main", from: StoreTests.t0,
                                                to: StoreTests.t0.adding(milliseconds: 3_600_000))
        #expect(readings.map(\.seq) == Array(1...64))
    }

    @Test func entriesStagedByTheNodeClusteredSchemaAreKeptByTheMigration() async throws {
        let folder = TemporaryDirectory()
        let path = folder.path + "/scd.sqlite"
        let key = SigningKey.generate()
        let entries = StoreTests.chain(5, key: key)
        do {
            // A file at schema version 3, its entries staged in raw_entries.
            let db = try Connection(path: path, mode: .readWriteCreate)
            for (index, migration) in SQLiteSchema.migrations.prefix(3).enumerated() {
                try db.execute(migration.sql)
                try db.execute("PRAGMA application_id = \(SQLiteSchema.applicationID); PRAGMA user_version = \(index + 1)")
            }
            try db.execute("INSERT INTO pods(id) VALUES ('POD-1'); INSERT INTO nodes(id, pod, meter) VALUES ('ln-1', 'POD-1', 'main')")
            let insert = try db.prepare("INSERT INTO raw_entries(node, seq, t, body, prev, hash, sig) VALUES ('ln-1', ?, ?, ?, ?, ?, ?)")
            for (index, entry) in entries.enumerated() {
                try insert.bind(1, Int64(entry.seq)).bind(2, StoreTests.t0.adding(milliseconds: Int64(index) * 4000).millisecondsSince1970)
                    .bind(3, blob: entry.body).bind(4, blob: entry.prev.bytes).bind(5, blob: entry.hash.bytes)
                    .bind(6, blob: entry.signature.bytes).run()
            }
        }
        let store = try SQLiteStore(path: path)
        let staged = try await store.stagedEntries(after: [("ln-1", 0)])
        #expect(staged.map(\.entry) == entries)
    }

    @Test func aSecondServingProcessIsRefused() async throws {
        let folder = TemporaryDirectory()
        let store = try SQLiteStore(path: folder.path + "/scd.sqlite")
        #expect { _ = try SQLiteStore(path: folder.path + "/scd.sqlite") } throws: { error in
            "\(error)".contains("in use by another coordinator")
        }
        // Administration (registry, tokens) opens beside it, without reaching staged entries.
        let admin = try SQLiteStore(path: folder.path + "/scd.sqlite", purpose: .administration)
        try await admin.addToken(TokenRecord(hash: SHA256.hash(Array("t".utf8)), role: .admin, participant: nil))
        await #expect(throws: SCDError.self) { _ = try await admin.commit(IngestCommit()) }
        _ = store
    }
}
