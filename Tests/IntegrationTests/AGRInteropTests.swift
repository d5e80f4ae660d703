import Foundation
import GridCore
import Sodium
import Testing
import TestSupport
import UFTP

/// The coordinator as an aggregator (`[uftp] roles = ["AGR"]`) with the reference
/// implementation's DSO service (PyPI shapeshifter-uftp, Tests/python/uftp_dso_peer.py) as the
/// DSO: the reference DSO's FlexRequest is stored and accepted; our D-Prognosis and our offer
/// answering the request, drafted through the REST API, reach it and are accepted; it orders the
/// offer, our AGR checks the order against the offer and accepts it; it settles the order; our
/// second offer is revoked, and its order placed after the revocation is refused; its reservation
/// update and TestMessage are answered; no message of ours is refused. Both ends' records are
/// asserted: what the reference DSO received and answered, and what our message log holds.
@Suite(.enabled(if: Paths.pythonTestsEnabled, "needs the test venv (make test)"))
struct AGRInteropTests {
    @Test(arguments: ["3.0.0", "3.1.0"])
    func ourAggregatorTradesWithTheReferenceDSO(version: String) throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let folder = TemporaryDirectory("coordinator")
        let agrKey = SigningKey.generate(), dsoKey = SigningKey.generate()
        let dsoPort = FreePort.allocate()
        try agrKey.write(toNewFile: folder.file("uftp.key"))
        try dsoKey.write(toNewFile: folder.file("dso.key"))
        try folder.writeParticipants([("dso.example.com", "DSO", dsoPort, dsoKey.publicKey)])
        let coordinator = try CoordinatorProcess(mqttPort: broker.port, extraConfig: """
            [uftp]
            domain = "agr.example.com"
            roles = ["AGR"]
            signing_key_file = "uftp.key"
            participants_file = "participants.toml"
            """, folder: folder)
        let token = try coordinator.addToken(role: "admin")
        let dsoToken = try coordinator.addToken(role: "DSO")
        try coordinator.start()
        defer { coordinator.stop() }

        let tomorrow = String(Timestamp.now().adding(milliseconds: 86_400_000).rfc3339.prefix(10))
        let dso = try ReferencePeer(script: "uftp_dso_peer.py", [
            "\(dsoPort)", "dso.example.com", try folder.secret("dso.key"),
            "agr.example.com", Base64.encode(agrKey.publicKey.bytes),
            "http://127.0.0.1:\(coordinator.httpPort)/shapeshifter/api/v3/message", version, tomorrow,
        ], log: folder.file("dso-peer.log"), limit: 240)
        func line(_ predicate: ([String: Any]) -> Bool) -> [String: Any]? { dso.line(predicate) }
        func diagnostics() -> String { "\(coordinator.log)\n\(dso.log)" }
        func post(_ resource: String, _ draft: String, as caller: String? = nil) throws -> (status: Int, json: [String: Any]) {
            let answer = try coordinator.request("POST", "/api/v1/uftp/\(resource)", token: caller ?? token, body: Data(draft.utf8))
            return (answer.status, (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any]) ?? [:])
        }
        func stored(conversation: String) throws -> [[String: Any]] {
            let answer = try coordinator.get("/api/v1/uftp/messages?conversation_id=\(conversation)", token: token)
            return try #require(try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])["items"] as? [[String: Any]] ?? []
        }

        // Their FlexRequest: stored by our AGR, answered Accepted.
        let sent = try #require(line { $0["request_sent"] != nil }, "\(diagnostics())")
        #expect(sent["status"] as? Int == 200, "\(diagnostics())")
        let requestID = try #require(sent["request_sent"] as? String)
        let conversation = try #require(sent["conversation_id"] as? String)
        let requestAnswer = try #require(line { $0["type"] as? String == "FlexRequestResponse" }, "\(diagnostics())")
        #expect(requestAnswer["result"] as? String == "Accepted" && requestAnswer["referenced_message_id"] as? String == requestID, "\(requestAnswer)")

        // Our D-Prognosis for the whole day, accepted by their DSO.
        let prognosis = #"{"recipient":"dso.example.com","congestion_point":"ea1.2023-01.com.example.dso:cp-1","period":"\#(tomorrow)","isps":[{"start":1,"duration":96,"power":-500}]}"#
        let prognosed = try post("d-prognoses", prognosis)
        #expect(prognosed.status == 202, "\(prognosed.json)")
        let received = try #require(line { $0["type"] as? String == "DPrognosis" }, "\(diagnostics())")
        #expect(received["message_id"] as? String == prognosed.json["message_id"] as? String && received["isps"] as? Int == 96)
        // An aggregator's action is the platform's: a DSO token may not take it, and a day not covered is refused.
        #expect(try post("d-prognoses", prognosis, as: dsoToken).status == 403)
        #expect(try post("d-prognoses", prognosis.replacingOccurrences(of: #""duration":96"#, with: #""duration":90"#)).status == 400)

        // Our offer answering the request (option A, ordered by their DSO) and a second one (B, to be revoked).
        let expiration = Timestamp.now().adding(milliseconds: 3_600_000).rfc3339
        let offer = #"{"flex_request_message_id":"\#(requestID)","expiration":"\#(expiration)","options":[{"option_reference":"A","price":"12.50","isps":[{"start":40,"duration":2,"power":-2000}]}]}"#
        let offered = try post("flex-offers", offer)
        #expect(offered.status == 202 && offered.json["conversation_id"] as? String == conversation, "\(offered.json)")
        let offerID = try #require(offered.json["message_id"] as? String)
        let theirOffer = try #require(line { $0["type"] as? String == "FlexOffer" && $0["message_id"] as? String == offerID }, "\(diagnostics())")
        #expect(theirOffer["referenced_message_id"] as? String == requestID && theirOffer["version"] as? String == version, "\(theirOffer)")
        let order = try #require(line { $0["order_sent"] != nil }, "\(diagnostics())")
        #expect(order["status"] as? Int == 200, "\(diagnostics())")
        let orderID = try #require(order["order_sent"] as? String)

        // Our AGR accepted the order (it repeats the offer) and its settlement.
        let orderAnswer = try #require(line { $0["type"] as? String == "FlexOrderResponse" && $0["referenced_message_id"] as? String == orderID }, "\(diagnostics())")
        #expect(orderAnswer["result"] as? String == "Accepted" && orderAnswer["referenced_message_id"] as? String == orderID, "\(orderAnswer)")
        let settlement = try #require(line { $0["settlement_sent"] != nil }, "\(diagnostics())")
        #expect(settlement["status"] as? Int == 200, "\(diagnostics())")
        let settlementAnswer = try #require(line { $0["type"] as? String == "FlexSettlementResponse" }, "\(diagnostics())")
        #expect(settlementAnswer["result"] as? String == "Accepted", "\(settlementAnswer)")
        let statuses = try #require(settlementAnswer["statuses"] as? [[String: Any]], "\(settlementAnswer)")
        #expect(statuses.count == 1 && statuses.first?["order_reference"] as? String == settlement["order_reference"] as? String
                && statuses.first?["disposition"] as? String == "Accepted", "\(settlementAnswer)")
        // An ordered offer cannot be revoked.
        #expect(try post("flex-offer-revocations", #"{"offer_message_id":"\#(offerID)"}"#).status == 409)

        let second = offer.replacingOccurrences(of: #""option_reference":"A""#, with: #""option_reference":"B""#)
        let offeredAgain = try post("flex-offers", second)
        #expect(offeredAgain.status == 202, "\(offeredAgain.json)")
        let secondID = try #require(offeredAgain.json["message_id"] as? String)
        let revoked = try post("flex-offer-revocations", #"{"offer_message_id":"\#(secondID)"}"#)
        #expect(revoked.status == 202, "\(revoked.json)")
        let revocation = try #require(line { $0["type"] as? String == "FlexOfferRevocation" }, "\(diagnostics())")
        #expect(revocation["referenced_message_id"] as? String == secondID)
        // Their DSO orders the revoked offer all the same: our AGR refuses it.
        let lateOrder = try #require(line { $0["order_sent"] != nil && $0["order_sent"] as? String != orderID }, "\(diagnostics())")
        let lateOrderID = try #require(lateOrder["order_sent"] as? String)
        let refusal = try #require(line { $0["type"] as? String == "FlexOrderResponse" && $0["referenced_message_id"] as? String == lateOrderID },
                                   "\(diagnostics())")
        #expect(refusal["result"] as? String == "Rejected" && refusal["rejection_reason"] as? String == RejectionReason.referenceMessageRevoked,
                "\(refusal)")

        // Their reservation update and TestMessage are answered too, and the reference took every
        // message our AGR sent.
        let reservation = try #require(line { $0["reservation_sent"] != nil }, "\(diagnostics())")
        #expect(line { $0["type"] as? String == "FlexReservationUpdateResponse" && $0["referenced_message_id"] as? String == reservation["reservation_sent"] as? String }?["result"] as? String == "Accepted", "\(diagnostics())")
        #expect(line { $0["type"] as? String == "TestMessageResponse" } != nil, "\(diagnostics())")
        #expect(coordinator.refusedDeliveries.isEmpty, "\(diagnostics())")

        // Every response of their DSO arrived, Accepted, and our log holds the conversation with
        // each message's answer.
        let accepted = try waitUntil(timeoutSeconds: 120, pollMilliseconds: 200) {
            let items = try stored(conversation: conversation)
            let ours = items.filter { $0["direction"] as? String == "out" && ["FlexOffer", "FlexOfferRevocation"].contains($0["type"] as? String) }
            return ours.count == 3 && ours.allSatisfy { ($0["answer"] as? [String: Any])?["result"] as? String == "Accepted" }
        }
        #expect(accepted, "\(diagnostics())")
        let types = try stored(conversation: conversation).map { $0["type"] as? String ?? "" }
        for type in ["FlexRequest", "FlexRequestResponse", "FlexOffer", "FlexOfferResponse", "FlexOrder", "FlexOrderResponse",
                     "FlexOfferRevocation", "FlexOfferRevocationResponse"] {
            #expect(types.contains(type), "\(type) missing from \(types)")
        }
    }
}
