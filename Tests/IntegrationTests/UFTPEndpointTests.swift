import Dispatch
import Foundation
import GridCore
import Sodium
import Testing
import TestSupport
import UFTP

/// The reference implementation's AGR client (PyPI shapeshifter-uftp) posting to the
/// coordinator's UFTP endpoint: accepted messages are answered 200 and kept in the message log
/// as sent; a message sealed with a key the participants file does not hold is refused 401.
@Suite(.enabled(if: Paths.pythonTestsEnabled, "needs the test venv (make test)"))
struct UFTPEndpointTests {
    /// A coordinator playing DSO and CRO for dso.example.com, knowing agr.example.com (AGR) at
    /// `agrPort`; the AGR's key and a key nobody registered, as the reference takes them (base64).
    final class Rig {
        let broker: MosquittoBroker
        let folder = TemporaryDirectory("coordinator")
        let coordinator: CoordinatorProcess
        let agrKey = SigningKey.generate()
        let dsoKey = SigningKey.generate()
        let agrPort = FreePort.allocate()
        let token: String

        init() throws {
            broker = try MosquittoBroker()
            try dsoKey.write(toNewFile: folder.file("uftp.key"))
            try agrKey.write(toNewFile: folder.file("agr.key"))
            try SigningKey.generate().write(toNewFile: folder.file("forged.key"))
            try folder.writeParticipants([("agr.example.com", "AGR", agrPort, agrKey.publicKey)])
            coordinator = try CoordinatorProcess(mqttPort: broker.port, extraConfig: """
                [uftp]
                domain = "dso.example.com"
                roles = ["DSO", "CRO"]
                signing_key_file = "uftp.key"
                participants_file = "participants.toml"
                """, folder: folder)
            token = try coordinator.addToken(role: "DSO")
            try coordinator.start()
        }

        deinit {
            coordinator.stop()
            broker.stop()
        }

        var endpoint: String { "http://127.0.0.1:\(coordinator.httpPort)/shapeshifter/api/v3/message" }

        /// Runs the reference AGR client: a D-Prognosis and a FlexOffer, and one forged.
        func send(version: String) throws -> (conversation: String, sent: [[String: Any]], forgedStatus: Int?) {
            let python = try #require(Paths.python, "the test venv is missing")
            let outcome = try Processes.run(python, [
                Paths.pythonScript("uftp_agr_send.py"), endpoint, "agr.example.com", try folder.secret("agr.key"),
                "dso.example.com", version, try folder.secret("forged.key"),
            ])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let result = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
            return (try #require(result["conversation"] as? String), try #require(result["sent"] as? [[String: Any]]),
                    (result["forged"] as? [String: Any])?["status"] as? Int)
        }

        /// The message log of one conversation, through the API.
        func stored(conversation: String) throws -> [[String: Any]] {
            let answer = try coordinator.get("/api/v1/uftp/messages?conversation_id=\(conversation)", token: token)
            #expect(answer.status == 200)
            return try #require(try JSONSerialization.jsonObject(with: answer.body) as? [String: Any])["items"] as? [[String: Any]] ?? []
        }
    }

    /// The reference AGR service (Tests/python/uftp_agr_peer.py) at the rig's AGR endpoint.
    static func referenceAGR(_ rig: Rig, limit: Double) throws -> ReferencePeer {
        try ReferencePeer(script: "uftp_agr_peer.py", [
            "\(rig.agrPort)", "agr.example.com", try rig.folder.secret("agr.key"),
            "dso.example.com", Base64.encode(rig.dsoKey.publicKey.bytes), rig.endpoint,
        ], log: rig.folder.file("agr-peer.log"), limit: limit)
    }

    @Test(arguments: ["3.0.0", "3.1.0"])
    func referenceAGRMessagesAreStoredAsSent(version: String) throws {
        let rig = try Rig()
        let (conversation, messages, forged) = try rig.send(version: version)
        #expect(messages.map { $0["status"] as? Int } == [200, 200], "\(rig.coordinator.log)")
        #expect(forged == 401)

        let stored = try rig.stored(conversation: conversation).filter { $0["direction"] as? String == "in" }
        #expect(stored.map { $0["type"] as? String } == ["D-Prognosis", "FlexOffer"], "the forged one is not among them")
        #expect(stored.map { $0["message_id"] as? String } == messages.map { $0["message_id"] as? String })
        let agrKey = rig.agrKey
        for item in stored {
            #expect(item["direction"] as? String == "in" && item["sender_domain"] as? String == "agr.example.com")
            // What is kept is what the reference signed: it opens under the AGR's key and parses.
            let signed = try SignedMessage.decode(Array((item["signed"] as? String ?? "").utf8))
            let payload = try #require(signed.open(keys: [agrKey.publicKey]))
            #expect(Array((item["payload"] as? String ?? "").utf8) == payload)
            #expect(try UFTPCodec.decode(payload).metadata.version.text == version)
        }
    }

    /// The whole exchange: our DSO answers each message with its response, signed, to the
    /// reference AGR's endpoint; the AGR is down at first, so the responses wait in the durable
    /// queue and arrive once it is up.
    @Test func theReferenceAGRReceivesEachResponseOnceItIsUp() throws {
        let rig = try Rig()
        let (conversation, messages, _) = try rig.send(version: "3.1.0")
        #expect(messages.map { $0["status"] as? Int } == [200, 200], "\(rig.coordinator.log)")
        // Both responses queued, and at least one attempt met the AGR down.
        let attempted = try waitUntil(timeoutSeconds: 60, pollMilliseconds: 200) {
            let out = try rig.stored(conversation: conversation).filter { $0["direction"] as? String == "out" }
            return out.count == 2 && out.allSatisfy { (($0["delivery"] as? [String: Any])?["attempts"] as? Int ?? 0) >= 1 }
        }
        #expect(attempted, "\(rig.coordinator.log)")

        let agr = try Self.referenceAGR(rig, limit: 120)
        let received = ["DPrognosisResponse", "FlexOfferResponse"].compactMap { type in agr.line { $0["type"] as? String == type } }
        #expect(received.map { $0["type"] as? String } == ["DPrognosisResponse", "FlexOfferResponse"], "\(rig.coordinator.log)\n\(agr.log)")
        #expect(received.allSatisfy { $0["result"] as? String == "Accepted" && $0["conversation_id"] as? String == conversation })
        #expect(Set(received.compactMap { $0["referenced_message_id"] as? String }) == Set(messages.compactMap { $0["message_id"] as? String }))
        let delivered = try waitUntil(timeoutSeconds: 30, pollMilliseconds: 200) {
            try rig.stored(conversation: conversation).filter { $0["direction"] as? String == "out" }
                .allSatisfy { ($0["delivery"] as? [String: Any])?["state"] as? String == "delivered" }
        }
        #expect(delivered)
    }

    /// The DSO's side with the reference AGR service as the aggregator: a FlexRequest drafted
    /// through the REST API reaches it; its FlexOffer answering the request is checked against
    /// the request and accepted; the order placed through the REST API reaches it, the option
    /// scaled by the activation factor.
    @Test func theDSOsRequestAndOrderReachTheReferenceAGR() throws {
        let rig = try Rig()
        let agr = try Self.referenceAGR(rig, limit: 180)
        func line(_ predicate: ([String: Any]) -> Bool) -> [String: Any]? { agr.line(predicate) }
        func diagnostics() -> String { "\(rig.coordinator.log)\n\(agr.log)" }
        #expect(line { $0["listening"] != nil } != nil, "\(diagnostics())")

        let tomorrow = String(Timestamp.now().adding(milliseconds: 86_400_000).rfc3339.prefix(10))
        let draft = #"{"recipient":"agr.example.com","congestion_point":"ea1.2023-01.com.example.dso:cp-1","period":"\#(tomorrow)","expiration":"\#(Timestamp.now().adding(milliseconds: 3_600_000).rfc3339)","isps":[{"start":40,"duration":2,"min_power":-5000,"max_power":-1000}]}"#
        let posted = try rig.coordinator.request("POST", "/api/v1/uftp/flex-requests", token: rig.token, body: Data(draft.utf8))
        #expect(posted.status == 202, "\(String(decoding: posted.body, as: UTF8.self))")
        let receipt = try #require(try JSONSerialization.jsonObject(with: posted.body) as? [String: Any])
        let conversation = try #require(receipt["conversation_id"] as? String)

        let request = try #require(line { $0["type"] as? String == "FlexRequest" }, "\(diagnostics())")
        #expect(request["conversation_id"] as? String == conversation)
        let sent = try #require(line { $0["offer_sent"] != nil }, "\(diagnostics())")
        #expect(sent["status"] as? Int == 200, "\(diagnostics())")
        let offerID = try #require(sent["offer_sent"] as? String)
        let answer = try #require(line { $0["type"] as? String == "FlexOfferResponse" }, "\(diagnostics())")
        #expect(answer["result"] as? String == "Accepted" && answer["referenced_message_id"] as? String == offerID, "\(answer)")
        // The log shows each request with its answer: the offer with the DSO's acceptance.
        let logged = try rig.stored(conversation: conversation)
        #expect(logged.map { $0["type"] as? String } == ["FlexRequest", "FlexOffer", "FlexOfferResponse"])
        let offerAnswer = logged.first { $0["message_id"] as? String == offerID }?["answer"] as? [String: Any]
        #expect(offerAnswer?["result"] as? String == "Accepted" && logged[0]["answer"] == nil)

        let order = #"{"offer_message_id":"\#(offerID)","activation_factor":"0.50"}"#
        let ordered = try rig.coordinator.request("POST", "/api/v1/uftp/flex-orders", token: rig.token, body: Data(order.utf8))
        #expect(ordered.status == 202, "\(String(decoding: ordered.body, as: UTF8.self))")
        let received = try #require(line { $0["type"] as? String == "FlexOrder" }, "\(diagnostics())")
        #expect(received["flex_offer_message_id"] as? String == offerID && received["conversation_id"] as? String == conversation)
        #expect(received["powers"] as? [Int] == [-1000] && received["option_reference"] as? String == "A", "\(received)")
        #expect(Decimal(string: received["price"] as? String ?? "") == Decimal(string: "6.25"), "\(received)")
        // Ordered once: a second order is refused.
        #expect(try rig.coordinator.request("POST", "/api/v1/uftp/flex-orders", token: rig.token, body: Data(order.utf8)).status == 409)

        // Settled once the aggregator accepted the order (its FlexOrderResponse is in the log).
        let orderID = try #require(try JSONSerialization.jsonObject(with: ordered.body) as? [String: Any])["message_id"] as? String
        let acceptedOrder = try waitUntil(timeoutSeconds: 120) {
            let entry = try rig.stored(conversation: conversation).first { $0["message_id"] as? String == orderID }
            return (entry?["answer"] as? [String: Any])?["result"] as? String == "Accepted"
        }
        #expect(acceptedOrder, "\(diagnostics())")
        let settlement = #"{"period_start":"\#(tomorrow)","period_end":"\#(tomorrow)","orders":[{"order_message_id":"\#(orderID ?? "")","price":"6.25","penalty":"1.25","isps":[{"start":40,"baseline_power":0,"actual_power":-800,"delivered_flex_power":-800,"power_deficiency":200}]}],"contracts":[{"contract_id":"c-1","periods":[{"period":"\#(tomorrow)","isps":[{"start":40,"reserved_power":-1000}]}]}]}"#
        let settled = try rig.coordinator.request("POST", "/api/v1/uftp/flex-settlements", token: rig.token, body: Data(settlement.utf8))
        #expect(settled.status == 202, "\(String(decoding: settled.body, as: UTF8.self))")
        let statement = try #require(line { $0["type"] as? String == "FlexSettlement" }, "\(diagnostics())")
        let settledOrder = try #require((statement["orders"] as? [[String: String]])?.first, "\(statement)")
        #expect(settledOrder["order_reference"] == received["order_reference"] as? String && settledOrder["ordered"] == "-1000")
        #expect(Decimal(string: settledOrder["net_settlement"] ?? "") == Decimal(string: "5.00"), "\(statement)")
        let outside = settlement.replacingOccurrences(of: #""start":40,"#, with: #""start":60,"#)
        #expect(try rig.coordinator.request("POST", "/api/v1/uftp/flex-settlements", token: rig.token, body: Data(outside.utf8)).status == 400)

        // A reservation released (FR18): the aggregator receives the update.
        let release = #"{"recipient":"agr.example.com","congestion_point":"ea1.2023-01.com.example.dso:cp-1","period":"\#(tomorrow)","contract_id":"c-1","isps":[{"start":40,"duration":2,"power":0}]}"#
        let released = try rig.coordinator.request("POST", "/api/v1/uftp/flex-reservation-updates", token: rig.token, body: Data(release.utf8))
        #expect(released.status == 202, "\(String(decoding: released.body, as: UTF8.self))")
        #expect(line { $0["type"] as? String == "FlexReservationUpdate" } != nil, "\(diagnostics())")
        let beyond = release.replacingOccurrences(of: #""start":40,"#, with: #""start":120,"#)
        #expect(try rig.coordinator.request("POST", "/api/v1/uftp/flex-reservation-updates", token: rig.token, body: Data(beyond.utf8)).status == 400)
        #expect(rig.coordinator.refusedDeliveries.isEmpty, "\(diagnostics())")
    }

    /// `coordinator uftp request` beside the serving coordinator: the draft is queued in the SCD
    /// and the serving process takes it up for delivery; a draft the aggregator would reject,
    /// and an order for an offer never received, exit 2 with the reason.
    @Test func draftsFromTheCommandLineAreQueuedForTheServingCoordinator() throws {
        let rig = try Rig()
        let tomorrow = String(Timestamp.now().adding(milliseconds: 86_400_000).rfc3339.prefix(10))
        func draft(start: Int) throws -> String {
            let path = rig.folder.file("request-\(start).json")
            try #"{"recipient":"agr.example.com","congestion_point":"ea1.2023-01.com.example.dso:cp-1","period":"\#(tomorrow)","expiration":"\#(Timestamp.now().adding(milliseconds: 3_600_000).rfc3339)","isps":[{"start":\#(start),"min_power":-5000,"max_power":-1000}]}"#
                .write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let queued = try rig.coordinator.command(["uftp", "request", "--file", try draft(start: 40)])
        #expect(queued.status == 0, "\(queued.stderr)")
        let receipt = try #require(try JSONSerialization.jsonObject(with: Data(queued.stdout.utf8)) as? [String: Any])
        let conversation = try #require(receipt["conversation_id"] as? String)
        // The AGR is down: the serving coordinator's attempts show it took the message up.
        let attempted = try waitUntil(timeoutSeconds: 60, pollMilliseconds: 200) {
            try rig.stored(conversation: conversation).contains {
                $0["type"] as? String == "FlexRequest" && (($0["delivery"] as? [String: Any])?["attempts"] as? Int ?? 0) >= 1
            }
        }
        #expect(attempted, "\(rig.coordinator.log)")

        let refused = try rig.coordinator.command(["uftp", "request", "--file", try draft(start: 120)])
        #expect(refused.status == 2 && refused.stderr.contains("ISPs out of bounds"), "\(refused.stderr)")
        let order = rig.folder.file("order.json")
        try #"{"offer_message_id":"\#(UUID().uuidString.lowercased())"}"#.write(toFile: order, atomically: true, encoding: .utf8)
        let unknown = try rig.coordinator.command(["uftp", "order", "--file", order])
        #expect(unknown.status == 2 && unknown.stderr.contains("no FlexOffer"), "\(unknown.stderr)")
    }
}
