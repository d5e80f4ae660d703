import Foundation
import Sodium
import Testing
import TestSupport
import UFTP

/// The reference implementation's AGR client (PyPI shapeshifter-uftp) posting to the
/// coordinator's UFTP endpoint: accepted messages are answered 200 and kept in the message log
/// as sent; a message sealed with a key the participants file does not hold is refused 401.
@Suite(.enabled(if: Paths.pythonTestsEnabled, "needs the test venv (make test)"))
struct UFTPEndpointTests {
    @Test(arguments: ["3.0.0", "3.1.0"])
    func referenceAGRMessagesAreStoredAsSent(version: String) throws {
        let python = try #require(Paths.python, "the test venv is missing")
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let folder = TemporaryDirectory("coordinator")
        let agrKey = SigningKey.generate()
        try SigningKey.generate().write(toNewFile: folder.file("uftp.key"))
        // The reference takes keys as base64 strings: the key files' contents.
        try agrKey.write(toNewFile: folder.file("agr.key"))
        try SigningKey.generate().write(toNewFile: folder.file("forged.key"))
        func secret(_ name: String) throws -> String {
            try String(contentsOfFile: folder.file(name), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try """
            [[participant]]
            domain = "agr.example.com"
            role = "AGR"
            endpoint = "http://127.0.0.1:9/shapeshifter/api/v3/message"
            keys = ["\(agrKey.publicKey.cs1)"]
            """.write(toFile: folder.file("participants.toml"), atomically: true, encoding: .utf8)
        let coordinator = try CoordinatorProcess(mqttPort: broker.port, extraConfig: """
            [uftp]
            domain = "dso.example.com"
            roles = ["DSO", "CRO"]
            signing_key_file = "uftp.key"
            participants_file = "participants.toml"
            """, folder: folder)
        let token = try coordinator.addToken(role: "DSO")
        try coordinator.start()
        defer { coordinator.stop() }

        let endpoint = "http://127.0.0.1:\(coordinator.httpPort)/shapeshifter/api/v3/message"
        let outcome = try Processes.run(python, [
            Paths.pythonScript("uftp_agr_send.py"), endpoint, "agr.example.com", try secret("agr.key"),
            "dso.example.com", version, try secret("forged.key"),
        ])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let sent = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
        let conversation = try #require(sent["conversation"] as? String)
        let messages = try #require(sent["sent"] as? [[String: Any]])
        #expect(messages.map { $0["status"] as? Int } == [200, 200], "\(coordinator.log)")
        #expect((sent["forged"] as? [String: Any])?["status"] as? Int == 401)

        let answer = try coordinator.get("/api/v1/uftp/messages?conversation_id=\(conversation)", token: token)
        #expect(answer.status == 200)
        let stored = try #require(try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])["items"] as? [[String: Any]]
        #expect(stored?.map { $0["type"] as? String } == ["D-Prognosis", "FlexOffer"], "the forged one is not among them")
        #expect(stored?.map { $0["message_id"] as? String } == messages.map { $0["message_id"] as? String })
        for item in stored ?? [] {
            #expect(item["direction"] as? String == "in" && item["sender_domain"] as? String == "agr.example.com")
            // What is kept is what the reference signed: it opens under the AGR's key and parses.
            let signed = try SignedMessage.decode(Array((item["signed"] as? String ?? "").utf8))
            let payload = try #require(signed.open(keys: [agrKey.publicKey]))
            #expect(Array((item["payload"] as? String ?? "").utf8) == payload)
            #expect(try UFTPCodec.decode(payload).metadata.version.text == version)
        }
    }
}
