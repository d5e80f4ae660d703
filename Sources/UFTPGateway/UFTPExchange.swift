import Foundation
import GridCore
import Logging
import SCD
import Sodium
import UFTP
import UFTPTransport

/// A message of ours that the strict decoder refuses: a fault of this platform, not sent.
package struct InvalidOutgoingMessage: Error, CustomStringConvertible {
    package let type: String
    package let problem: String
    package var description: String { "the \(type) would not validate: \(problem)" }
}

/// Received UFTP messages go to the SCD's message log before the sender gets its 200; a request
/// is then answered with its `*Response`, queued in the same log.
package struct SCDInbox: UFTPInbox {
    package let store: any UFTPMessageLog
    package let responder: UFTPResponder
    package let logger: Logger

    package func deliver(_ inbound: InboundMessage) async throws {
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
package struct UFTPResponder: Sendable {
    package let domain: InternetDomain
    package let roles: [USEFRole]
    let signingKey: SigningKey
    package let directory: any ParticipantDirectory
    package let store: any SCDStore
    package let terms: MarketTerms
    package let logger: Logger
    /// When this platform plays the CRO role.
    var commonReference: CommonReference? = nil
    /// Senders whose messages are stored and answered `Barred Sender` (`[uftp] barred_senders`).
    var barredSenders: Set<InternetDomain> = []
    /// As DSO, the CRO whose Common Reference aggregators are checked against (`[uftp] cro_domain`).
    var croDomain: InternetDomain? = nil
    /// The market, which takes flex requests, offers and revocations as its entries and the
    /// answers to its orders and settlements (docs/market.md, "UFTP"); shared by every copy.
    package let market = MarketLink()

    package func answer(_ inbound: InboundMessage, storedAs id: Int64, now: Timestamp = .now()) async throws {
        guard let request = inbound.message.payload as? any UFTPRequest else {
            try await market.current?.received(inbound.message, now: now)
            return
        }
        let metadata = inbound.message.metadata
        var reasons = GenericValidation.addressing(inbound.message, wrapper: inbound.signed, servedDomains: [domain])
        if let recipient = type(of: request).recipientRole, !roles.contains(recipient), !reasons.contains(RejectionReason.unknownRecipient) {
            reasons.append(RejectionReason.unknownRecipient)
        }
        if barredSenders.contains(inbound.signed.senderDomain) { reasons.append(RejectionReason.barredSender) }
        let earlier = try await store.uftpMessages(UFTPMessageQuery(senderDomain: inbound.signed.senderDomain.text,
                                                                    messageID: metadata.messageID.text, limit: 2))
            .first { $0.direction == .inbound && ($0.id ?? .max) < id }
        if let earlier {
            reasons.append(earlier.payload == inbound.payload ? RejectionReason.alreadySubmitted : RejectionReason.duplicateIdentifier)
        } else if reasons.isEmpty {
            reasons = useCaseReasons(inbound.message.payload, now: now)
        }
        if reasons.isEmpty {
            reasons = try await referenceReasons(inbound.message.payload, from: inbound.signed.senderDomain, now: now)
        }
        if reasons.isEmpty, let reason = try await commonReferenceReason(inbound.message.payload, from: inbound.signed.senderDomain, now: now) {
            reasons = [reason]
        }
        // An updated D-Prognosis must reflect the orders placed for its Period (FR31/FR38); its
        // response says so of each order either way.
        var orderStatuses: [DPrognosisResponse.FlexOrderStatus] = []
        if let prognosis = inbound.message.payload as? DPrognosis, roles.contains(.dso) {
            orderStatuses = try await flexOrderStatuses(prognosis, from: inbound.signed.senderDomain, now: now)
            let unreflected = orderStatuses.filter { !$0.isValidated }.map(\.flexOrderMessageID)
            if reasons.isEmpty && !unreflected.isEmpty { reasons = [UseCaseValidation.orderNotReflected(unreflected)] }
        }
        // Last: taking the revision is what accepting a revisioned message records.
        if reasons.isEmpty, let revisioned = inbound.message.payload as? any RevisionedMessage,
           let higher = try await store.recordUFTPRevision(sender: inbound.signed.senderDomain.text, type: inbound.message.typeName,
                                                           scope: revisioned.revisionScope, revision: revisioned.revision) {
            logger.info("uftp: \(inbound.message.typeName) \(metadata.messageID.text) revision \(revisioned.revision) is below \(higher)")
            reasons = [RejectionReason.subordinateSequenceNumber]
        }
        var answered: (any UFTPResponse)?
        if reasons.isEmpty, let commonReference {
            switch try await commonReference.handle(inbound.message, from: inbound.signed.senderDomain) {
            case .refused(let found): reasons = found
            case .accepted(let response): answered = response
            case nil: break
            }
        }
        if reasons.isEmpty, let market = market.current {
            reasons = try await market.intake(inbound.message, from: inbound.signed.senderDomain, now: now)
        }
        if reasons.isEmpty, let settlement = inbound.message.payload as? FlexSettlement {
            answered = FlexSettlementResponse(result: .accepted, referencedMessageID: metadata.messageID,
                                              orderStatuses: try await settlementStatuses(settlement, from: inbound.signed.senderDomain))
        }
        let reason = reasons.isEmpty ? nil : reasons.joined(separator: "; ")
        if !orderStatuses.isEmpty {
            answered = DPrognosisResponse(result: reasons.isEmpty ? .accepted : .rejected, rejectionReason: reason,
                                          referencedMessageID: metadata.messageID, flexOrderStatuses: orderStatuses)
        }
        guard let response = answered ?? request.response(reasons.isEmpty ? .accepted : .rejected, reason: reason, to: metadata.messageID) else {
            // Kept in the log all the same; the sender learns the outcome from the HTTP answer.
            logger.info("uftp: \(inbound.message.typeName) \(metadata.messageID.text) refused over HTTP: \(reason ?? "accepted")")
            throw TransportRefusal(status: 400, reason: "\(inbound.message.typeName) \(reason == nil ? "Accepted" : "Rejected: " + (reason ?? ""))")
        }
        let outgoing = UFTPMessage(
            metadata: Metadata(version: metadata.version, senderDomain: domain, recipientDomain: metadata.senderDomain,
                               timeStamp: DateTime(now), conversationID: metadata.conversationID),
            payload: response)
        try await queue(outgoing, to: inbound.signed.senderDomain, role: inbound.signed.senderRole,
                        as: type(of: response).senderRole ?? roles[0], now: now)
    }

    /// Seals `message`, logs it and queues it for the participant's endpoint; returns its id in
    /// the log, or nil when no endpoint is known for the recipient.
    @discardableResult
    package func queue(_ message: UFTPMessage, to recipient: InternetDomain, role recipientRole: USEFRole, as role: USEFRole,
               now: Timestamp) async throws -> Int64? {
        let endpoint: String
        do {
            guard let participant = try await directory.participant(domain: recipient, role: recipientRole) else {
                logger.error("uftp: no endpoint known for \(recipient.text) as \(recipientRole.rawValue); \(message.typeName) not sent")
                return nil
            }
            endpoint = participant.endpoint
        } catch {
            // Discovery failed for now (DNS): queued all the same, the sender looks again.
            logger.warning("uftp: \(recipient.text) as \(recipientRole.rawValue) not discovered yet (\(error)); \(message.typeName) waits for it")
            endpoint = PendingEndpoint.make(domain: recipient, role: recipientRole)
        }
        let signed = SignedMessage(sealing: message, role: role, key: signingKey)
        let payload = Array(signed.sealedBody.dropFirst(64))
        // What is sent must pass the checks a receiver makes (the XSD's facets and cardinalities
        // for its version): the strict decoder reads it back first, and a message it refuses is
        // a fault here, never sent.
        do {
            _ = try UFTPCodec.decode(payload)
        } catch {
            logger.critical("uftp: \(message.typeName) \(message.metadata.messageID.text) is not sent, it would not validate: \(error)")
            throw InvalidOutgoingMessage(type: message.typeName, problem: "\(error)")
        }
        let id = try await store.queueUFTPMessage(UFTPMessageRecord(
            direction: .outbound, type: message.typeName, messageID: message.metadata.messageID.text,
            conversationID: message.metadata.conversationID.text, senderDomain: domain.text, senderRole: role.rawValue,
            recipientDomain: recipient.text, time: now, signed: signed.encode(), payload: payload), endpoint: endpoint)
        logger.info("uftp: queued \(message.typeName) \(message.metadata.messageID.text) for \(recipient.text) as #\(id)")
        return id
    }

    /// The checks against the exchange so far: a referenced message must be one exchanged with
    /// this sender, of the same Period, neither expired nor revoked (UFTP §3.5); an offer must
    /// answer a requested ISP of its request, an order must repeat its offer, and an offer
    /// already ordered cannot be revoked (the use cases' own).
    func referenceReasons(_ payload: any UFTPPayload, from sender: InternetDomain, now: Timestamp) async throws -> [String] {
        let instant = DateTime(now)
        switch payload {
        case let offer as FlexOffer:
            guard let id = offer.flexRequestMessageID else { return [] }
            guard let (request, _) = try await exchanged(FlexRequest.self, id, from: domain, to: sender) else {
                return [RejectionReason.unknownReference("FlexRequestMessageID")]
            }
            var reasons: [String] = []
            if request.period != offer.period { reasons.append(RejectionReason.referencePeriodMismatch) }
            if request.expirationDateTime < instant { reasons.append(RejectionReason.referenceMessageExpired) }
            return reasons + UseCaseValidation.offer(offer, answering: request)
        case let order as FlexOrder:
            guard let id = order.flexOfferMessageID else { return [] }
            guard let (offer, record) = try await exchanged(FlexOffer.self, id, from: domain, to: sender) else {
                return [RejectionReason.unknownReference("FlexOfferMessageID")]
            }
            var reasons: [String] = []
            if offer.period != order.period { reasons.append(RejectionReason.referencePeriodMismatch) }
            if offer.expirationDateTime < instant { reasons.append(RejectionReason.referenceMessageExpired) }
            if try await outcome(ofOffer: id, in: record.conversationID, madeBy: .outbound).revoked {
                reasons.append(RejectionReason.referenceMessageRevoked)
            }
            return reasons + UseCaseValidation.order(order, against: offer)
        case let revocation as FlexOfferRevocation:
            let id = revocation.flexOfferMessageID
            guard let (_, record) = try await exchanged(FlexOffer.self, id, from: sender, to: domain) else {
                return [RejectionReason.unknownReference("FlexOfferMessageID")]
            }
            let ordered = try await outcome(ofOffer: id, in: record.conversationID, madeBy: .inbound).order != nil
            return ordered ? [UseCaseValidation.flexibilityProcured] : []
        default:
            return []
        }
    }

    /// An aggregator's answer to each order a settlement settles (UFTP §2.5): Accepted when the
    /// DSO placed that order with it for that Period and congestion point, else Disputed, why.
    func settlementStatuses(_ settlement: FlexSettlement, from sender: InternetDomain) async throws -> [FlexSettlementResponse.OrderStatus] {
        var orders: [String: FlexOrder] = [:]
        for record in try await store.everyUFTPMessage(UFTPMessageQuery(senderDomain: sender.text, type: FlexOrder.elementName, limit: 1_000))
        where record.direction == .inbound && record.recipientDomain == domain.text {
            if let order = try? UFTPCodec.decode(record.payload).payload as? FlexOrder { orders[order.orderReference] = order }
        }
        return settlement.orderSettlements.map { settled in
            guard let reference = settled.orderReference, let order = orders[reference] else {
                return .init(orderReference: settled.orderReference, disposition: .disputed, disputeReason: "Unknown order")
            }
            guard order.period == settled.period, order.congestionPoint == settled.congestionPoint else {
                return .init(orderReference: reference, disposition: .disputed, disputeReason: "Period or congestion point differs from the order's")
            }
            return .init(orderReference: reference, disposition: .accepted)
        }
    }

    /// The message of type `T` with `id` that `sender` sent to `recipient`, as logged.
    func exchanged<T: UFTPPayload>(_ type: T.Type, _ id: UUIDValue, from sender: InternetDomain,
                                   to recipient: InternetDomain) async throws -> (T, UFTPMessageRecord)? {
        let records = try await store.uftpMessages(UFTPMessageQuery(senderDomain: sender.text, messageID: id.text, limit: 10))
        for record in records where record.type == T.elementName && record.recipientDomain == recipient.text {
            if let payload = try? UFTPCodec.decode(record.payload).payload as? T { return (payload, record) }
        }
        return nil
    }

    /// What became of an offer in its conversation, as logged: revoked by the party that made it,
    /// ordered by the one it was made to (the order's MessageID).
    package func outcome(ofOffer id: UUIDValue, in conversationID: String, madeBy maker: UFTPMessageRecord.Direction)
        async throws -> (revoked: Bool, order: String?) {
        var revoked = false
        var order: String?
        for (record, payload) in try await conversation(conversationID, of: [FlexOfferRevocation.self, FlexOrder.self]) {
            if record.direction == maker, (payload as? FlexOfferRevocation)?.flexOfferMessageID == id { revoked = true }
            if record.direction != maker, order == nil, (payload as? FlexOrder)?.flexOfferMessageID == id { order = record.messageID }
        }
        return (revoked, order)
    }

    /// The messages of `types` in a conversation, decoded (one the log holds but cannot decode is
    /// left out). Only those are decoded: a peer chooses the conversation, and may have filled it.
    package func conversation(_ id: String, of types: [any UFTPPayload.Type]) async throws -> [(record: UFTPMessageRecord, payload: any UFTPPayload)] {
        let names = Set(types.map { $0.elementName })
        return try await store.uftpMessages(UFTPMessageQuery(conversationID: id, limit: 10_000)).compactMap { record in
            guard names.contains(record.type) else { return nil }
            return (try? UFTPCodec.decode(record.payload)).map { (record, $0.payload) }
        }
    }

    /// The use-case checks that need nothing but the message (those needing earlier messages,
    /// such as an order's offer, are the market's).
    func useCaseReasons(_ payload: any UFTPPayload, now: Timestamp) -> [String] {
        // Every flex message: its ISPs within its Period, the Period not over.
        var reasons: [String] = []
        if let flex = payload as? any FlexMessage {
            reasons = GenericValidation.isps(flex, terms: terms) + GenericValidation.period(flex, terms: terms, now: now)
        }
        switch payload {
        case let prognosis as DPrognosis:
            reasons += UseCaseValidation.prognosis(prognosis, terms: terms)
        case let request as FlexRequest:
            reasons += UseCaseValidation.request(request)
                + GenericValidation.expiration(request.expirationDateTime, of: request, terms: terms, now: now)
        case let offer as FlexOffer:
            reasons += GenericValidation.expiration(offer.expirationDateTime, of: offer, terms: terms, now: now)
        case let settlement as FlexSettlement:
            reasons += GenericValidation.period(settlement)
        default:
            break
        }
        return reasons
    }
}

extension SCDStore {
    /// Every logged message matching `query`, read in pages of its `limit`.
    func everyUFTPMessage(_ query: UFTPMessageQuery) async throws -> [UFTPMessageRecord] {
        var page = query
        var records: [UFTPMessageRecord] = []
        while true {
            let found = try await uftpMessages(page)
            records += found
            guard found.count == page.limit, let last = found.last?.id else { return records }
            page.after = last
        }
    }
}

/// The outgoing queue in the SCD, for the sender.
package struct SCDOutbox: UFTPOutbox {
    package let store: any UFTPMessageLog

    package func claim(now: Timestamp, leaseMs: Int64, limit: Int) async throws -> [OutgoingMessage] {
        try await store.claimUFTPDeliveries(now: now, leaseMs: leaseMs, limit: limit).map {
            OutgoingMessage(id: $0.message, endpoint: $0.endpoint, document: $0.signed, attempts: $0.attempts, queued: $0.queued,
                            label: "\($0.type) \($0.messageID)")
        }
    }

    package func record(_ message: OutgoingMessage, attempts: Int, outcome: DeliveryOutcome) async throws {
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
package struct UFTPExchange: Sendable {
    package let receiver: UFTPReceiver
    package let sender: UFTPSender
    /// When this platform plays the DSO or AGR role.
    package let uftpActions: UFTPActions?

    package init(config: UFTPParticipant, responder: UFTPResponder, logger: Logger) {
        let participants = responder.directory
        receiver = UFTPReceiver(directory: participants, inbox: SCDInbox(store: responder.store, responder: responder, logger: logger),
                                rateLimit: SenderRateLimit(perSecond: Double(config.rateLimitPerSecond),
                                                           burst: Double(2 * config.rateLimitPerSecond)))
        sender = UFTPSender(outbox: SCDOutbox(store: responder.store), directory: participants, logger: logger)
        uftpActions = config.roles.contains(.dso) || config.roles.contains(.agr) ? UFTPActions(responder: responder) : nil
        logger.notice("uftp: \(config.domain.text) as \(config.roles.map(\.rawValue).joined(separator: ", ")), public key \(responder.signingKey.publicKey.cs1)")
    }

    /// The participants file, then DNS discovery, as configured.
    package static func directory(_ config: UFTPParticipant) throws -> any ParticipantDirectory {
        var directories: [any ParticipantDirectory] = []
        if let file = config.participantsFile { directories.append(try ParticipantsFile(path: file)) }
        if let dns = config.dnsDiscovery { directories.append(DNSDiscovery(options: dns)) }
        return directories.count == 1 ? directories[0] : ParticipantDirectories(directories)
    }

    /// This participant's identity and market terms over the SCD's message log, from `[uftp]`.
    package static func responder(config: UFTPParticipant, store: any SCDStore, logger: Logger) throws -> UFTPResponder {
        UFTPResponder(domain: config.domain, roles: config.roles, signingKey: try SigningKey(contentsOfFile: config.signingKeyFile),
                      directory: try directory(config), store: store,
                      terms: MarketTerms(ispMinutes: config.ispMinutes, timeZone: config.marketTimeZone), logger: logger,
                      commonReference: config.roles.contains(.cro)
                          ? CommonReference(store: store, mode: config.croMode, timeZone: config.marketTimeZone) : nil,
                      barredSenders: config.barredSenders, croDomain: config.croDomain)
    }
}
