import Foundation
import GridCore
import Logging
import SCD
import SCDSQLite
import Sodium
import Testing
import TestSupport
import UFTP
@testable import UFTPGateway
import UFTPTransport

/// Every message the platform sends, in every branch, is valid against the official XSD of its
/// version (../shared/anchors/uftp-xsd): a platform playing DSO, CRO and AGR answers every kind
/// of request, accepted and rejected, and takes every action of its roles; each message it
/// queued is then checked against the schema.
@Suite(.enabled(if: Paths.sharedAvailable, "../shared is absent: the XSDs are not at hand"))
struct OutgoingSchemaTests {
    static let us = Examples.domain("dso.example.com")
    static let agr = Examples.domain("agr.example.com")
    static let grid = Examples.domain("grid.example.com")
    static let cro = Examples.domain("cro.example.com")
    static let zone = Examples.zone
    static func ea(_ name: String) -> EntityAddress { try! EntityAddress(validating: "ea1.2023-01.com.example.dso:\(name)") }

    final class Rig: Sendable {
        let folder = TemporaryDirectory()
        let store: SQLiteStore
        let receiver: UFTPReceiver
        let actions: UFTPActions
        let version: SpecVersion
        let keys: [InternetDomain: SigningKey] = [OutgoingSchemaTests.agr: .generate(), OutgoingSchemaTests.grid: .generate()]

        init(version: SpecVersion) throws {
            self.version = version
            store = try SQLiteStore(path: folder.path + "/scd.sqlite")
            let endpoint = "http://127.0.0.1:9/shapeshifter/api/v3/message"
            let directory = ParticipantsFile(participants: [
                Participant(domain: OutgoingSchemaTests.agr, role: .agr, endpoint: endpoint, keys: [keys[OutgoingSchemaTests.agr]!.publicKey]),
                Participant(domain: OutgoingSchemaTests.grid, role: .dso, endpoint: endpoint, keys: [keys[OutgoingSchemaTests.grid]!.publicKey]),
                Participant(domain: OutgoingSchemaTests.cro, role: .cro, endpoint: endpoint, keys: [SigningKey.generate().publicKey]),
            ])
            let terms = MarketTerms(ispMinutes: 15, timeZone: TimeZone(identifier: "Europe/Amsterdam")!)
            let responder = UFTPResponder(domain: OutgoingSchemaTests.us, roles: [.dso, .cro, .agr], signingKey: SigningKey.generate(),
                                          directory: directory, store: store, terms: terms, logger: Logger(label: "test"),
                                          commonReference: CommonReference(store: store, mode: .open, timeZone: terms.timeZone),
                                          croDomain: OutgoingSchemaTests.us)
            receiver = UFTPReceiver(directory: directory, inbox: SCDInbox(store: store, responder: responder, logger: Logger(label: "test")))
            actions = UFTPActions(responder: responder)
        }

        /// Posts `payload` from `sender` in its role; the transport's answer and the message.
        @discardableResult
        func post(_ payload: any UFTPPayload, from sender: InternetDomain, messageID: UUIDValue = .random(),
                  conversation: UUIDValue = .random(), at time: Timestamp = .now()) async -> (answer: TransportAnswer, message: UFTPMessage) {
            let message = UFTPMessage(metadata: Metadata(version: version, senderDomain: sender, recipientDomain: OutgoingSchemaTests.us,
                                                         timeStamp: DateTime(time), messageID: messageID, conversationID: conversation),
                                      payload: payload)
            let document = SignedMessage(sealing: message, role: sender == OutgoingSchemaTests.grid ? .dso : .agr, key: keys[sender]!).encode()
            return (await receiver.receive(contentType: "text/xml", contentLength: document.count, body: document, now: .now()), message)
        }

        /// The response queued for message `id`.
        func response(to id: UUIDValue) async throws -> (any UFTPResponse)? {
            try await store.uftpMessages(UFTPMessageQuery(limit: 10_000)).filter { $0.direction == .outbound }
                .compactMap { try UFTPCodec.decode($0.payload).payload as? any UFTPResponse }
                .first { $0.referencedMessageID == id }
        }

        func act(_ action: UFTPAction, _ draft: String) async throws -> UUIDValue {
            try UUIDValue(validating: try await actions.perform(action, draft: Array(draft.utf8)).messageID)
        }
    }

    /// A message as `version` allows: 3.0.0 has no Unsolicited or ServiceType.
    static func inVersion(_ payload: any UFTPPayload, _ version: SpecVersion) -> any UFTPPayload {
        guard version == .v3_0_0 else { return payload }
        if var offer = payload as? FlexOffer { offer.unsolicited = nil; return offer }
        if var order = payload as? FlexOrder { order.unsolicited = nil; order.serviceType = nil; return order }
        return payload
    }

    @Test(arguments: ["3.0.0", "3.1.0"])
    func everyMessageSentIsValidAgainstItsXSD(version text: String) async throws {
        let version = try SpecVersion(validating: text)
        let rig = try Rig(version: version)
        let tomorrow = UFTPResponderTests.period(days: 1)
        let count = MarketTerms(ispMinutes: 15, timeZone: TimeZone(identifier: "Europe/Amsterdam")!).ispCount(tomorrow)
        let expiration = Timestamp.now().adding(milliseconds: 3_600_000).rfc3339

        // Rejections of every request kind: each example (of a day gone by), then its MessageID
        // again with other content (Duplicate Identifier).
        for case let request as any UFTPRequest in Examples.payloads {
            let sender = type(of: request).senderRole == .dso ? Self.grid : Self.agr
            let payload = Self.inVersion(request, version)
            let (first, message) = await rig.post(payload, from: sender)
            let again = await rig.post(payload, from: sender, messageID: message.metadata.messageID, at: .now().adding(milliseconds: 1_000)).answer
            for answer in [first, again] where !(request is AGRPortfolioQuery) {
                #expect(answer == .stored, "\(message.typeName): \(answer)")
            }
        }

        // The Common Reference: cp-1 with c-1 (grid's), c-1 represented by agr; both queries.
        let day = tomorrow.text
        await rig.post(DSOPortfolioUpdate(timeZone: Self.zone, congestionPoints: [.init(
            entityAddress: Self.ea("cp-1"), startPeriod: tomorrow.adding(days: -1), mutexOffersSupported: false, dayAheadRedispatchBy: .dso,
            connections: [.init(entityAddress: Self.ea("c-1"), startPeriod: tomorrow.adding(days: -1))])]), from: Self.grid)
        await rig.post(AGRPortfolioUpdate(timeZone: Self.zone, connections: [.init(entityAddress: Self.ea("c-1"), startPeriod: tomorrow.adding(days: -1))]),
                       from: Self.agr)
        let query = await rig.post(AGRPortfolioQuery(timeZone: Self.zone, period: tomorrow), from: Self.agr)
        #expect(try await rig.response(to: query.message.metadata.messageID)?.result == .accepted)
        await rig.post(DSOPortfolioQuery(timeZone: Self.zone, period: tomorrow, entityAddress: Self.ea("cp-1")), from: Self.grid)
        await rig.post(TestMessage(), from: Self.agr)

        // The DSO side: agr's D-Prognosis, our request, its offer, our order, its updated
        // prognoses (one reflecting the order, one not), our settlement and reservation update.
        func prognosis(revision: Int64, power: (Int) -> Int, point: String = "cp-1") -> DPrognosis {
            DPrognosis(ispDuration: Examples.quarter, timeZone: Self.zone, period: tomorrow, congestionPoint: Self.ea(point), revision: revision,
                       isps: (1...count).map { .init(power: power($0), start: $0) })
        }
        let baseline = await rig.post(prognosis(revision: 1) { _ in 1000 }, from: Self.agr).message
        #expect(try await rig.response(to: baseline.metadata.messageID)?.result == .accepted)
        let elsewhere = await rig.post(prognosis(revision: 1, power: { _ in 1000 }, point: "cp-2"), from: Self.agr).message
        #expect(try await rig.response(to: elsewhere.metadata.messageID)?.rejectionReason?.hasPrefix(RejectionReason.invalidCongestionPoint) == true)
        let requestID = try await rig.act(.flexRequest, #"{"recipient":"agr.example.com","congestion_point":"\#(Self.ea("cp-1").text)","period":"\#(day)","expiration":"\#(expiration)","version":"\#(text)","isps":[{"start":40,"duration":2,"min_power":-5000,"max_power":-1000},{"start":42,"duration":10,"min_power":0,"max_power":0,"disposition":"Available"}]}"#)
        let conversation = try #require(try await rig.store.uftpMessages(UFTPMessageQuery(messageID: requestID.text)).first?.conversationID)
        let offer = await rig.post(FlexOffer(
            ispDuration: Examples.quarter, timeZone: Self.zone, period: tomorrow, congestionPoint: Self.ea("cp-1"),
            expirationDateTime: DateTime(.now().adding(milliseconds: 3_000_000)), flexRequestMessageID: requestID,
            dPrognosisMessageID: baseline.metadata.messageID, currency: Examples.eur,
            options: [.init(optionReference: "A", price: Examples.amount("10"), isps: [.init(power: -2000, start: 40, duration: 2)])]),
            from: Self.agr, conversation: try UUIDValue(validating: conversation)).message
        #expect(try await rig.response(to: offer.metadata.messageID)?.result == .accepted)
        let orderID = try await rig.act(.flexOrder, #"{"offer_message_id":"\#(offer.metadata.messageID.text)"}"#)
        await rig.post(FlexOrderResponse(result: .accepted, referencedMessageID: orderID), from: Self.agr, conversation: offer.metadata.conversationID)
        let reflecting = await rig.post(prognosis(revision: 2) { [40, 41].contains($0) ? -1000 : 1000 }, from: Self.agr).message
        let reflected = try #require(try await rig.response(to: reflecting.metadata.messageID) as? DPrognosisResponse)
        #expect(reflected.result == .accepted && reflected.flexOrderStatuses == [.init(flexOrderMessageID: orderID, isValidated: true)])
        let ignoring = await rig.post(prognosis(revision: 3) { _ in 1000 }, from: Self.agr).message
        let ignored = try #require(try await rig.response(to: ignoring.metadata.messageID) as? DPrognosisResponse)
        #expect(ignored.result == .rejected && ignored.flexOrderStatuses == [.init(flexOrderMessageID: orderID, isValidated: false)])
        #expect(ignored.rejectionReason == UseCaseValidation.orderNotReflected([orderID]))
        _ = try await rig.act(.flexSettlement, #"{"period_start":"\#(day)","period_end":"\#(day)","orders":[{"order_message_id":"\#(orderID.text)","price":"10","isps":[{"start":40,"duration":2,"baseline_power":1000,"actual_power":-1000,"delivered_flex_power":-2000}]}]}"#)
        _ = try await rig.act(.flexReservationUpdate, #"{"recipient":"agr.example.com","congestion_point":"\#(Self.ea("cp-1").text)","period":"\#(day)","contract_id":"c-1","isps":[{"start":40,"duration":2,"power":0}]}"#)
        _ = try await rig.act(.portfolioUpdate, #"{"recipient":"cro.example.com","congestion_points":[{"entity_address":"\#(Self.ea("cp-9").text)","start":"\#(day)","mutex_offers_supported":false,"day_ahead_redispatch_by":"DSO","connections":[{"entity_address":"\#(Self.ea("c-9").text)","start":"\#(day)"}]}]}"#)
        _ = try await rig.act(.portfolioQuery, #"{"recipient":"cro.example.com","congestion_point":"\#(Self.ea("cp-9").text)","period":"\#(day)"}"#)
        let unsolicited = await rig.post(Self.inVersion(FlexOffer(
            ispDuration: Examples.quarter, timeZone: Self.zone, period: tomorrow, congestionPoint: Self.ea("cp-1"),
            expirationDateTime: DateTime(.now().adding(milliseconds: 3_000_000)), unsolicited: true,
            flexRequestMessageID: version == .v3_0_0 ? requestID : nil, currency: Examples.eur,
            options: [.init(optionReference: "B", price: Examples.amount("10"), isps: [.init(power: -2000, start: 40)])]), version),
            from: Self.agr, conversation: offer.metadata.conversationID).message
        await rig.post(FlexOfferRevocation(flexOfferMessageID: unsolicited.metadata.messageID), from: Self.agr, conversation: offer.metadata.conversationID)

        // The AGR side: grid's request, our offer, grid's order, its settlement and reservation
        // update; our prognosis and a revoked second offer.
        let theirRequest = await rig.post(FlexRequest(
            ispDuration: Examples.quarter, timeZone: Self.zone, period: tomorrow, congestionPoint: Self.ea("cp-7"), revision: 1,
            expirationDateTime: DateTime(.now().adding(milliseconds: 3_000_000)),
            isps: [.init(disposition: .requested, minPower: -5000, maxPower: -1000, start: 50, duration: 2)]), from: Self.grid).message
        #expect(try await rig.response(to: theirRequest.metadata.messageID)?.result == .accepted)
        let ourOffer = try await rig.act(.flexOffer, #"{"flex_request_message_id":"\#(theirRequest.metadata.messageID.text)","expiration":"\#(expiration)","options":[{"option_reference":"A","price":"12.50","isps":[{"start":50,"duration":2,"power":-2000}]}]}"#)
        let theirOrder = await rig.post(Self.inVersion(FlexOrder(
            ispDuration: Examples.quarter, timeZone: Self.zone, period: tomorrow, congestionPoint: Self.ea("cp-7"), flexOfferMessageID: ourOffer,
            price: Examples.amount("12.50"), currency: Examples.eur, orderReference: "O-7", isps: [.init(power: -2000, start: 50, duration: 2)]), version),
            from: Self.grid, conversation: theirRequest.metadata.conversationID).message
        #expect(try await rig.response(to: theirOrder.metadata.messageID)?.result == .accepted)
        for reference in ["O-7", "O-unknown"] {
            await rig.post(FlexSettlement(periodStart: tomorrow, periodEnd: tomorrow, currency: Examples.eur, orderSettlements: [.init(
                orderReference: reference, period: tomorrow, congestionPoint: Self.ea("cp-7"), price: Examples.amount("12.5"),
                netSettlement: Examples.amount("12.5"),
                isps: [.init(start: 50, duration: 2, baselinePower: 0, orderedFlexPower: -2000, actualPower: -2000, deliveredFlexPower: -2000)])],
                contractSettlements: [FlexSettlement.ContractSettlement(contractID: nil, periods: [.init(period: tomorrow, isps: [
                    .init(start: 50, duration: 2, reservedPower: 0, orderedPower: -2000)])])]), from: Self.grid)
        }
        await rig.post(FlexReservationUpdate(ispDuration: Examples.quarter, timeZone: Self.zone, period: tomorrow, congestionPoint: Self.ea("cp-7"),
                                             contractID: "c-7", reference: "r-7", isps: [.init(power: 0, start: 50, duration: 2)]), from: Self.grid)
        _ = try await rig.act(.dPrognosis, #"{"recipient":"grid.example.com","congestion_point":"\#(Self.ea("cp-7").text)","period":"\#(day)","isps":[{"start":1,"duration":\#(count),"power":-500}]}"#)
        let secondOffer = try await rig.act(.flexOffer, #"{"flex_request_message_id":"\#(theirRequest.metadata.messageID.text)","expiration":"\#(expiration)","options":[{"option_reference":"B","price":"9","isps":[{"start":51,"power":-1000}]}]}"#)
        _ = try await rig.act(.flexOfferRevocation, #"{"offer_message_id":"\#(secondOffer.text)"}"#)

        // Every message queued validates, and every kind of response went out with each result
        // UFTP can express (a rejected AGRPortfolioQuery is answered over HTTP).
        var seen: Set<String> = []
        var validators: [String: SchemaValidator] = [:]
        for record in try await rig.store.uftpMessages(UFTPMessageQuery(limit: 10_000)) where record.direction == .outbound {
            let message = try UFTPCodec.decode(record.payload)
            #expect(message.metadata.version == version || !(message.payload is any UFTPResponse), "\(record.type) answers in the request's version")
            let file = message.metadata.version == .v3_0_0 ? Examples.schemaFile30(record.type) : "UFTP.xsd"
            if validators[message.metadata.version.text + file] == nil {
                validators[message.metadata.version.text + file] = SchemaValidator(version: message.metadata.version.text, file: file)
            }
            let schema = try #require(validators[message.metadata.version.text + file])
            #expect(schema.problems(record.payload) == nil, "\(record.type) \(message.metadata.version.text): \(schema.problems(record.payload) ?? "")")
            seen.insert(record.type + ((message.payload as? any UFTPResponse).map { " " + $0.result.rawValue } ?? ""))
        }
        let responses = Examples.payloads.compactMap { $0 as? any UFTPResponse }.map { type(of: $0).elementName }
        for response in responses where response != "TestMessageResponse" {
            #expect(seen.contains(response + " Accepted"), "\(response) Accepted never sent")
            #expect(seen.contains(response + " Rejected") || response == "AGRPortfolioQueryResponse", "\(response) Rejected never sent")
        }
        for request in ["FlexRequest", "FlexOrder", "FlexSettlement", "FlexReservationUpdate", "DSOPortfolioUpdate", "DSOPortfolioQuery",
                        "D-Prognosis", "FlexOffer", "FlexOfferRevocation"] {
            #expect(seen.contains(request), "no \(request) sent")
        }
    }
}
