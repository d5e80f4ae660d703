import GridCore
import Sodium
import Synchronization
import Testing
import UFTP
@testable import UFTPTransport

/// The receiving transport, check by check in the specification's order (UFTP 3.0 §3.1):
/// each refusal with its status, and 200 only once the message is stored.
@Suite struct ReceiverTests {
    /// Keeps what it is given (a unit-test stand-in for the SCD's message log).
    final class Inbox: UFTPInbox {
        let delivered = Mutex<[InboundMessage]>([])
        let failing: Bool
        init(failing: Bool = false) { self.failing = failing }

        func deliver(_ message: InboundMessage) async throws {
            struct Full: Error {}
            if failing { throw Full() }
            delivered.withLock { $0.append(message) }
        }
        var count: Int { delivered.withLock { $0.count } }
    }

    struct Unreachable: ParticipantDirectory {
        struct Timeout: Error {}
        func participant(domain: InternetDomain, role: USEFRole) async throws -> Participant? { throw Timeout() }
    }

    static let agrKey = SigningKey.generate()
    static let agr = try! InternetDomain(validating: "agr.example.com")
    static let dso = try! InternetDomain(validating: "dso.example.com")

    static func directory(keys: [PublicKey] = [agrKey.publicKey]) -> ParticipantsFile {
        ParticipantsFile(participants: [Participant(domain: agr, role: .agr, endpoint: "http://127.0.0.1:1/shapeshifter/api/v3/message", keys: keys)])
    }

    static func message() -> UFTPMessage {
        let metadata = Metadata(senderDomain: agr, recipientDomain: dso, timeStamp: try! DateTime(validating: "2026-11-25T10:00:00Z"),
                                conversationID: .random())
        let prognosis = DPrognosis(ispDuration: ISPDuration(minutes: 15), timeZone: try! TimeZoneName(validating: "Europe/Amsterdam"),
                                   period: try! Period(validating: "2026-11-26"),
                                   congestionPoint: try! EntityAddress(validating: "ea1.2023-01.com.example.dso:cp-1"), revision: 1,
                                   isps: [.init(power: 1500, start: 1, duration: 96)])
        return UFTPMessage(metadata: metadata, payload: prognosis)
    }

    static func document(signedBy key: SigningKey = agrKey, role: USEFRole = .agr) -> [UInt8] {
        SignedMessage(sealing: message(), role: role, key: key).encode()
    }

    func receive(_ body: [UInt8], contentType: String? = "text/xml; charset=utf-8", length: Bool = true,
                 directory: any ParticipantDirectory = ReceiverTests.directory(), inbox: Inbox = Inbox()) async -> TransportAnswer {
        await UFTPReceiver(directory: directory, inbox: inbox)
            .receive(contentType: contentType, contentLength: length ? body.count : nil, body: body, now: .now())
    }

    @Test func aValidMessageIsStoredAsReceivedThenAnswered200() async throws {
        let inbox = Inbox()
        let document = Self.document()
        #expect(await receive(document, inbox: inbox) == .stored)
        let stored = try #require(inbox.delivered.withLock { $0.first })
        #expect(stored.document == document)
        #expect(stored.message.typeName == "D-Prognosis" && stored.signed.senderDomain == Self.agr)
        #expect(try UFTPCodec.decode(stored.payload).hasSameContent(as: stored.message))
        #expect(await receive(document, contentType: "application/xml", inbox: inbox) == .stored)
        #expect(await receive(document, contentType: "text/xml", inbox: inbox) == .stored)
        #expect(inbox.count == 3)
    }

    @Test func eachTransportFaultHasItsStatusAndStoresNothing() async throws {
        let inbox = Inbox()
        let document = Self.document()
        let forged = SignedMessage(senderDomain: Self.agr, senderRole: .agr,
                                   sealedBody: SigningKey.generate().signCombined(UFTPCodec.encode(Self.message()))).encode()
        var tampered = SignedMessage(sealing: Self.message(), role: .agr, key: Self.agrKey)
        tampered.sealedBody[tampered.sealedBody.count / 2] ^= 1
        let notAPayload = SignedMessage(senderDomain: Self.agr, senderRole: .agr,
                                        sealedBody: Self.agrKey.signCombined(Array("<FlexOffer/>".utf8))).encode()
        let xxe = Array("""
            <?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>
            <SignedMessage SenderDomain="agr.example.com" SenderRole="AGR" Body="&x;"/>
            """.utf8)
        let cases: [(String, [UInt8], String?, Bool, any ParticipantDirectory, Int, String)] = [
            ("no Content-Length", document, "text/xml", false, Self.directory(), 411, "Content-Length"),
            ("JSON", document, "application/json", true, Self.directory(), 400, "not text/xml"),
            ("Latin-1", document, "text/xml; charset=iso-8859-1", true, Self.directory(), 400, "not UTF-8"),
            ("no Content-Type", document, nil, true, Self.directory(), 400, "Content-Type is required"),
            ("not XML", Array("hello".utf8), "text/xml", true, Self.directory(), 400, "not a valid SignedMessage"),
            ("XXE", xxe, "text/xml", true, Self.directory(), 400, "DOCTYPE"),
            ("unknown sender", SignedMessage(sealing: Self.message(), role: .dso, key: Self.agrKey).encode(), "text/xml", true,
             Self.directory(), 419, "no signing key is known for agr.example.com as DSO"),
            ("directory unreachable", document, "text/xml", true, Unreachable(), 419, "could not be looked up"),
            ("forged", forged, "text/xml", true, Self.directory(), 401, "does not verify"),
            ("tampered", tampered.encode(), "text/xml", true, Self.directory(), 401, "does not verify"),
            ("payload not schema-valid", notAPayload, "text/xml", true, Self.directory(), 400, "not a valid UFTP message"),
        ]
        for (name, body, contentType, length, directory, status, reason) in cases {
            let answer = await receive(body, contentType: contentType, length: length, directory: directory, inbox: inbox)
            #expect(answer.status == status && answer.reason.contains(reason), "\(name): \(answer)")
        }
        #expect(inbox.count == 0)
    }

    @Test func duringARotationEitherKeyVerifies() async throws {
        let next = SigningKey.generate()
        let directory = Self.directory(keys: [next.publicKey, Self.agrKey.publicKey])
        #expect(await receive(Self.document(), directory: directory) == .stored)
        #expect(await receive(Self.document(signedBy: next), directory: directory) == .stored)
    }

    @Test func aSenderBeyondItsRateIsToldToComeBackLater() async throws {
        // A token a 100 s: no pause of the test refills the bucket between the four messages.
        let inbox = Inbox()
        let receiver = UFTPReceiver(directory: Self.directory(), inbox: inbox, rateLimit: SenderRateLimit(perSecond: 0.01, burst: 3))
        let document = Self.document()
        var statuses: [Int] = []
        for _ in 0..<4 {
            statuses.append(await receiver.receive(contentType: "text/xml", contentLength: document.count, body: document, now: .now()).status)
        }
        #expect(statuses.prefix(3) == [200, 200, 200] && statuses[3] == 429 && inbox.count == 3)
        // The bucket refills at its rate, per sender.
        let limit = SenderRateLimit(perSecond: 2, burst: 3)
        let start: UInt64 = 1_000_000_000
        #expect(limit.admit("other", now: start) && limit.admit("other", now: start) && limit.admit("other", now: start))
        #expect(!limit.admit("other", now: start))
        #expect(limit.admit("other", now: start + 500_000_000) && !limit.admit("other", now: start + 500_000_000))
    }

    @Test func aMessageThatCannotBeStoredIsAnsweredAsTemporary() async throws {
        #expect(await receive(Self.document(), inbox: Inbox(failing: true)).status == 503)
    }
}
