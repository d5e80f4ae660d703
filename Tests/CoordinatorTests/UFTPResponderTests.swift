import Foundation
import GridCore
import Logging
import SCD
import SCDTesting
import Sodium
import Testing
import TestSupport
import UFTP
@testable import UFTPGateway
import UFTPTransport

/// What the DSO answers: accepted when every check passes, and each rejection with its reason,
/// including a MessageID used again ("Already Submitted" for the same content, "Duplicate
/// Identifier" for other content).
@Suite struct UFTPResponderTests {
    static let agr = try! InternetDomain(validating: "agr.example.com")
    static let dso = try! InternetDomain(validating: "dso.example.com")
    static let agrKey = SigningKey.generate()
    static let cro = try! InternetDomain(validating: "cro.example.com")
    static let croKey = SigningKey.generate()

    struct Rig {
        let fixture: StoreFixture
        var store: any SCDStore { fixture.store }
        let receiver: UFTPReceiver
        let actions: UFTPActions

        init(_ backend: Backend = .sqlite, barring barred: Set<InternetDomain> = [], croDomain: InternetDomain? = nil) async throws {
            fixture = try await StoreFixture(backend)
            let store = fixture.store
            let directory = ParticipantsFile(participants: [
                Participant(domain: UFTPResponderTests.agr, role: .agr, endpoint: "http://127.0.0.1:9/shapeshifter/api/v3/message",
                            keys: [UFTPResponderTests.agrKey.publicKey]),
                Participant(domain: UFTPResponderTests.cro, role: .cro, endpoint: "http://127.0.0.1:9/shapeshifter/api/v3/message",
                            keys: [UFTPResponderTests.croKey.publicKey]),
            ])
            let responder = UFTPResponder(domain: UFTPResponderTests.dso, roles: [.dso], signingKey: SigningKey.generate(),
                                          directory: directory, store: store,
                                          terms: MarketTerms(ispMinutes: 15, timeZone: TimeZone(identifier: "Europe/Amsterdam")!),
                                          logger: Logger(label: "test"), barredSenders: barred, croDomain: croDomain)
            receiver = UFTPReceiver(directory: directory, inbox: SCDInbox(store: store, responder: responder, logger: Logger(label: "test")))
            actions = UFTPActions(responder: responder)
        }

        /// The last message queued to be sent, decoded.
        func lastSent() async throws -> UFTPMessage {
            let queued = try await store.uftpMessages(UFTPMessageQuery(limit: 1000)).last { $0.direction == .outbound }
            return try UFTPCodec.decode(try #require(queued).payload)
        }

        /// Posts a message (as the AGR, or the CRO, signed it) and returns the response queued for it.
        func answer(to message: UFTPMessage) async throws -> (any UFTPResponse)? {
            let fromCRO = message.metadata.senderDomain == UFTPResponderTests.cro
            let document = SignedMessage(sealing: message, role: fromCRO ? .cro : .agr,
                                         key: fromCRO ? UFTPResponderTests.croKey : UFTPResponderTests.agrKey).encode()
            let answer = await receiver.receive(contentType: "text/xml", contentLength: document.count, body: document, now: .now())
            #expect(answer == .stored)
            let queued = try await store.uftpMessages(UFTPMessageQuery(limit: 1000)).last { $0.direction == .outbound }
            return try queued.map { try UFTPCodec.decode($0.payload).payload as? any UFTPResponse } ?? nil
        }
    }

    /// Tomorrow's D-Prognosis covering every ISP of the day (92, 96 or 100).
    static func prognosis(messageID: UUIDValue = .random(), recipient: InternetDomain = dso, power: Int = 1500,
                          revision: Int64 = 1, days: Int = 1) -> UFTPMessage {
        let terms = MarketTerms(ispMinutes: 15, timeZone: TimeZone(identifier: "Europe/Amsterdam")!)
        let period = try! Period(validating: String(Timestamp.now().adding(milliseconds: Int64(days) * 86_400_000).rfc3339.prefix(10)))
        return UFTPMessage(
            metadata: Metadata(senderDomain: agr, recipientDomain: recipient, timeStamp: DateTime(.now()), messageID: messageID,
                               conversationID: .random()),
            payload: DPrognosis(ispDuration: ISPDuration(minutes: 15), timeZone: try! TimeZoneName(validating: "Europe/Amsterdam"),
                                period: period, congestionPoint: try! EntityAddress(validating: "ea1.2023-01.com.example.dso:cp-1"),
                                revision: revision, isps: [.init(power: power, start: 1, duration: terms.ispCount(period))]))
    }

    /// A D-Prognosis revision lower than one accepted for its congestion point and Period is
    /// refused; one refused for another reason takes no revision.
    @Test func aPrognosisRevisionMayNotGoBack() async throws {
        let rig = try await Rig()
        func answer(revision: Int64, days: Int = 1, recipient: InternetDomain = Self.dso) async throws -> (any UFTPResponse)? {
            try await rig.answer(to: Self.prognosis(recipient: recipient, revision: revision, days: days))
        }
        #expect(try await answer(revision: 3)?.result == .accepted)
        #expect(try await answer(revision: 3)?.result == .accepted, "a revision sent again")
        let lower = try #require(try await answer(revision: 2))
        #expect(lower.result == .rejected && lower.rejectionReason == RejectionReason.subordinateSequenceNumber)
        #expect(try await answer(revision: 1, days: 2)?.result == .accepted, "another Period counts apart")
        let misdirected = try await answer(revision: 9, recipient: try InternetDomain(validating: "other.example.com"))
        #expect(misdirected?.rejectionReason == RejectionReason.unknownRecipient)
        #expect(try await answer(revision: 4)?.result == .accepted, "the refused revision 9 was not taken")
    }

    @Test(arguments: Backend.available) func eachRequestIsAnsweredWithItsResponse(backend: Backend) async throws {
        let rig = try await Rig(backend)
        let first = Self.prognosis()
        let accepted = try #require(try await rig.answer(to: first))
        #expect(accepted is DPrognosisResponse && accepted.result == .accepted && accepted.rejectionReason == nil)
        #expect(accepted.referencedMessageID == first.metadata.messageID)

        let resent = try #require(try await rig.answer(to: first))
        #expect(resent.result == .rejected && resent.rejectionReason == RejectionReason.alreadySubmitted)
        let reused = try #require(try await rig.answer(to: Self.prognosis(messageID: first.metadata.messageID, power: 42)))
        #expect(reused.rejectionReason == RejectionReason.duplicateIdentifier)
        let misdirected = try #require(try await rig.answer(to: Self.prognosis(recipient: try InternetDomain(validating: "other.example.com"))))
        #expect(misdirected.rejectionReason == RejectionReason.unknownRecipient)

        // Every response is logged and queued for the AGR's endpoint, signed by the DSO.
        let outgoing = try await rig.store.uftpMessages(UFTPMessageQuery(limit: 1000)).filter { $0.direction == .outbound }
        #expect(outgoing.count == 4 && outgoing.allSatisfy { $0.delivery?.state == .pending && $0.senderRole == "DSO" })
        #expect(outgoing.allSatisfy { $0.type == "D-PrognosisResponse" && $0.recipientDomain == "agr.example.com" })
    }

    /// With a remote CRO (`cro_domain`), an aggregator's D-Prognosis is checked against the CRO's
    /// latest answer for its congestion point and Period: without one it is refused and the CRO
    /// asked (once an hour); once the CRO lists the aggregator there, it is accepted; a later
    /// answer without it refuses again.
    @Test func aRemoteCommonReferenceIsAskedAndFollowed() async throws {
        let rig = try await Rig(croDomain: Self.cro)
        func queries() async throws -> [DSOPortfolioQuery] {
            try await rig.store.uftpMessages(UFTPMessageQuery(type: "DSOPortfolioQuery"))
                .compactMap { try UFTPCodec.decode($0.payload).payload as? DSOPortfolioQuery }
        }
        let unknown = try #require(try await rig.answer(to: Self.prognosis()))
        #expect(unknown.result == .rejected && unknown.rejectionReason?.hasPrefix(RejectionReason.invalidCongestionPoint) == true, "\(unknown)")
        let asked = try await queries()
        #expect(asked.map(\.entityAddress.text) == [Self.congestionPoint] && asked.first?.period == Self.period(days: 1))
        _ = try await rig.answer(to: Self.prognosis())
        #expect(try await queries().count == 1, "asked once an hour")

        func croAnswers(_ aggregator: InternetDomain?) async throws {
            let query = try #require(try await rig.store.uftpMessages(UFTPMessageQuery(type: "DSOPortfolioQuery")).first)
            let response = UFTPMessage(
                metadata: Metadata(senderDomain: Self.cro, recipientDomain: Self.dso, timeStamp: DateTime(.now()),
                                   conversationID: try UUIDValue(validating: query.conversationID)),
                payload: DSOPortfolioQueryResponse(
                    result: .accepted, referencedMessageID: try UUIDValue(validating: query.messageID),
                    timeZone: try TimeZoneName(validating: "Europe/Amsterdam"), period: Self.period(days: 1),
                    congestionPoint: .init(entityAddress: try EntityAddress(validating: Self.congestionPoint),
                                           connections: [.init(entityAddress: try EntityAddress(validating: "ean.871685900012636543"),
                                                               agrDomain: aggregator)])))
            _ = try await rig.answer(to: response)
        }
        try await croAnswers(Self.agr)
        #expect(try await rig.answer(to: Self.prognosis())?.result == .accepted)
        try await croAnswers(nil)
        #expect(try await rig.answer(to: Self.prognosis(revision: 2))?.rejectionReason?.hasPrefix(RejectionReason.invalidCongestionPoint) == true)
    }

    static let terms = MarketTerms(ispMinutes: 15, timeZone: TimeZone(identifier: "Europe/Amsterdam")!)
    static let congestionPoint = "ea1.2023-01.com.example.dso:cp-1"

    static func period(days: Int) -> Period {
        try! Period(validating: String(Timestamp.now().adding(milliseconds: Int64(days) * 86_400_000).rfc3339.prefix(10)))
    }

    /// A FlexOffer from the AGR: options of (reference, price, minimum factor, [(ISP, power)]).
    static func offer(request: UUIDValue? = nil, conversation: UUIDValue = .random(), days: Int = 1,
                      options: [(String, String, String?, [(Int, Int)])]) -> UFTPMessage {
        UFTPMessage(
            metadata: Metadata(senderDomain: agr, recipientDomain: dso, timeStamp: DateTime(.now()), conversationID: conversation),
            payload: FlexOffer(ispDuration: ISPDuration(minutes: 15), timeZone: try! TimeZoneName(validating: "Europe/Amsterdam"),
                               period: period(days: days), congestionPoint: try! EntityAddress(validating: congestionPoint),
                               expirationDateTime: DateTime(.now().adding(milliseconds: 3_600_000)),
                               unsolicited: request == nil ? true : nil, flexRequestMessageID: request,
                               currency: try! CurrencyCode(validating: "EUR"),
                               options: options.map { reference, price, minimum, isps in
                                   FlexOffer.Option(optionReference: reference, price: try! CurrencyAmount(validating: price),
                                                    minActivationFactor: try! minimum.map { try ActivationFactor(validating: $0) },
                                                    isps: isps.map { PowerISP(power: $0.1, start: try! PositiveInteger($0.0)) })
                               }))
    }

    /// A revocation in the offer's conversation (where the DSO looks for it before ordering).
    static func revocation(of offer: UFTPMessage) -> UFTPMessage {
        UFTPMessage(metadata: Metadata(senderDomain: agr, recipientDomain: dso, timeStamp: DateTime(.now()),
                                       conversationID: offer.metadata.conversationID),
                    payload: FlexOfferRevocation(flexOfferMessageID: offer.metadata.messageID))
    }

    static func requestDraft(isps: [(Int, Int, Int)] = [(33, -5000, -1000), (34, -5000, -1000)], period: String? = nil,
                             congestionPoint: String = congestionPoint, recipient: String = "agr.example.com") -> UFTPActions.FlexRequestDraft {
        UFTPActions.FlexRequestDraft(recipient: recipient, congestionPoint: congestionPoint, period: period ?? Self.period(days: 1).text,
                                    expiration: Timestamp.now().adding(milliseconds: 3_600_000).rfc3339, revision: 1,
                                    isps: isps.map { .init(start: $0.0, duration: nil, minPower: $0.1, maxPower: $0.2, disposition: nil) })
    }

    /// The DSO's FlexRequest goes out as drafted; an offer must answer it: known, of its Period,
    /// covering a requested ISP. A draft the aggregator would reject is refused before sending.
    @Test func aFlexRequestIsSentAndTheOffersAnsweringItAreChecked() async throws {
        let rig = try await Rig()
        let receipt = try await rig.actions.flexRequest(Self.requestDraft())
        let sent = try await rig.lastSent()
        let request = try #require(sent.payload as? FlexRequest)
        #expect(sent.metadata.messageID.text == receipt.messageID && sent.metadata.recipientDomain == Self.agr)
        #expect(request.isps.map(\.start.value) == [33, 34] && request.isps.allSatisfy { $0.disposition == .requested })
        #expect(request.congestionPoint.text == Self.congestionPoint && request.ispDuration.minutes == 15)
        let requestID = sent.metadata.messageID

        let answering = try #require(try await rig.answer(to: Self.offer(request: requestID, options: [("A", "10", nil, [(34, -2000)])])))
        #expect(answering.result == .accepted)
        let unknown = try #require(try await rig.answer(to: Self.offer(request: .random(), options: [("A", "10", nil, [(34, -2000)])])))
        #expect(unknown.rejectionReason == RejectionReason.unknownReference("FlexRequestMessageID"))
        let otherDay = try #require(try await rig.answer(to: Self.offer(request: requestID, days: 2, options: [("A", "10", nil, [(34, -2000)])])))
        #expect(otherDay.rejectionReason == RejectionReason.referencePeriodMismatch)
        let elsewhere = try #require(try await rig.answer(to: Self.offer(request: requestID, options: [("A", "10", nil, [(40, -2000)])])))
        #expect(elsewhere.rejectionReason == UseCaseValidation.requestMismatch)

        await #expect(throws: UFTPActions.Refusal.self) { try await rig.actions.flexRequest(Self.requestDraft(isps: [(120, -5000, -1000)])) }
        await #expect(throws: UFTPActions.Refusal.self) { try await rig.actions.flexRequest(Self.requestDraft(isps: [(33, -1000, 1000)])) }
        await #expect(throws: UFTPActions.Refusal.self) { try await rig.actions.flexRequest(Self.requestDraft(congestionPoint: "cp 1")) }
        await #expect(throws: UFTPActions.Refusal.self) { try await rig.actions.flexRequest(Self.requestDraft(recipient: "nobody.example.com")) }
        do {
            _ = try await rig.actions.flexRequest(Self.requestDraft(isps: [(120, -5000, -1000)]))
        } catch let refusal as UFTPActions.Refusal {
            #expect(refusal.description == "the aggregator would reject it: \(RejectionReason.ispsOutOfBounds)")
        }
        let sentCount = try await rig.store.uftpMessages(UFTPMessageQuery(limit: 1000)).count { $0.type == "FlexRequest" }
        #expect(sentCount == 1)
    }

    /// A sender this endpoint bars is answered so, its message stored like any other.
    @Test func aBarredSenderIsAnsweredSo() async throws {
        let rig = try await Rig(barring: [Self.agr])
        let barred = try #require(try await rig.answer(to: Self.prognosis()))
        #expect(barred.result == .rejected && barred.rejectionReason == RejectionReason.barredSender, "\(barred)")
        #expect(try await rig.store.uftpMessages(UFTPMessageQuery(limit: 10)).count { $0.direction == .inbound } == 1)
    }

    /// A day already over is out of bounds; an offer answering a request that has expired is
    /// refused for it (the request as the DSO's log holds it, its expiration passed).
    @Test func pastPeriodsAndExpiredRequestsAreRefused() async throws {
        let rig = try await Rig()
        let past = try #require(try await rig.answer(to: Self.prognosis(days: -2)))
        #expect(past.result == .rejected && past.rejectionReason == RejectionReason.periodOutOfBounds, "\(past)")

        let requestID = UUIDValue.random(), conversation = UUIDValue.random()
        let request = UFTPMessage(
            metadata: Metadata(senderDomain: Self.dso, recipientDomain: Self.agr, timeStamp: DateTime(.now()), messageID: requestID,
                               conversationID: conversation),
            payload: FlexRequest(ispDuration: ISPDuration(minutes: 15), timeZone: try TimeZoneName(validating: "Europe/Amsterdam"),
                                 period: Self.period(days: 1), congestionPoint: try EntityAddress(validating: Self.congestionPoint),
                                 revision: 1, expirationDateTime: DateTime(.now().adding(milliseconds: -60_000)),
                                 isps: [.init(disposition: .requested, minPower: -5000, maxPower: -1000, start: 34)]))
        let signed = SignedMessage(sealing: request, role: .dso, key: SigningKey.generate())
        _ = try await rig.store.queueUFTPMessage(UFTPMessageRecord(
            direction: .outbound, type: "FlexRequest", messageID: requestID.text, conversationID: conversation.text,
            senderDomain: Self.dso.text, senderRole: "DSO", recipientDomain: Self.agr.text, time: .now(),
            signed: signed.encode(), payload: UFTPCodec.encode(request)), endpoint: "http://127.0.0.1:9/")
        let late = try #require(try await rig.answer(to: Self.offer(request: requestID, conversation: conversation,
                                                                    options: [("A", "10", nil, [(34, -2000)])])))
        #expect(late.rejectionReason == RejectionReason.referenceMessageExpired, "\(late)")
    }

    /// An order repeats the chosen option scaled by its activation factor; an offer is ordered
    /// once, a revoked one not at all, and an ordered one cannot be revoked.
    @Test func anOfferIsOrderedOnceAndNotAfterItsRevocation() async throws {
        let rig = try await Rig()
        let offer = Self.offer(options: [("A", "100", nil, [(33, -4000), (34, -4000)]), ("B", "80", "0.25", [(33, -3000)])])
        #expect(try await rig.answer(to: offer)?.result == .accepted)
        let offerID = offer.metadata.messageID.text

        await #expect(throws: UFTPActions.Refusal.self) { try await rig.actions.flexOrder(.init(offerMessageID: offerID)) }
        await #expect(throws: UFTPActions.Refusal.self) {
            try await rig.actions.flexOrder(.init(offerMessageID: offerID, optionReference: "B", activationFactor: "0.20"))
        }
        let receipt = try await rig.actions.flexOrder(.init(offerMessageID: offerID, optionReference: "B", activationFactor: "0.50"))
        let sent = try await rig.lastSent()
        let order = try #require(sent.payload as? FlexOrder)
        #expect(receipt.type == "FlexOrder" && sent.metadata.conversationID == offer.metadata.conversationID)
        #expect(order.isps.map(\.power) == [-1500] && order.price.text == "40" && order.optionReference == "B")
        #expect(UseCaseValidation.order(order, against: try #require(offer.payload as? FlexOffer)).isEmpty)

        do {
            _ = try await rig.actions.flexOrder(.init(offerMessageID: offerID, optionReference: "A"))
            Issue.record("an offer ordered twice")
        } catch UFTPActions.Refusal.conflict {}
        let lateRevocation = try #require(try await rig.answer(to: Self.revocation(of: offer)))
        #expect(lateRevocation.rejectionReason == UseCaseValidation.flexibilityProcured)

        let second = Self.offer(options: [("A", "100", nil, [(35, -4000)])])
        #expect(try await rig.answer(to: second)?.result == .accepted)
        #expect(try await rig.answer(to: Self.revocation(of: second))?.result == .accepted)
        do {
            _ = try await rig.actions.flexOrder(.init(offerMessageID: second.metadata.messageID.text))
            Issue.record("a revoked offer ordered")
        } catch UFTPActions.Refusal.conflict {}
        do {
            _ = try await rig.actions.flexOrder(.init(offerMessageID: UUIDValue.random().text))
            Issue.record("an unknown offer ordered")
        } catch UFTPActions.Refusal.unknown {}
        let unknown = try #require(try await rig.answer(to: Self.revocation(of: Self.offer(options: [("A", "1", nil, [(1, 1)])]))))
        #expect(unknown.rejectionReason == RejectionReason.unknownReference("FlexOfferMessageID"))
    }

    /// An order is settled once the aggregator accepted it: its Period, references and ordered
    /// powers from the order sent, price minus penalty as the net; an order never sent, one not
    /// accepted, and ISPs it does not cover are refused.
    @Test(arguments: Backend.available) func anAcceptedOrderIsSettled(backend: Backend) async throws {
        let rig = try await Rig(backend)
        let offer = Self.offer(options: [("A", "100", nil, [(33, -4000), (34, -4000)])])
        #expect(try await rig.answer(to: offer)?.result == .accepted)
        let receipt = try await rig.actions.flexOrder(.init(offerMessageID: offer.metadata.messageID.text))
        let orderID = receipt.messageID
        func draft(order: String = orderID, start: Int = 33, duration: Int? = nil) -> UFTPActions.FlexSettlementDraft {
            let day = Self.period(days: 1).text
            return .init(periodStart: day, periodEnd: day, orders: [.init(
                orderMessageID: order, price: "100", penalty: "12.5",
                isps: [.init(start: start, duration: duration, baselinePower: 0, actualPower: -3500, deliveredFlexPower: -3500,
                             powerDeficiency: 500)])])
        }
        do {
            _ = try await rig.actions.flexSettlement(draft())
            Issue.record("an order settled before the aggregator accepted it")
        } catch UFTPActions.Refusal.conflict {}

        let accepted = UFTPMessage(
            metadata: Metadata(senderDomain: Self.agr, recipientDomain: Self.dso, timeStamp: DateTime(.now()),
                               conversationID: offer.metadata.conversationID),
            payload: FlexOrderResponse(result: .accepted, referencedMessageID: try UUIDValue(validating: orderID)))
        _ = try await rig.answer(to: accepted)
        _ = try await rig.actions.flexSettlement(draft())
        let settlement = try #require(try await rig.lastSent().payload as? FlexSettlement)
        let settled = try #require(settlement.orderSettlements.first)
        #expect(settled.netSettlement.value == 87.5 && settled.period == Self.period(days: 1))
        #expect(settled.isps.map(\.orderedFlexPower) == [-4000] && settled.congestionPoint.text == Self.congestionPoint)

        do {
            _ = try await rig.actions.flexSettlement(draft(order: UUIDValue.random().text))
            Issue.record("an order never sent settled")
        } catch UFTPActions.Refusal.unknown {}
        do {
            _ = try await rig.actions.flexSettlement(draft(start: 34, duration: 2))
            Issue.record("ISPs the order does not cover settled")
        } catch UFTPActions.Refusal.invalid(let field, _) {
            #expect(field == "orders[0].isps[0].start")
        }
    }
}
