@testable import Coordinator
import Foundation
import GridCore
import Logging
import SCD
import Sodium
import Testing
import TestSupport
import UFTP
import UFTPTransport

/// What the DSO answers: accepted when every check passes, and each rejection with its reason,
/// including a MessageID used again ("Already Submitted" for the same content, "Duplicate
/// Identifier" for other content).
@Suite struct UFTPResponderTests {
    static let agr = try! InternetDomain(validating: "agr.example.com")
    static let dso = try! InternetDomain(validating: "dso.example.com")
    static let agrKey = SigningKey.generate()

    struct Rig {
        let folder = TemporaryDirectory()
        let store: SQLiteStore
        let receiver: UFTPReceiver

        init() throws {
            store = try SQLiteStore(path: folder.path + "/scd.sqlite")
            let directory = ParticipantsFile(participants: [
                Participant(domain: UFTPResponderTests.agr, role: .agr, endpoint: "http://127.0.0.1:9/shapeshifter/api/v3/message",
                            keys: [UFTPResponderTests.agrKey.publicKey]),
            ])
            let responder = UFTPResponder(domain: UFTPResponderTests.dso, roles: [.dso], signingKey: SigningKey.generate(),
                                          directory: directory, store: store,
                                          terms: MarketTerms(ispMinutes: 15, timeZone: TimeZone(identifier: "Europe/Amsterdam")!),
                                          logger: Logger(label: "test"))
            receiver = UFTPReceiver(directory: directory, inbox: SCDInbox(store: store, responder: responder, logger: Logger(label: "test")))
        }

        /// Posts a D-Prognosis (as the AGR signed it) and returns the response queued for it.
        func answer(to message: UFTPMessage) async throws -> (any UFTPResponse)? {
            let document = SignedMessage(sealing: message, role: .agr, key: UFTPResponderTests.agrKey).encode()
            let answer = await receiver.receive(contentType: "text/xml", contentLength: document.count, body: document, now: .now())
            #expect(answer == .stored)
            let queued = try await store.uftpMessages(UFTPMessageQuery(limit: 1000)).last { $0.direction == .outbound }
            return try queued.map { try UFTPCodec.decode($0.payload).payload as? any UFTPResponse } ?? nil
        }
    }

    /// Tomorrow's D-Prognosis covering every ISP of the day (92, 96 or 100).
    static func prognosis(messageID: UUIDValue = .random(), recipient: InternetDomain = dso, power: Int = 1500) -> UFTPMessage {
        let terms = MarketTerms(ispMinutes: 15, timeZone: TimeZone(identifier: "Europe/Amsterdam")!)
        let tomorrow = Timestamp.now().adding(milliseconds: 86_400_000).rfc3339.prefix(10)
        let period = try! Period(validating: String(tomorrow))
        return UFTPMessage(
            metadata: Metadata(senderDomain: agr, recipientDomain: recipient, timeStamp: DateTime(.now()), messageID: messageID,
                               conversationID: .random()),
            payload: DPrognosis(ispDuration: ISPDuration(minutes: 15), timeZone: try! TimeZoneName(validating: "Europe/Amsterdam"),
                                period: period, congestionPoint: try! EntityAddress(validating: "ea1.2023-01.com.example.dso:cp-1"),
                                revision: 1, isps: [.init(power: power, start: 1, duration: terms.ispCount(period))]))
    }

    @Test func eachRequestIsAnsweredWithItsResponse() async throws {
        let rig = try Rig()
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
}
