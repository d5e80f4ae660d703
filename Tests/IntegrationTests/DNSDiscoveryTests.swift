import Foundation
import GridCore
import Sodium
import Testing
import TestSupport
import UFTP

/// UFTP service discovery in DNS (UFTP §6.2) with a real DNS server (dnsmasq) and the reference
/// AGR (PyPI shapeshifter-uftp), the coordinator having no participants file. While DNS does not
/// know the aggregator, what it posts is answered 419 and the DSO's FlexRequest to it waits in
/// the queue, in discovery. Once DNS publishes it — its keys in `_agr._usef.agr.example.com` TXT
/// (two, as during a rotation), its endpoint through `_http._agr._usef.agr.example.com` CNAME —
/// the request is delivered, its messages verify (a key DNS does not publish: 401) and their
/// responses reach it.
@Suite(.enabled(if: Paths.pythonTestsEnabled, "needs the test venv (make test)"))
struct DNSDiscoveryTests {
    @Test func theCoordinatorFindsTheAggregatorInDNS() throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let folder = TemporaryDirectory("coordinator")
        let agrKey = SigningKey.generate(), dsoKey = SigningKey.generate()
        try dsoKey.write(toNewFile: folder.file("uftp.key"))
        try agrKey.write(toNewFile: folder.file("agr.key"))
        try SigningKey.generate().write(toNewFile: folder.file("forged.key"))
        var dns = try DNSServer()
        defer { dns.stop() }
        let agrPort = FreePort.allocate()
        // The CNAME's target would be resolved again by the HTTP client through the system's
        // resolver: the template puts loopback in its place, as a proxy in front of the peer would.
        let coordinator = try CoordinatorProcess(mqttPort: broker.port, extraConfig: """
            [uftp]
            domain = "dso.example.com"
            roles = ["DSO"]
            signing_key_file = "uftp.key"
            dns_discovery = true
            dns_server = "127.0.0.1:\(dns.port)"
            dns_require_dnssec = false     # dnsmasq's own records carry no signatures
            dns_endpoint_template = "http://127.0.0.1:\(agrPort)/shapeshifter/api/v{major}/message?host={host}"
            """, folder: folder)
        let token = try coordinator.addToken(role: "DSO")
        try coordinator.start()
        defer { coordinator.stop() }
        let endpoint = "http://127.0.0.1:\(coordinator.httpPort)/shapeshifter/api/v3/message"
        func agrSends() throws -> (conversation: String, statuses: [Int?], forged: Int?) {
            let python = try #require(Paths.python, "the test venv is missing")
            let outcome = try Processes.run(python, [
                Paths.pythonScript("uftp_agr_send.py"), endpoint, "agr.example.com", try folder.secret("agr.key"), "dso.example.com", "3.1.0",
                try folder.secret("forged.key"),
            ])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any], "\(outcome.stderr)")
            return (try #require(result["conversation"] as? String), (result["sent"] as? [[String: Any]] ?? []).map { $0["status"] as? Int },
                    (result["forged"] as? [String: Any])?["status"] as? Int)
        }
        func messages(_ query: String) throws -> [[String: Any]] {
            let answer = try coordinator.get("/api/v1/uftp/messages?\(query)", token: token)
            return try #require(try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])["items"] as? [[String: Any]] ?? []
        }

        // DNS does not know the aggregator: its messages are 419 (temporary), and the DSO's
        // request to it is queued all the same, waiting in discovery.
        #expect(try agrSends().statuses == [419, 419], "\(coordinator.log)")
        let tomorrow = String(Timestamp.now().adding(milliseconds: 86_400_000).rfc3339.prefix(10))
        let draft = #"{"recipient":"agr.example.com","congestion_point":"ea1.2023-01.com.example.dso:cp-1","period":"\#(tomorrow)","expiration":"\#(Timestamp.now().adding(milliseconds: 3_600_000).rfc3339)","isps":[{"start":40,"duration":2,"min_power":-5000,"max_power":-1000}]}"#
        let posted = try coordinator.request("POST", "/api/v1/uftp/flex-requests", token: token, body: Data(draft.utf8))
        #expect(posted.status == 202, "\(String(decoding: posted.body, as: UTF8.self))")
        let requestID = try #require(try JSONSerialization.jsonObject(with: posted.body) as? [String: Any])["message_id"] as? String
        let waiting = try waitUntil(timeoutSeconds: 60, pollMilliseconds: 200) {
            let delivery = try messages("limit=100").first { $0["message_id"] as? String == requestID }?["delivery"] as? [String: Any]
            return delivery?["state"] as? String == "pending" && (delivery?["problem"] as? String ?? "").contains("discovery")
        }
        #expect(waiting, "\(coordinator.log)")

        // DNS now publishes it (the server restarted with the records, on the same port).
        dns.stop()
        dns = try DNSServer(
            txt: [("_usef.agr.example.com", "3.1.0"), ("_agr._usef.agr.example.com", "\(SigningKey.generate().publicKey.cs1) \(agrKey.publicKey.cs1)")],
            cname: [("_http._agr._usef.agr.example.com", "uftp.agr.example.test")],
            hosts: [("uftp.agr.example.test", "127.0.0.1")], port: dns.port)
        let agr = try ReferencePeer(script: "uftp_agr_peer.py", [
            "\(agrPort)", "agr.example.com", try folder.secret("agr.key"), "dso.example.com", Base64.encode(dsoKey.publicKey.bytes), endpoint,
        ], log: folder.file("agr-peer.log"), limit: 180)
        func diagnostics() -> String { "\(coordinator.log)\n\(agr.log)\n\(dns.log)" }
        // The waiting request is delivered on its next attempt; the AGR's offer answering it verifies.
        let request = try #require(agr.line { $0["type"] as? String == "FlexRequest" }, "\(diagnostics())")
        #expect(request["sender_domain"] as? String == "dso.example.com")
        #expect(agr.line { $0["offer_sent"] != nil }?["status"] as? Int == 200, "\(diagnostics())")

        let sent = try agrSends()
        #expect(sent.statuses == [200, 200] && sent.forged == 401, "\(diagnostics())")
        let received = ["DPrognosisResponse", "FlexOfferResponse"].compactMap { type in
            agr.line { $0["type"] as? String == type && $0["conversation_id"] as? String == sent.conversation }
        }
        #expect(received.count == 2 && received.allSatisfy { $0["result"] as? String == "Accepted" }, "\(diagnostics())")
        #expect(try messages("conversation_id=\(sent.conversation)").filter { $0["direction"] as? String == "in" }.count == 2)
    }
}
