import Foundation
import Ledger
import Sodium
import Testing
import TestSupport

/// The Python verifier in Tests/python, written from docs/ledger-format.md alone (hashlib + PyNaCl),
/// accepts what `lightnode ledger export` writes and rejects every kind of tampering.
@Suite(.enabled(if: Paths.pythonTestsEnabled, "no test venv (.venv): run `make test`"))
struct IndependentVerifierTests {
    static let entryCount = 12_000
    let folder = TemporaryDirectory("pyverify")

    func export() throws -> (lines: [String], ledger: Ledger) {
        let ledger = try LedgerFixtures.filledLedger(in: folder.path, count: Self.entryCount)
        let out = folder.file("export.jsonl")
        let outcome = try Processes.run(Paths.executable("lightnode"), ["ledger", "export", "--db", ledger.path, "--out", out])
        try #require(outcome.status == 0, "\(outcome.stderr)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").map(String.init)
        try #require(lines.count == Self.entryCount + 1)
        return (lines, ledger)
    }

    func pythonVerify(_ lines: [String], _ extra: [String] = []) throws -> ProcessOutcome {
        let python = try #require(Paths.python, "the test venv is missing under CI")
        let path = folder.file("candidate-\(UUID().uuidString).jsonl")
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return try Processes.run(python, [Paths.pythonScript("ledger_verify.py"), path] + extra)
    }

    /// Replaces a field of the entry on `lines[seq]` (line 0 is the header).
    func replacing(_ lines: [String], seq: Int, field: String, with value: String) throws -> [String] {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(lines[seq].utf8)) as? [String: Any])
        object[field] = value
        var copy = lines
        copy[seq] = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        return copy
    }

    @Test func acceptsTheExportAndRejectsEachTampering() throws {
        let (lines, ledger) = try export()
        let intact = try pythonVerify(lines, ["--key", ledger.identity.publicKey.base64])
        #expect(intact.status == 0, "\(intact.stderr)")
        #expect(intact.stdout.contains("intact: \(Self.entryCount) entries"))

        // A changed value in a body.
        let body17 = try #require(try JSONSerialization.jsonObject(with: Data(lines[17].utf8)) as? [String: Any])["body"] as! String
        let changed = try replacing(lines, seq: 17, field: "body", with: body17.replacingOccurrences(of: "1017.5", with: "1018.5"))
        #expect(try pythonVerify(changed).stderr.contains("first bad seq 17: hash does not match"))

        // A deleted line.
        var deleted = lines
        deleted.remove(at: 500)
        #expect(try pythonVerify(deleted).stderr.contains("first bad seq 500: missing"))

        // Two swapped lines.
        var swapped = lines
        swapped.swapAt(1000, 1001)
        #expect(try pythonVerify(swapped).stderr.contains("first bad seq 1000: missing"))

        // A forged signature.
        let forged = try replacing(lines, seq: 5000, field: "sig",
                                   with: Base64.encode((0..<64).map { _ in UInt8.random(in: 0...255) }))
        #expect(try pythonVerify(forged).stderr.contains("first bad seq 5000: signature does not verify"))

        // An entry signed (validly) by another key.
        let entry = try ledger.entries(from: 7000, through: 7000)[0]
        let otherSignature = SigningKey.generate().sign(entry.hash.bytes)
        let resigned = try replacing(lines, seq: 7000, field: "sig", with: otherSignature.base64)
        #expect(try pythonVerify(resigned).stderr.contains("first bad seq 7000: signature does not verify"))

        // The whole export claimed under another key.
        let impostor = try pythonVerify(lines, ["--key", SigningKey.generate().publicKey.base64])
        #expect(impostor.status == 1)

        for outcome in [changed, deleted, swapped, forged, resigned] {
            #expect(try pythonVerify(outcome).status == 1)
        }
    }
}
