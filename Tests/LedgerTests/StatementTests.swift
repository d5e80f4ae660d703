import SQLite
import Testing
import TestSupport

/// The SQLite wrapper the ledger and the SCD share: binds are checked, text is kept whole.
@Suite struct StatementTests {
    let folder = TemporaryDirectory("sqlite-statement")

    @Test func aRefusedBindFailsTheStepInsteadOfRunningWithANull() throws {
        let connection = try Connection(path: folder.file("db.sqlite"), mode: .readWriteCreate)
        try connection.execute("CREATE TABLE t (a INTEGER, b TEXT)")
        let insert = try connection.prepare("INSERT INTO t VALUES (?1, ?2)")
        insert.bind(1, Int64(1)).bind(3, "no such parameter")
        #expect(throws: SQLiteError.self) { try insert.run() }
        #expect(try connection.scalarInteger("SELECT count(*) FROM t") == 0, "nothing was written")
        // The failure is the execution's: the statement is usable again once rebound.
        try insert.bind(1, Int64(2)).bind(2, "two").run()
        #expect(try connection.scalarInteger("SELECT count(*) FROM t WHERE a = 2 AND b = 'two'") == 1)
    }

    @Test func textWithANulInsideIsStoredAndReadWhole() throws {
        let connection = try Connection(path: folder.file("db.sqlite"), mode: .readWriteCreate)
        try connection.execute("CREATE TABLE t (b TEXT)")
        try connection.prepare("INSERT INTO t VALUES (?1)").bind(1, "before\u{0}after").run()
        let select = try connection.prepare("SELECT b, length(CAST(b AS BLOB)) FROM t")
        #expect(try select.step())
        #expect(select.text(0) == "before\u{0}after" && select.int64(1) == 12)
    }
}
