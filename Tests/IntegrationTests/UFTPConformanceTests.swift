import Foundation
import GridCore
import Sodium
import Testing
import TestSupport
import UFTP

/// The platform as DSO and CRO (`cro_domain` its own) with the reference implementation
/// (PyPI shapeshifter-uftp, Tests/python/uftp_conformance_peers.py) as every counterparty: an
/// aggregator, another DSO and a CRO, each a plain reference service. Every kind of message
/// either side sends reaches the other; every message the platform sends is delivered (a 4xx
/// from the reference fails the test), one at a time to each endpoint; an AGRPortfolioQuery no
/// response can answer is refused over HTTP; an updated D-Prognosis is checked against the order
/// and its response says so; a D-Prognosis for a congestion point where the aggregator has no
/// connections is rejected.
@Suite(.enabled(if: Paths.pythonTestsEnabled, "needs the test venv (make test)"))
struct UFTPConformanceTests {
    @Test(arguments: ["3.0.0", "3.1.0"])
    func theReferenceAcceptsEveryMessageThePlatformSends(version: String) throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let folder = TemporaryDirectory("coordinator")
        let ours = SigningKey.generate(), agrKey = SigningKey.generate(), gridKey = SigningKey.generate(), croKey = SigningKey.generate()
        let agrPort = FreePort.allocate(), gridPort = FreePort.allocate(), croPort = FreePort.allocate()
        for (key, file) in [(ours, "uftp.key"), (agrKey, "agr.key"), (gridKey, "grid.key"), (croKey, "cro.key")] {
            try key.write(toNewFile: folder.file(file))
        }
        try folder.writeParticipants([("agr.example.com", "AGR", agrPort, agrKey.publicKey), ("grid.example.com", "DSO", gridPort, gridKey.publicKey),
                                      ("cro.example.com", "CRO", croPort, croKey.publicKey)])
        let coordinator = try CoordinatorProcess(mqttPort: broker.port, extraConfig: """
            [uftp]
            domain = "dso.example.com"
            roles = ["DSO", "CRO"]
            cro_mode = "open"
            cro_domain = "dso.example.com"
            signing_key_file = "uftp.key"
            participants_file = "participants.toml"
            """, folder: folder)
        let token = try coordinator.addToken(role: "DSO")
        try coordinator.start()
        defer { coordinator.stop() }

        let peers = try ReferencePeer(script: "uftp_conformance_peers.py", [
            "http://127.0.0.1:\(coordinator.httpPort)/shapeshifter/api/v3/message", "dso.example.com", Base64.encode(ours.publicKey.bytes),
            "\(agrPort)", try folder.secret("agr.key"), "\(gridPort)", try folder.secret("grid.key"), "\(croPort)", try folder.secret("cro.key"),
            version,
        ], log: folder.file("peers.log"), limit: 300)
        func diagnostics() -> String { "\(coordinator.log)\n\(peers.log)" }
        func step(_ name: String) -> [String: Any]? { peers.line { $0["step"] as? String == name } }
        func answer(to name: String) -> [String: Any]? {
            guard let id = step(name)?["message_id"] as? String else { return nil }
            return peers.line { $0["referenced_message_id"] as? String == id }
        }
        func act(_ resource: String, _ draft: String) throws -> String? {
            let answer = try coordinator.request("POST", "/api/v1/uftp/\(resource)", token: token, body: Data(draft.utf8))
            #expect(answer.status == 202, "\(resource): \(String(decoding: answer.body, as: UTF8.self))")
            return (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["message_id"] as? String
        }

        // The peers' own messages, each answered as the platform should.
        #expect(peers.line { $0["ready"] != nil } != nil, "\(diagnostics())")
        for name in ["dso_update", "test", "agr_update", "agr_query", "dso_query", "prognosis", "prognosis_elsewhere", "metering"] {
            #expect(step(name)?["status"] as? Int == 200, "\(name): \(diagnostics())")
        }
        for name in ["dso_update", "agr_update", "agr_query", "dso_query", "prognosis", "metering"] {
            #expect(answer(to: name)?["result"] as? String == "Accepted", "\(name): \(diagnostics())")
        }
        #expect(peers.line { $0["type"] as? String == "TestMessageResponse" } != nil)
        #expect(answer(to: "agr_query")?["congestion_points"] as? [String] == ["ea1.2023-01.com.example.dso:cp-1"])
        let early = try #require(step("early_query"))
        #expect(early["status"] as? Int == 400 && (early["reason"] as? String ?? "").contains("No connections available"), "\(early)")
        let elsewhere = try #require(answer(to: "prognosis_elsewhere"), "\(diagnostics())")
        #expect(elsewhere["result"] as? String == "Rejected"
                && (elsewhere["rejection_reason"] as? String ?? "").hasPrefix(RejectionReason.invalidCongestionPoint), "\(elsewhere)")

        // The platform's actions: a request (with an Available ISP), answered by offers A and B
        // and B's revocation; A ordered, the order accepted and reflected in an updated
        // prognosis; the order settled (no bilateral contract), a reservation update, and a
        // declaration and query to the CRO.
        let tomorrow = String(Timestamp.now().adding(milliseconds: 86_400_000).rfc3339.prefix(10))
        let point = "ea1.2023-01.com.example.dso:cp-1"
        let expiration = Timestamp.now().adding(milliseconds: 3_600_000).rfc3339
        _ = try act("flex-requests", #"{"recipient":"agr.example.com","congestion_point":"\#(point)","period":"\#(tomorrow)","expiration":"\#(expiration)","version":"\#(version)","isps":[{"start":40,"duration":2,"min_power":-5000,"max_power":-1000},{"start":42,"duration":4,"min_power":0,"max_power":0,"disposition":"Available"}]}"#)
        let request = try #require(peers.line { $0["type"] as? String == "FlexRequest" }, "\(diagnostics())")
        #expect(request["dispositions"] as? [String] == ["Requested", "Available"])
        for name in ["offer_a", "offer_b", "revocation"] {
            #expect(answer(to: name)?["result"] as? String == "Accepted", "\(name): \(diagnostics())")
        }
        let offerID = try #require(step("offer_a")?["message_id"] as? String)
        let orderID = try #require(try act("flex-orders", #"{"offer_message_id":"\#(offerID)","activation_factor":"0.50"}"#))
        #expect(peers.line { $0["type"] as? String == "FlexOrder" && $0["message_id"] as? String == orderID } != nil, "\(diagnostics())")
        let updated = try #require(answer(to: "updated_prognosis"), "\(diagnostics())")
        #expect(updated["result"] as? String == "Accepted", "\(updated)")
        let statuses = try #require(updated["flex_order_statuses"] as? [[String: Any]])
        #expect(statuses.count == 1 && statuses.first?["flex_order_message_id"] as? String == orderID
                && statuses.first?["is_validated"] as? Bool == true, "\(updated)")

        let accepted = try waitUntil(timeoutSeconds: 120, pollMilliseconds: 200) {
            let items = try JSONSerialization.jsonObject(with: coordinator.get("/api/v1/uftp/messages?sender_domain=agr.example.com&limit=1000",
                                                                                 token: token).body) as? [String: Any]
            return (items?["items"] as? [[String: Any]] ?? []).contains { $0["type"] as? String == "FlexOrderResponse" }
        }
        #expect(accepted, "\(diagnostics())")
        _ = try act("flex-settlements", #"{"period_start":"\#(tomorrow)","period_end":"\#(tomorrow)","orders":[{"order_message_id":"\#(orderID)","price":"6.25","isps":[{"start":40,"duration":2,"baseline_power":1500,"actual_power":500,"delivered_flex_power":-1000}]}]}"#)
        _ = try act("flex-reservation-updates", #"{"recipient":"agr.example.com","congestion_point":"\#(point)","period":"\#(tomorrow)","contract_id":"c-1","isps":[{"start":40,"duration":2,"power":0}]}"#)
        _ = try act("portfolio-updates", #"{"recipient":"cro.example.com","congestion_points":[{"entity_address":"ea1.2023-01.com.example.dso:cp-9","start":"\#(tomorrow)","mutex_offers_supported":false,"day_ahead_redispatch_by":"DSO","connections":[{"entity_address":"ea1.2023-01.com.example.dso:c-9","start":"\#(tomorrow)"}]}]}"#)
        _ = try act("portfolio-queries", #"{"recipient":"cro.example.com","congestion_point":"ea1.2023-01.com.example.dso:cp-9","period":"\#(tomorrow)"}"#)
        for name in ["settlement_response", "reservation_response", "cro_update_response", "cro_query_response"] {
            #expect(step(name)?["status"] as? Int == 200, "\(name): \(diagnostics())")
        }

        // Every kind the platform sends reached the reference, and every message it queued was
        // delivered: none refused.
        let received = Set(peers.printed.compactMap { $0["type"] as? String })
        for kind in ["TestMessageResponse", "DsoPortfolioUpdateResponse", "AgrPortfolioUpdateResponse", "AgrPortfolioQueryResponse",
                     "DsoPortfolioQueryResponse", "DPrognosisResponse", "MeteringResponse", "FlexRequest", "FlexOfferResponse",
                     "FlexOfferRevocationResponse", "FlexOrder", "FlexSettlement", "FlexReservationUpdate", "DsoPortfolioUpdate",
                     "DsoPortfolioQuery"] {
            #expect(received.contains(kind), "\(kind) never reached the reference: \(received.sorted())")
        }
        let delivered = try waitUntil(timeoutSeconds: 60, pollMilliseconds: 200) {
            let items = try JSONSerialization.jsonObject(with: coordinator.get("/api/v1/uftp/messages?limit=1000", token: token).body) as? [String: Any]
            let outgoing = (items?["items"] as? [[String: Any]] ?? []).filter { $0["direction"] as? String == "out" }
            return outgoing.allSatisfy { ($0["delivery"] as? [String: Any])?["state"] as? String == "delivered" }
        }
        #expect(delivered, "\(diagnostics())")
        #expect(coordinator.refusedDeliveries.isEmpty, "\(diagnostics())")
    }
}
