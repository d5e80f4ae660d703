import Foundation
import GridCore
import UFTP

/// A message that passed the transport checks (schema, sender key, signature). What follows is
/// functional validation, answered later by the matching `*Response` message.
public struct InboundMessage: Sendable {
    public var signed: SignedMessage
    /// The SignedMessage document as it arrived, kept as received (FUSION FR04).
    public var document: [UInt8]
    /// The payload XML as the sender signed it.
    public var payload: [UInt8]
    public var message: UFTPMessage
    public var received: Timestamp

    public init(signed: SignedMessage, document: [UInt8], payload: [UInt8], message: UFTPMessage, received: Timestamp) {
        self.signed = signed
        self.document = document
        self.payload = payload
        self.message = message
        self.received = received
    }
}

/// Where accepted messages go: stored before the sender gets its 200, so an HTTP 200 means the
/// message is kept. A throw answers 503, which the sender retries; a `TransportRefusal`, its own status.
public protocol UFTPInbox: Sendable {
    func deliver(_ message: InboundMessage) async throws
}

/// Thrown by an inbox that kept a message whose answer no valid response message can carry
/// (UFTP's XSDs leave none for some outcomes): the transport says it instead, with `status` and
/// the reason in words.
public struct TransportRefusal: Error, Sendable {
    public let status: Int
    public let reason: String

    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }
}

/// The transport's synchronous answer (UFTP 3.0 §3.1, Appendix 4): 200 once the message is
/// stored, else the status of the first check that failed and why, in words.
public struct TransportAnswer: Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var reason: String

    public static let stored = TransportAnswer(status: 200, reason: "")

    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { reason.isEmpty ? "\(status)" : "\(status) \(reason)" }
}

/// The receiving end of UFTP's transport, in the specification's order of checks: Content-Length
/// (411), content type (400), the SignedMessage against its schema (400), the sender's key by
/// domain and role (419, temporary: a key may not be published yet), the signature (401), the
/// sender's rate (429, temporary), the payload against its schema (400); then the inbox stores
/// it (200).
public struct UFTPReceiver: Sendable {
    public let directory: any ParticipantDirectory
    public let inbox: any UFTPInbox
    public let limits: XMLLimits
    public let rateLimit: SenderRateLimit?

    /// The endpoint's path for UFTP 3.x (Appendix 4 §6.3).
    public static let path = "/shapeshifter/api/v3/message"

    public init(directory: any ParticipantDirectory, inbox: any UFTPInbox, limits: XMLLimits = XMLLimits(),
                rateLimit: SenderRateLimit? = nil) {
        self.directory = directory
        self.inbox = inbox
        self.limits = limits
        self.rateLimit = rateLimit
    }

    /// The most a request body may hold (the XML size limit).
    public var maximumBytes: Int { limits.maxBytes }

    public func receive(contentType: String?, contentLength: Int?, body: [UInt8], now: Timestamp) async -> TransportAnswer {
        guard contentLength != nil else { return TransportAnswer(status: 411, reason: "Content-Length is required") }
        if let problem = Self.contentTypeProblem(contentType) { return TransportAnswer(status: 400, reason: problem) }
        let signed: SignedMessage
        do {
            signed = try SignedMessage.decode(body, limits: limits)
        } catch {
            return TransportAnswer(status: 400, reason: "not a valid SignedMessage: \(error)")
        }
        let sender: Participant?
        do {
            sender = try await directory.participant(domain: signed.senderDomain, role: signed.senderRole)
        } catch {
            return TransportAnswer(status: 419, reason: "the key of \(signed.senderDomain.text) as \(signed.senderRole.rawValue) could not be looked up: \(error)")
        }
        guard let sender, !sender.keys.isEmpty else {
            return TransportAnswer(status: 419, reason: "no signing key is known for \(signed.senderDomain.text) as \(signed.senderRole.rawValue)")
        }
        guard let payload = signed.open(keys: sender.keys) else {
            return TransportAnswer(status: 401, reason: "the Body does not verify under the signing key of \(signed.senderDomain.text) as \(signed.senderRole.rawValue)")
        }
        if let rateLimit, !rateLimit.admit("\(signed.senderDomain.text) \(signed.senderRole.rawValue)", now: MonotonicClock.nanoseconds()) {
            return TransportAnswer(status: 429, reason: "more than \(Int(rateLimit.perSecond)) messages a second from \(signed.senderDomain.text); send again later")
        }
        let message: UFTPMessage
        do {
            message = try UFTPCodec.decode(payload, limits: limits)
        } catch {
            return TransportAnswer(status: 400, reason: "the payload is not a valid UFTP message: \(error)")
        }
        do {
            try await inbox.deliver(InboundMessage(signed: signed, document: body, payload: payload, message: message, received: now))
        } catch let refusal as TransportRefusal {
            return TransportAnswer(status: refusal.status, reason: refusal.reason)
        } catch {
            return TransportAnswer(status: 503, reason: "the message could not be stored; send it again later")
        }
        return .stored
    }

    /// Nil for `text/xml` or `application/xml` in UTF-8 (the default), else what is wrong.
    static func contentTypeProblem(_ header: String?) -> String? {
        guard let header else { return "Content-Type is required (text/xml; charset=utf-8)" }
        let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let type = parts.first, type == "text/xml" || type == "application/xml" else {
            return "Content-Type \(header) is not text/xml"
        }
        for parameter in parts.dropFirst() where parameter.hasPrefix("charset=") {
            let charset = parameter.dropFirst("charset=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard charset == "utf-8" || charset == "utf8" else { return "charset \(charset) is not UTF-8" }
        }
        return nil
    }
}
