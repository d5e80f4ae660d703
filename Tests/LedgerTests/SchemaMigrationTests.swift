import Foundation
@testable import Ledger
import SQLite
import Testing
import TestSupport

/// A node's ledger database upgraded in place keeps what it held.
@Suite struct SchemaMigrationTests {
    let folder = TemporaryDirectory("ledger-schema")

    /// v3 (DESIGN §5 v1.1): the set-point records take `release`; the rows of a v2 file survive.
    @Test func aVersionTwoLedgerKeepsItsSetPointsAndTakesReleases() throws {
        let connection = try Connection(path: folder.file("ledger.sqlite"), mode: .readWriteCreate)
        for (index, migration) in Schema.migrations.prefix(2).enumerated() {
            try connection.execute(migration.sql)
            try connection.execute("PRAGMA application_id = \(Schema.applicationID); PRAGMA user_version = \(index + 1)")
        }
        let row = "('sp-1', 7, 1, 2, 3, 3, 'max', 5000, 'done')"
        try connection.execute("INSERT INTO setpoints VALUES \(row)")
        #expect(throws: (any Error).self, "v2 refuses a release") {
            try connection.execute("INSERT INTO setpoints VALUES ('sp-2', 8, 1, 2, 3, 3, 'release', 0, 'scheduled')")
        }
        try Schema.migrate(connection)
        #expect(try connection.scalarInteger("PRAGMA user_version") == Int64(Schema.migrations.count))
        #expect(try connection.scalarInteger("SELECT count(*) FROM setpoints WHERE id = 'sp-1' AND seq = 7 AND mode = 'max' AND w = 5000 AND state = 'done'") == 1)
        try connection.execute("INSERT INTO setpoints VALUES ('sp-2', 8, 1, 2, 3, 3, 'release', 0, 'scheduled')")
        #expect(try connection.scalarInteger("SELECT count(*) FROM setpoints WHERE state <> 'done'") == 1)
        #expect(throws: (any Error).self) {
            try connection.execute("INSERT INTO setpoints VALUES ('sp-3', 9, 1, 2, 3, 3, 'off', 0, 'scheduled')")
        }
    }
}
