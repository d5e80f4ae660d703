import Foundation
import GridCore
import Logging
import SCD
import Sodium
import UFTP
import UFTPTransport

/// Received UFTP messages go to the SCD's message log before the sender gets its 200; a request
/// is then answered with its `*Response`, queued in the same log.
struct SCDInbox: UFTPInbox {
    let store: any SCDStore
    let responder: UFTPResponder
    let logger: Logger

    func deliver(_ inbound: InboundMessage) async throws {
        let metadata = inbound.message.metadata
        let id = try await store.addUFTPMessage(UFTPMessageRecord(
            direction: .inbound, type: inbound.message.typeName, messageID: metadata.messageID.text,
            conversationID: metadata.conversationID.text, senderDomain: inbound.signed.senderDomain.text,
            senderRole: inbound.signed.senderRole.rawValue, recipientDomain: metadata.recipientDomain.text,
            time: inbound.received, signed: inbound.document, payload: inbound.payload))
        logger.info("uftp: stored \(inbound.message.typeName) \(metadata.messageID.text) from \(inbound.signed.senderDomain.text) as #\(id)")
        try await responder.answer(inbound, storedAs: id)
    }
}

/// Answers each request with its response (UFTP §3.5): the generic checks, the use case's own
/// that need only the message, and the MessageID against the sender's earlier messages
/// ("Already Submitted" for the same content, "Duplicate Identifier" for other content).
struct UFTPResponder: Sendable {
    let domain: InternetDomain
    let roles: [USEFRole]
    let signingKey: SigningKey
    let directory: any ParticipantDirectory
    let store: any SCDStore
    let terms: MarketTerms
    let logger: Logger

    func answer(_ inbound: InboundMessage, storedAs id: Int64, now: Timestamp = .now()) async throws {
        guard let request = inbound.message.payload as? any UFTPRequest else { return }
        let metadata = inbound.message.metadata
        var reasons = GenericValidation.addressing(inbound.message, wrapper: inbound.signed, servedDomains: [domain])
        if let recipient = type(of: request).recipientRole, !roles.contains(recipient), !reasons.contains(RejectionReason.unknownRecipient) {
            reasons.append(RejectionReason.unknownRecipient)
        }
        let earlier = try await store.uftpMessages(UFTPMessageQuery(senderDomain: inbound.signed.senderDomain.text,
                                                                    messageID: metadata.messageID.text, limit: 2))
            .first { $0.direction == .inbound && ($0.id ?? .max) < id }
        if let earlier {
            reasons.append(earlier.payload == inbound.payload ? RejectionReason.alreadySubmitted : RejectionReason.duplicateIdentifier)
        } else if reasons.isEmpty {
            reasons = useCaseReasons(inbound.message.payload, now: now)
        }
        let response = request.response(reasons.isEmpty ? .accepted : .rejected,
                                        reason: reasons.isEmpty ? nil : reasons.joined(separator: "; "), to: metadata.messageID)
        let outgoing = UFTPMessage(
            metadata: Metadata(version: metadata.version, senderDomain: domain, recipientDomain: metadata.senderDomain,
                               timeStamp: DateTime(now), conversationID: metadata.conversationID),
            payload: response)
        try await queue(outgoing, to: inbound.signed.senderDomain, role: inbound.signed.senderRole,
                        as: type(of: response).senderRole ?? roles[0], now: now)
    }

    /// Seals `message`, logs it and queues it for the participant's endpoint.
    func queue(_ message: UFTPMessage, to recipient: InternetDomain, role recipientRole: USEFRole, as role: USEFRole, now: Timestamp) async throws {
        guard let participant = try await directory.participant(domain: recipient, role: recipientRole) else {
            logger.error("uftp: no endpoint known for \(recipient.text) as \(recipientRole.rawValue); \(message.typeName) not sent")
            return
        }
        let signed = SignedMessage(sealing: message, role: role, key: signingKey)
        let id = try await store.queueUFTPMessage(UFTPMessageRecord(
            direction: .outbound, type: message.typeName, messageID: message.metadata.messageID.text,
            conversationID: message.metadata.conversationID.text, senderDomain: domain.text, senderRole: role.rawValue,
            recipientDomain: recipient.text, time: now, signed: signed.encode(),
            payload: Array(signed.sealedBody.dropFirst(64))), endpoint: participant.endpoint)
        logger.info("uftp: queued \(message.typeName) \(message.metadata.messageID.text) for \(recipient.text) as #\(id)")
    }

    /// The use-case checks that need nothing but the message (those needing earlier messages,
    /// such as an order's offer, are the market's).
    func useCaseReasons(_ payload: any UFTPPayload, now: Timestamp) -> [String] {
        let instant = Date(timeIntervalSince1970: Double(now.millisecondsSince1970) / 1000)
        switch payload {
        case let prognosis as DPrognosis:
            return GenericValidation.isps(prognosis, terms: terms) + UseCaseValidation.prognosis(prognosis, terms: terms)
        case let request as FlexRequest:
            return GenericValidation.isps(request, terms: terms) + UseCaseValidation.request(request)
                + GenericValidation.expiration(request.expirationDateTime, of: request, terms: terms, now: instant)
        case let offer as FlexOffer:
            return GenericValidation.isps(offer, terms: terms)
                + GenericValidation.expiration(offer.expirationDateTime, of: offer, terms: terms, now: instant)
        case let order as FlexOrder:
            return GenericValidation.isps(order, terms: terms)
        case let update as FlexReservationUpdate:
            return GenericValidation.isps(update, terms: terms)
        default:
            return []
        }
    }
}

/// The outgoing queue in the SCD, for the sender.
struct SCDOutbox: UFTPOutbox {
    let store: any SCDStore

    func claim(now: Timestamp, leaseMs: Int64, limit: Int) async throws -> [OutgoingMessage] {
        try await store.claimUFTPDeliveries(now: now, leaseMs: leaseMs, limit: limit).map {
            OutgoingMessage(id: $0.message, endpoint: $0.endpoint, document: $0.signed, attempts: $0.attempts, queued: $0.queued,
                            label: "\($0.type) \($0.messageID)")
        }
    }

    func record(_ message: OutgoingMessage, attempts: Int, outcome: DeliveryOutcome) async throws {
        let status = switch outcome {
        case .delivered: UFTPDeliveryStatus(state: .delivered, attempts: attempts, nextAttempt: .now())
        case .retry(let at, let problem): UFTPDeliveryStatus(state: .pending, attempts: attempts, nextAttempt: at, problem: problem)
        case .failed(let problem): UFTPDeliveryStatus(state: .failed, attempts: attempts, nextAttempt: .now(), problem: problem)
        }
        try await store.recordUFTPDelivery(message: message.id, status)
    }
}

/// This platform as a UFTP participant: its key, the participants it knows, the receiving
/// endpoint and the sender, both over the SCD's message log.
struct UFTPExchange: Sendable {
    let receiver: UFTPReceiver
    let sender: UFTPSender

    init(config: CoordinatorConfig.UFTPParticipant, store: any SCDStore, logger: Logger) throws {
        let signingKey = try SigningKey(contentsOfFile: config.signingKeyFile)
        let participants = try ParticipantsFile(path: config.participantsFile)
        let responder = UFTPResponder(domain: config.domain, roles: config.roles, signingKey: signingKey, directory: participants,
                                      store: store, terms: MarketTerms(ispMinutes: config.ispMinutes, timeZone: config.marketTimeZone),
                                      logger: logger)
        receiver = UFTPReceiver(directory: participants, inbox: SCDInbox(store: store, responder: responder, logger: logger),
                                rateLimit: SenderRateLimit(perSecond: Double(config.rateLimitPerSecond),
                                                           burst: Double(2 * config.rateLimitPerSecond)))
        sender = UFTPSender(outbox: SCDOutbox(store: store), logger: logger)
        logger.notice("uftp: \(config.domain.text) as \(config.roles.map(\.rawValue).joined(separator: ", ")), \(participants.participants.count) participants known, public key \(signingKey.publicKey.cs1)")
    }
}
