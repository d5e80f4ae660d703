import Foundation
import Ledger
import Sodium
import SQLite
import Testing
import TestSupport

/// `lightnode` as a user runs it: exit codes 0/1/2, messages on stderr, never a crash trace.
@Suite struct LedgerCLITests {
    let folder = TemporaryDirectory("cli")
    let lightnode = Paths.executable("lightnode")

    func run(_ arguments: String...) throws -> ProcessOutcome {
        let outcome = try Processes.run(lightnode, arguments)
        for trace in ["Fatal error", "Stack dump", "Backtrace", "Current stack trace"] {
            #expect(!outcome.stderr.contains(trace), "crash trace for \(arguments): \(outcome.stderr)")
        }
        return outcome
    }

    @Test func keygenWritesA0600KeyAndPrintsItsPublicKey() throws {
        let path = folder.file("node.key")
        let created = try run("keygen", "--out", path)
        #expect(created.status == 0)
        let printed = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try SigningKey(contentsOfFile: path).publicKey.base64 == printed)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
        #expect(try run("pubkey", "--key-file", path).stdout == printed + "\n")
        #expect(try run("pubkey", "--key-file", path, "--cs1").stdout == "cs1." + printed + "\n")
        let again = try run("keygen", "--out", path)
        #expect(again.status == 2 && again.stderr.contains("refusing to overwrite"))
    }

    @Test func badKeyFilesAreUsageErrors() throws {
        let open = folder.file("open.key")
        try SigningKey.generate().write(toNewFile: open)
        chmod(open, 0o644)
        let readable = try run("pubkey", "--key-file", open)
        #expect(readable.status == 2 && readable.stderr.contains("group or others") && readable.stderr.contains("chmod 600"))
        let truncated = folder.file("truncated.key")
        _ = FileManager.default.createFile(atPath: truncated, contents: Data("4niUT8PXmRC5syAubh4l".utf8),
                                           attributes: [.posixPermissions: 0o600])
        let short = try run("pubkey", "--key-file", truncated)
        #expect(short.status == 2 && short.stderr.contains("truncated"))
        let missing = try run("pubkey", "--key-file", folder.file("absent.key"))
        #expect(missing.status == 2 && missing.stderr.contains("absent.key"))
    }

    @Test func usageErrorsExitTwo() throws {
        for arguments in [["--frobnicate"], ["ledger", "verify"], ["ledger", "verify", "--db"],
                          ["ledger", "export", "--db", "x", "--from", "9", "--to", "3"], ["nonsense"]] {
            let outcome = try Processes.run(lightnode, arguments)
            #expect(outcome.status == 2, "\(arguments): \(outcome.stderr)")
            #expect(!outcome.stderr.isEmpty && outcome.stdout.isEmpty)
        }
        #expect(try run("--help").status == 0)
        let badKey = try run("ledger", "verify", "--db", folder.file("x"), "--key", "AQID")
        #expect(badKey.status == 2 && badKey.stderr.contains("--key"))
    }

    @Test func corruptDatabaseIsARuntimeErrorNamingTheFile() throws {
        let path = folder.file("ledger.sqlite")
        try Data((0..<16384).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: path))
        for command in ["verify", "export", "show"] {
            let outcome = try run("ledger", command, "--db", path)
            #expect(outcome.status == 1, "\(command): \(outcome.stderr)")
            #expect(outcome.stderr.contains("ledger.sqlite is not a valid ledger"))
        }
        // A ledger whose pages were damaged after creation.
        let damaged = try LedgerFixtures.filledLedger(in: folder.file("damaged"), count: 3000)
        let damagedPath = damaged.path
        try Connection(path: damagedPath, mode: .readWrite).execute("PRAGMA wal_checkpoint(TRUNCATE)")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: damagedPath))
        try handle.seek(toOffset: 4096 * 20)
        handle.write(Data(repeating: 0xEE, count: 4096 * 10))
        try handle.close()
        let outcome = try run("ledger", "verify", "--db", damagedPath)
        #expect(outcome.status == 1 && !outcome.stderr.isEmpty)
    }

    @Test func verifyAcceptsAnIntactLedger() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 1200)
        let outcome = try run("ledger", "verify", "--db", ledger.path, "--key", ledger.identity.publicKey.cs1)
        #expect(outcome.status == 0)
        #expect(outcome.stdout == "intact: 1200 entries (seq 1…1200), 1200 signatures verified\n")
        let quick = try run("ledger", "verify", "--db", ledger.path, "--quick")
        #expect(quick.status == 0 && quick.stdout.contains("1 signatures verified"))
    }

    @Test(arguments: [
        ("changed body", "UPDATE entries SET body = CAST(replace(CAST(body AS TEXT), '1100.5', '1100.6') AS BLOB) WHERE seq = 100", "seq 100: hash does not match"),
        ("deleted row", "DELETE FROM entries WHERE seq = 200", "seq 200: missing"),
        ("swapped bodies", """
            UPDATE entries SET body = CASE seq WHEN 300 THEN (SELECT body FROM entries WHERE seq = 301)
                                               ELSE (SELECT body FROM entries WHERE seq = 300) END WHERE seq IN (300, 301)
            """, "seq 300: hash does not match"),
        ("replaced key", "UPDATE node SET public_key = randomblob(32)", "seq 1: signature does not verify"),
    ])
    func verifyNamesTheFirstBadSeqOfATamperedFile(name: String, sql: String, expected: String) throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 500)
        try LedgerFixtures.tamper(ledger.path) { try $0.execute(sql) }
        let outcome = try run("ledger", "verify", "--db", ledger.path)
        #expect(outcome.status == 1, "\(name)")
        #expect(outcome.stderr.contains("NOT intact: first bad \(expected)"), "\(name): \(outcome.stderr)")
        let quick = try run("ledger", "verify", "--db", ledger.path, "--quick")
        #expect(quick.status == 1, "\(name) with --quick")
    }

    @Test func exportWritesAFileOnlyWhenComplete() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 10)
        let out = folder.file("export.jsonl")
        #expect(try run("ledger", "export", "--db", ledger.path, "--from", "3", "--to", "5", "--out", out).status == 0)
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[1].hasPrefix(#"{"seq":3,"body":"{\"t\":"#))
        #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
        let shown = try run("ledger", "show", "--db", ledger.path, "--tail", "2")
        #expect(shown.status == 0 && shown.stdout.contains("head       seq 10 ") && shown.stdout.contains("\n10\t{\"t\":"))
    }
}
