import Foundation
import GridCore
import Ledger
import Sodium
import SQLite
import Testing
import TestSupport

@Suite struct LedgerAppendTests {
    let folder = TemporaryDirectory("ledger")

    @Test func entriesFollowContractV1() throws {
        let key = SigningKey.generate()
        let ledger = try Ledger(dataDirectory: folder.path, node: "ln-0001", pod: "IT001E00000001", signer: key)
        let first = try ledger.append(LedgerFixtures.reading(1))
        let second = try ledger.append(LedgerFixtures.reading(2))
        #expect(first.seq == 1 && second.seq == 2)
        #expect(first.prev == .zero)
        #expect(second.prev == first.hash)
        // hash = SHA-256("LN-LEDGER-1" ‖ 0x00 ‖ seq u64 BE ‖ prev ‖ body), recomputed by hand here.
        let preimage = Array("LN-LEDGER-1".utf8) + [0, 0, 0, 0, 0, 0, 0, 0, 2] + first.hash.bytes + second.body
        #expect(SHA256.hash(preimage) == second.hash)
        #expect(key.publicKey.verify(second.signature, of: second.hash.bytes))
        #expect(second.bodyText.hasPrefix(#"{"t":"2026-11-24T10:00:08.000Z","k":"reading","m":"main","q":"good","v":{"active_power":1002.5"#))
        #expect(try ledger.entries() == [first, second])
    }

    @Test func storageSettingsAreFixedAtCreation() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 1)
        let connection = try Connection(path: ledger.path, mode: .readOnly)
        #expect(try connection.scalarText("PRAGMA journal_mode") == "wal")
        #expect(try connection.scalarInteger("PRAGMA page_size") == 8192)
        #expect(try connection.scalarInteger("PRAGMA auto_vacuum") == 2)  // incremental
        #expect(try connection.scalarInteger("PRAGMA application_id") == 0x4C4E_4C31)
    }

    @Test func seqContinuesAcrossReopen() throws {
        let key = SigningKey.generate()
        do {
            let ledger = try Ledger(dataDirectory: folder.path, node: "n", pod: "p", signer: key)
            try ledger.append(contentsOf: (1...5).map { LedgerFixtures.reading($0) })
        }
        let reopened = try Ledger(dataDirectory: folder.path, node: "n", pod: "p", signer: key)
        let next = try reopened.append(LedgerFixtures.reading(6))
        #expect(next.seq == 6)
        let fifth = try reopened.entries(from: 5, through: 5)[0]
        #expect(next.prev == fifth.hash)
        #expect(try reopened.verify().fault == nil)
    }

    @Test func identityIsFixedForLife() throws {
        let key = SigningKey.generate()
        _ = try Ledger(dataDirectory: folder.path, node: "ln-1", pod: "POD-1", signer: key)
        for (node, pod, signer, field) in [("ln-2", "POD-1", key, "node"), ("ln-1", "POD-2", key, "POD"),
                                           ("ln-1", "POD-1", SigningKey.generate(), "key")] {
            #expect {
                try Ledger(dataDirectory: folder.path, node: node, pod: pod, signer: signer)
            } throws: { error in
                guard case LedgerError.identityMismatch(_, let mismatched, _, _) = error else { return false }
                return mismatched == field
            }
        }
    }

    @Test func databaseRefusesUpdateDeleteAndGaps() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 10)
        let connection = try Connection(path: ledger.path, mode: .readWrite)
        for (sql, message) in [
            ("UPDATE entries SET body = x'7b7d' WHERE seq = 3", "append-only: UPDATE refused"),
            ("DELETE FROM entries WHERE seq = 10", "append-only: DELETE refused"),
            ("INSERT INTO entries VALUES (12, x'7b2274223a22', zeroblob(32), zeroblob(64))", "no gap"),
            ("INSERT INTO entries VALUES (5, x'7b2274223a22', zeroblob(32), zeroblob(64))", "no gap"),
            ("UPDATE node SET public_key = zeroblob(32)", "immutable"),
            ("UPDATE anchor SET seq = 5", "anchor may only move forward to a published entry"),
            ("UPDATE cursors SET seq = 11", "up to the head"),
            ("DELETE FROM cursors", "cannot be deleted"),
        ] {
            #expect {
                try connection.execute(sql)
            } throws: { error in
                "\(error)".contains(message)
            }
        }
        #expect(try ledger.verify().fault == nil)
        #expect(try ledger.head.seq == 10)
    }

    @Test func batchIsAllOrNothing() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 3)
        // Make the 3rd insert of the next batch fail inside the database.
        let connection = try Connection(path: ledger.path, mode: .readWrite)
        try connection.execute("""
            CREATE TRIGGER fail_at_6 BEFORE INSERT ON entries WHEN NEW.seq = 6
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END
            """)
        #expect(throws: LedgerError.self) {
            try ledger.append(contentsOf: (4...8).map { LedgerFixtures.reading($0) })
        }
        #expect(try ledger.head.seq == 3)
        try connection.execute("DROP TRIGGER fail_at_6")
        #expect(try ledger.append(LedgerFixtures.reading(4)).seq == 4)
        #expect(try ledger.verify().fault == nil)
    }

    @Test func readOnlyOpenNeverCreatesOrWrites() throws {
        #expect(throws: LedgerError.self) { try Ledger(readingFile: folder.file("absent.sqlite")) }
        let writer = try LedgerFixtures.filledLedger(in: folder.path, count: 2)
        let reader = try Ledger(readingFile: writer.path)
        #expect(reader.identity == writer.identity)
        #expect(throws: LedgerError.self) { try reader.append(LedgerFixtures.reading(3)) }
    }

    /// `lightnode ledger verify` on a live ledger: what it reports checked is exactly the range it
    /// reports, however many entries the agent appends meanwhile.
    @Test func verifyingALedgerBeingAppendedReportsTheRangeItChecked() throws {
        let writer = try LedgerFixtures.filledLedger(in: folder.path, count: 50)
        let reader = try Ledger(readingFile: writer.path)
        let appended = DispatchSemaphore(value: 0)
        let appender = Thread {
            for index in 51...2_000 { _ = try? writer.append(LedgerFixtures.reading(index)) }
            appended.signal()
        }
        appender.start()
        for _ in 0..<40 {
            let result = try reader.verify()
            #expect(result.fault == nil)
            #expect(UInt64(result.entriesChecked) == result.head.seq - result.anchor.seq,
                    "\(result.entriesChecked) entries reported for seq \(result.anchor.seq + 1)…\(result.head.seq)")
        }
        #expect(appended.wait(timeout: .now() + 120) == .success)
    }

    @Test func corruptOrForeignFilesAreNamed() throws {
        let garbage = folder.file("garbage.sqlite")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: garbage))
        #expect {
            try Ledger(readingFile: garbage)
        } throws: { error in
            "\(error)".contains("garbage.sqlite is not a valid ledger")
        }
        let foreign = folder.file("foreign")
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        try Connection(path: foreign + "/" + Ledger.fileName, mode: .readWriteCreate).execute("CREATE TABLE t (x)")
        #expect {
            try Ledger(dataDirectory: foreign, node: "n", pod: "p", signer: .generate())
        } throws: { error in
            "\(error)".contains("not a valid ledger")
        }
    }
}

/// The worked example of docs/ledger-format.md, computed independently with Python (hashlib + PyNaCl).
@Suite struct LedgerFormatVectorTests {
    @Test func reproducesTheDocumentedExample() throws {
        let key = try SigningKey(seed: Array(0..<32))
        #expect(key.publicKey.base64 == "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=")
        let start = try #require(Timestamp(rfc3339: "2026-11-24T10:00:04.000Z"))
        let bodies = [
            EntryBody.reading(time: start, meter: "main", values: [("active_power", 1534.2)]),
            EntryBody.failedReading(time: start.adding(milliseconds: 4000), meter: "main", failure: "timeout"),
        ]
        #expect(bodies[0].bytes == Array(#"{"t":"2026-11-24T10:00:04.000Z","k":"reading","m":"main","q":"good","v":{"active_power":1534.2}}"#.utf8))
        #expect(bodies[1].bytes == Array(#"{"t":"2026-11-24T10:00:08.000Z","k":"reading","m":"main","q":"timeout"}"#.utf8))
        let folder = TemporaryDirectory("vector")
        let ledger = try Ledger(dataDirectory: folder.path, node: "ln-0001", pod: "IT001E00000001", signer: key)
        let entries = try ledger.append(contentsOf: bodies)
        #expect(entries[0].hash.hex == "92b76f5d04fb5af81d2396c04f62368f4c191b42c903f585ecfae333095887e1")
        #expect(entries[0].signature.base64 == "WLCvKu4DWLRYj9oiC1RtveLwVR2lttWUFtTk4Aqev/O0Ht74CNQvCche3s/QS2hbOTqwC+3G1cZkfxSkCyErBQ==")
        #expect(entries[1].prev == entries[0].hash)
        #expect(entries[1].hash.hex == "8835d6eac1c0a89463db091cf8535a8dcb636e0e2d2ba7aed8208c64da6d14e8")
        #expect(entries[1].signature.base64 == "5AEA7hnj1NNeVDvpKFVBBcczpGjFemv1A3Dz9ugvbhvpUF8J2tY69nuX0T8koqh8JiPD7XCdbac0gXqI/WXhBg==")
    }
}

@Suite struct LedgerPruningTests {
    let folder = TemporaryDirectory("prune")

    @Test func prunesOnlyOldAndPublishedEntriesAndStaysVerifiable() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 100)
        let cutoff = try ledger.entries(from: 60, through: 60)[0]
        let cutoffTime = LedgerFixtures.reading(60).time
        // Nothing published yet: nothing may go.
        #expect(try ledger.prune(before: cutoffTime).removed == 0)
        try ledger.advanceCursor(Ledger.publishedCursor, to: 40)
        var outcome = try ledger.prune(before: cutoffTime)
        #expect(outcome.removed == 40 && outcome.anchor.seq == 40)
        try ledger.advanceCursor(Ledger.publishedCursor, to: 100)
        outcome = try ledger.prune(before: cutoffTime)
        #expect(outcome.removed == 19 && outcome.anchor.seq == 59)
        #expect(try ledger.firstKeptSeq == 60)
        #expect(try ledger.entries().first == cutoff)
        let verification = try ledger.verify()
        #expect(verification.fault == nil && verification.entriesChecked == 41 && verification.signaturesChecked == 42)
    }

    @Test func seqContinuesAfterEverythingIsPruned() throws {
        let key = SigningKey.generate()
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 10, key: key)
        try ledger.advanceCursor(Ledger.publishedCursor, to: 10)
        #expect(try ledger.prune(before: Timestamp(millisecondsSince1970: .max)).removed == 10)
        #expect(try ledger.entries().isEmpty)
        #expect(try ledger.head.seq == 10)
        let reopened = try Ledger(dataDirectory: folder.path, node: LedgerFixtures.node, pod: LedgerFixtures.pod, signer: key)
        let next = try reopened.append(LedgerFixtures.reading(11))
        let anchor = try reopened.anchor
        #expect(next.seq == 11 && next.prev == anchor.hash)
        #expect(try reopened.verify().fault == nil)
    }

    @Test func pruningStopsAtTheFirstRecentEntryEvenIfTheClockSteppedBack() throws {
        let ledger = try Ledger(dataDirectory: folder.path, node: "n", pod: "p", signer: .generate())
        try ledger.append(contentsOf: [LedgerFixtures.reading(1), LedgerFixtures.reading(50), LedgerFixtures.reading(2)])
        try ledger.advanceCursor(Ledger.publishedCursor, to: 3)
        #expect(try ledger.prune(before: LedgerFixtures.reading(10).time).removed == 1)
    }

    @Test func cursorsOnlyMoveForward() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 5)
        try ledger.advanceCursor(Ledger.publishedCursor, to: 4)
        try ledger.advanceCursor(Ledger.publishedCursor, to: 2)  // a stale acknowledgement: ignored
        #expect(try ledger.cursor(Ledger.publishedCursor) == 4)
        #expect(throws: LedgerError.self) { try ledger.advanceCursor(Ledger.publishedCursor, to: 6) }
    }
}

@Suite struct LedgerVerificationTests {
    let folder = TemporaryDirectory("verify")

    func faultAfter(_ change: (Connection) throws -> Void, expectedKey: PublicKey? = nil,
                    signatures: ChainVerifier.SignatureCheck = .every) throws -> ChainFault? {
        let ledger = try LedgerFixtures.filledLedger(in: folder.file(UUID().uuidString), count: 50)
        try LedgerFixtures.tamper(ledger.path, change)
        return try Ledger(readingFile: ledger.path).verify(signatures: signatures, expectedKey: expectedKey).fault
    }

    @Test func intactLedgerVerifies() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 2500)
        let full = try ledger.verify()
        #expect(full.fault == nil && full.entriesChecked == 2500 && full.signaturesChecked == 2500)
        let quick = try ledger.verify(signatures: .newestOnly)
        #expect(quick.fault == nil && quick.entriesChecked == 2500 && quick.signaturesChecked == 1)
    }

    @Test func changedBodyIsFound() throws {
        let fault = try faultAfter { try $0.execute("UPDATE entries SET body = CAST(replace(CAST(body AS TEXT), '1017.5', '9017.5') AS BLOB) WHERE seq = 17") }
        #expect(fault == ChainFault(seq: 17, reason: .hashMismatch))
    }

    @Test func deletedRowIsFound() throws {
        let fault = try faultAfter { try $0.execute("DELETE FROM entries WHERE seq = 23") }
        #expect(fault == ChainFault(seq: 23, reason: .missing(found: 24)))
    }

    @Test func swappedBodiesAreFound() throws {
        let fault = try faultAfter { db in
            try db.execute("""
                UPDATE entries SET body = CASE seq WHEN 30 THEN (SELECT body FROM entries WHERE seq = 31)
                                                   ELSE (SELECT body FROM entries WHERE seq = 30) END
                WHERE seq IN (30, 31)
                """)
        }
        #expect(fault == ChainFault(seq: 30, reason: .hashMismatch))
    }

    @Test func rehashedForgeryFailsItsSignature() throws {
        // A forger who recomputes the hash of a changed entry cannot sign it.
        let fault = try faultAfter { db in
            let entry = try Ledger(readingFile: db.path).entries(from: 12, through: 12)[0]
            var hasher = EntryHasher()
            let forgedBody = Array(entry.bodyText.replacingOccurrences(of: "1012.5", with: "12.5").utf8)
            let statement = try db.prepare("UPDATE entries SET body = ?, hash = ? WHERE seq = 12")
            statement.bind(1, blob: forgedBody).bind(2, blob: hasher.hash(seq: 12, prev: entry.prev, body: forgedBody).bytes)
            try statement.run()
        }
        // Seq 12's signature fails; with --quick the chain from 13 on no longer links.
        #expect(fault == ChainFault(seq: 12, reason: .badSignature))
    }

    @Test func replacedKeyIsFound() throws {
        let other = SigningKey.generate().publicKey
        let fault = try faultAfter { db in
            let statement = try db.prepare("UPDATE node SET public_key = ?")
            statement.bind(1, blob: other.bytes)
            try statement.run()
        }
        #expect(fault == ChainFault(seq: 1, reason: .badSignature))
    }

    @Test func chainReSignedUnderAnotherKeyFailsAgainstTheExpectedKey() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 5)
        let expected = ledger.identity.publicKey
        let impostor = try LedgerFixtures.filledLedger(in: folder.file("impostor"), count: 5)
        #expect(try impostor.verify().fault == nil)
        #expect(try impostor.verify(expectedKey: expected).fault == ChainFault(seq: 1, reason: .badSignature))
    }

    @Test func quickModeChecksLinksAndTheNewestSignature() throws {
        #expect(try faultAfter({ try $0.execute("DELETE FROM entries WHERE seq = 7") }, signatures: .newestOnly)
            == ChainFault(seq: 7, reason: .missing(found: 8)))
        #expect(try faultAfter({ try $0.execute("UPDATE entries SET sig = zeroblob(64) WHERE seq = 50") }, signatures: .newestOnly)
            == ChainFault(seq: 50, reason: .badSignature))
    }

    @Test func forgedAnchorIsFound() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 20)
        try ledger.advanceCursor(Ledger.publishedCursor, to: 10)
        try ledger.prune(before: Timestamp(millisecondsSince1970: .max))
        try LedgerFixtures.tamper(ledger.path) { try $0.execute("UPDATE anchor SET sig = zeroblob(64)") }
        #expect(try ledger.verify().fault == ChainFault(seq: 10, reason: .badSignature))
    }
}

@Suite struct LedgerExportTests {
    let folder = TemporaryDirectory("export")

    @Test func exportLinesHaveExactlyTheContractKeys() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 3)
        let header = String(decoding: LedgerExport.headerLine(ledger.identity), as: UTF8.self)
        #expect(header == #"{"node":"ln-test","pod":"IT001E00000042","key":"\#(ledger.identity.publicKey.base64)"}"# + "\n")
        let entry = try ledger.entries(from: 2, through: 2)[0]
        var line: [UInt8] = []
        LedgerExport.appendLine(entry, to: &line)
        let escapedBody = entry.bodyText.replacingOccurrences(of: "\"", with: "\\\"")
        #expect(String(decoding: line, as: UTF8.self) == """
            {"seq":2,"body":"\(escapedBody)","prev":"\(entry.prev.hex)","hash":"\(entry.hash.hex)","sig":"\(entry.signature.base64)"}

            """)
    }
}

@Suite struct SetPointRecordTests {
    let folder = TemporaryDirectory("setpoint-records")

    static func record(_ id: String, from: Int64, until: Int64) -> SetPointRecord {
        SetPointRecord(id: id, issued: Timestamp(millisecondsSince1970: from - 1000),
                       from: Timestamp(millisecondsSince1970: from), until: Timestamp(millisecondsSince1970: until),
                       mode: .max, w: 5000)
    }

    @Test func recordsChangeWithTheirEntriesAndSurviveReopening() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 2)
        let entry = try ledger.append(contentsOf: [LedgerFixtures.reading(3)],
                                      changing: [.insert(Self.record("a", from: 10_000, until: 20_000))])[0]
        try ledger.append(contentsOf: [LedgerFixtures.reading(4)],
                          changing: [.state(id: "a", .active), .end(id: "a", Timestamp(millisecondsSince1970: 15_000))])
        let reopened = try Ledger(readingFile: ledger.path)
        let stored = try #require(try reopened.setPoint(id: "a"))
        #expect(stored.seq == entry.seq && stored.state == .active && stored.mode == .max && stored.w == 5000)
        #expect(stored.end == Timestamp(millisecondsSince1970: 15_000) && stored.until == Timestamp(millisecondsSince1970: 20_000))
        #expect(try reopened.openSetPoints().map(\.id) == ["a"])
        try ledger.append(contentsOf: [LedgerFixtures.reading(5)], changing: [.state(id: "a", .done)])
        #expect(try ledger.openSetPoints().isEmpty)
        #expect(try ledger.verify().fault == nil)
    }

    @Test func aSecondRecordWithTheSameIDFailsWithItsEntry() throws {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: 1)
        try ledger.append(contentsOf: [LedgerFixtures.reading(2)], changing: [.insert(Self.record("a", from: 1, until: 2))])
        #expect(throws: LedgerError.self) {
            try ledger.append(contentsOf: [LedgerFixtures.reading(3)], changing: [.insert(Self.record("a", from: 1, until: 2))])
        }
        #expect(try ledger.head.seq == 2, "the entry went with the refused record")
    }
}
