import Logging
import SCD
import Sodium
import UFTP
import UFTPTransport

/// Received UFTP messages go to the SCD's message log before the sender gets its 200.
struct SCDInbox: UFTPInbox {
    let store: any SCDStore
    let logger: Logger

    func deliver(_ inbound: InboundMessage) async throws {
        let metadata = inbound.message.metadata
        let id = try await store.addUFTPMessage(UFTPMessageRecord(
            direction: .inbound, type: inbound.message.typeName, messageID: metadata.messageID.text,
            conversationID: metadata.conversationID.text, senderDomain: inbound.signed.senderDomain.text,
            senderRole: inbound.signed.senderRole.rawValue, recipientDomain: metadata.recipientDomain.text,
            time: inbound.received, signed: inbound.document, payload: inbound.payload))
        logger.info("uftp: stored \(inbound.message.typeName) \(metadata.messageID.text) from \(inbound.signed.senderDomain.text) as #\(id)")
    }
}

/// This platform as a UFTP participant: its key, the participants it knows and the receiving
/// endpoint over the SCD's message log.
struct UFTPExchange: Sendable {
    let receiver: UFTPReceiver
    let signingKey: SigningKey

    init(config: CoordinatorConfig.UFTPParticipant, store: any SCDStore, logger: Logger) throws {
        signingKey = try SigningKey(contentsOfFile: config.signingKeyFile)
        let participants = try ParticipantsFile(path: config.participantsFile)
        receiver = UFTPReceiver(directory: participants, inbox: SCDInbox(store: store, logger: logger))
        logger.notice("uftp: \(config.domain.text) as \(config.roles.map(\.rawValue).joined(separator: ", ")), \(participants.participants.count) participants known, public key \(signingKey.publicKey.cs1)")
    }
}
