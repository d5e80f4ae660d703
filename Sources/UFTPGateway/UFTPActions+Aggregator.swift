import Foundation
import GridCore
import Logging
import SCD
import UFTP

// MARK: Aggregator
extension UFTPActions {
    /// An ISP's power in a draft (W; negative is less consumption or more production): a
    /// reservation update's, a prognosis's, an offer option's.
    package struct PowerDraft: Decodable, Sendable {
        package var start: Int
        package var duration: Int?
        package var power: Int

        package init(start: Int, duration: Int? = nil, power: Int) {
            self.start = start
            self.duration = duration
            self.power = power
        }
    }

    /// A D-Prognosis (UFTP §2.4.3): the aggregator's forecast for its connections at a congestion
    /// point, every ISP of the Period, in revisions.
    package struct DPrognosisDraft: Decodable, Sendable {
        package var recipient: String
        package var congestionPoint: String
        package var period: String
        package var revision: Int64?
        package var isps: [PowerDraft]

        enum CodingKeys: String, CodingKey { case recipient, congestionPoint = "congestion_point", period, revision, isps }
    }

    /// A FlexOffer: in answer to a received FlexRequest (its DSO, congestion point and Period
    /// taken from it), or unsolicited (UFTP 3.1.0) to `recipient` for `congestion_point` and `period`.
    package struct FlexOfferDraft: Decodable, Sendable {
        package struct Option: Decodable, Sendable {
            package var optionReference: String?
            package var price: String
            package var minActivationFactor: String?
            package var isps: [PowerDraft]

            enum CodingKeys: String, CodingKey {
                case optionReference = "option_reference", price, minActivationFactor = "min_activation_factor", isps
            }
        }

        package var flexRequestMessageID: String?
        package var recipient: String?
        package var congestionPoint: String?
        package var period: String?
        package var expiration: String
        package var currency: String?
        package var dPrognosisMessageID: String?
        package var baselineReference: String?
        package var contractID: String?
        package var options: [Option]

        enum CodingKeys: String, CodingKey {
            case flexRequestMessageID = "flex_request_message_id", recipient, congestionPoint = "congestion_point", period
            case expiration, currency, dPrognosisMessageID = "d_prognosis_message_id", baselineReference = "baseline_reference"
            case contractID = "contract_id", options
        }
    }

    /// Withdraws an offer this platform made, before it is ordered.
    package struct FlexOfferRevocationDraft: Decodable, Sendable {
        package var offerMessageID: String

        enum CodingKeys: String, CodingKey { case offerMessageID = "offer_message_id" }
    }

    package func dPrognosis(_ draft: DPrognosisDraft, now: Timestamp = .now()) async throws -> Receipt {
        let isps = try draft.isps.enumerated().map { index, isp in
            DPrognosis.ISP(power: isp.power, start: try Self.positive("isps[\(index)].start", isp.start).value,
                           duration: try isp.duration.map { try Self.positive("isps[\(index)].duration", $0).value })
        }
        guard !isps.isEmpty else { throw Refusal.invalid(field: "isps", "isps: at least one ISP") }
        let terms = responder.terms
        let prognosis = DPrognosis(
            ispDuration: ISPDuration(minutes: terms.ispMinutes), timeZone: try Self.value("time_zone", terms.timeZone.identifier),
            period: try Self.value("period", draft.period), congestionPoint: try Self.value("congestion_point", draft.congestionPoint),
            revision: draft.revision ?? 1, isps: isps)
        let reasons = GenericValidation.isps(prognosis, terms: terms) + UseCaseValidation.prognosis(prognosis, terms: terms)
        guard reasons.isEmpty else { throw Refusal.invalid(field: nil, "the DSO would reject it: \(reasons.joined(separator: "; "))") }
        return try await queue(UFTPMessage(metadata: Metadata(senderDomain: responder.domain,
                                                              recipientDomain: try Self.value("recipient", draft.recipient),
                                                              timeStamp: DateTime(now), conversationID: .random()),
                                           payload: prognosis), now: now)
    }

    package func flexOffer(_ draft: FlexOfferDraft, now: Timestamp = .now()) async throws -> Receipt {
        let terms = responder.terms
        var options: [FlexOffer.Option] = []
        for (index, option) in draft.options.enumerated() {
            let field = "options[\(index)]"
            let isps = try option.isps.enumerated().map { number, isp in
                PowerISP(power: isp.power, start: try Self.positive("\(field).isps[\(number)].start", isp.start),
                         duration: try isp.duration.map { try Self.positive("\(field).isps[\(number)].duration", $0) })
            }
            guard !isps.isEmpty else { throw Refusal.invalid(field: field + ".isps", "\(field).isps: at least one ISP") }
            options.append(FlexOffer.Option(optionReference: option.optionReference ?? String(UnicodeScalar(UInt8(65 + index % 26))),
                                            price: try Self.value(field + ".price", option.price),
                                            minActivationFactor: try option.minActivationFactor.map { try Self.value(field + ".min_activation_factor", $0) },
                                            isps: isps))
        }
        guard !options.isEmpty else { throw Refusal.invalid(field: "options", "options: at least one option") }
        // Answering a request: the DSO, congestion point, Period and conversation are the request's.
        var request: (message: UFTPMessage, payload: FlexRequest)?
        if let text = draft.flexRequestMessageID {
            let id: UUIDValue = try Self.value("flex_request_message_id", text)
            let (payload, decoded, _) = try await logged(FlexRequest.self, id, .inbound)
            if payload.expirationDateTime < DateTime(now) { throw Refusal.conflict("the request expired at \(payload.expirationDateTime.text)") }
            request = (decoded, payload)
        }
        guard request != nil || (draft.recipient != nil && draft.congestionPoint != nil && draft.period != nil) else {
            throw Refusal.invalid(field: "flex_request_message_id",
                                  "flex_request_message_id: the request answered, or recipient, congestion_point and period for an unsolicited offer")
        }
        let offer = FlexOffer(
            ispDuration: request?.payload.ispDuration ?? ISPDuration(minutes: terms.ispMinutes),
            timeZone: try request?.payload.timeZone ?? Self.value("time_zone", terms.timeZone.identifier),
            period: try request?.payload.period ?? Self.value("period", draft.period ?? ""),
            congestionPoint: try request?.payload.congestionPoint ?? Self.value("congestion_point", draft.congestionPoint ?? ""),
            expirationDateTime: try Self.value("expiration", draft.expiration),
            unsolicited: request == nil ? true : nil, flexRequestMessageID: request?.message.metadata.messageID,
            contractID: draft.contractID ?? request?.payload.contractID,
            dPrognosisMessageID: try draft.dPrognosisMessageID.map { try Self.value("d_prognosis_message_id", $0) },
            baselineReference: draft.baselineReference, currency: try Self.value("currency", draft.currency ?? "EUR"), options: options)
        var reasons = GenericValidation.isps(offer, terms: terms)
            + GenericValidation.expiration(offer.expirationDateTime, of: offer, terms: terms, now: now)
        if let request { reasons += UseCaseValidation.offer(offer, answering: request.payload) }
        guard reasons.isEmpty else { throw Refusal.invalid(field: nil, "the DSO would reject it: \(reasons.joined(separator: "; "))") }
        // An unsolicited offer exists only in 3.1.0; an answer speaks the request's version.
        let metadata = Metadata(version: request?.message.metadata.version ?? .v3_1_0, senderDomain: responder.domain,
                                recipientDomain: try request?.message.metadata.senderDomain ?? Self.value("recipient", draft.recipient ?? ""),
                                timeStamp: DateTime(now), conversationID: request?.message.metadata.conversationID ?? .random())
        return try await queue(UFTPMessage(metadata: metadata, payload: offer), now: now)
    }

    package func flexOfferRevocation(_ draft: FlexOfferRevocationDraft, now: Timestamp = .now()) async throws -> Receipt {
        let offerID: UUIDValue = try Self.value("offer_message_id", draft.offerMessageID)
        let (_, decoded, sent) = try await logged(FlexOffer.self, offerID, .outbound)
        let outcome = try await responder.outcome(ofOffer: offerID, in: sent.conversationID, madeBy: .outbound)
        if outcome.revoked { throw Refusal.conflict("the offer was revoked already") }
        if let order = outcome.order { throw Refusal.conflict("the DSO ordered the offer already (\(order))") }
        return try await queue(UFTPMessage(metadata: Metadata(version: decoded.metadata.version, senderDomain: responder.domain,
                                                              recipientDomain: decoded.metadata.recipientDomain, timeStamp: DateTime(now),
                                                              conversationID: decoded.metadata.conversationID),
                                           payload: FlexOfferRevocation(flexOfferMessageID: offerID)), now: now)
    }

    /// The message of type `T` with `id` that this platform received (`.inbound`) or sent
    /// (`.outbound`), as logged: its payload, the whole message and its record; `unknown` when
    /// the log has none.
    package func logged<T: UFTPPayload>(_ type: T.Type, _ id: UUIDValue, _ direction: UFTPMessageRecord.Direction)
        async throws -> (payload: T, message: UFTPMessage, record: UFTPMessageRecord) {
        let ours = responder.domain.text
        let record = try await responder.store.uftpMessages(UFTPMessageQuery(messageID: id.text, type: T.elementName, limit: 10)).first {
            $0.direction == direction && (direction == .inbound ? $0.recipientDomain : $0.senderDomain) == ours
        }
        guard let record, let message = try? UFTPCodec.decode(record.payload), let payload = message.payload as? T else {
            throw Refusal.unknown("no \(T.elementName) \(id.text) was \(direction == .inbound ? "received" : "sent")")
        }
        return (payload, message, record)
    }

    /// Logs and queues a message for its recipient in the role that receives its type, signed in
    /// the role that sends it.
    func queue(_ message: UFTPMessage, now: Timestamp) async throws -> Receipt {
        let recipient = message.metadata.recipientDomain
        let role = type(of: message.payload).recipientRole ?? .agr
        guard let id = try await responder.queue(message, to: recipient, role: role, as: type(of: message.payload).senderRole ?? .dso,
                                                 now: now) else {
            throw Refusal.invalid(field: "recipient", "no endpoint is known for \(recipient.text) as \(role.rawValue) (participants file)")
        }
        return Receipt(id: id, type: message.typeName, messageID: message.metadata.messageID.text,
                       conversationID: message.metadata.conversationID.text, recipientDomain: recipient.text)
    }

    /// A draft from JSON, a fault naming its field.
    package static func draft<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws(Refusal) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch DecodingError.keyNotFound(let key, _) {
            throw Refusal.invalid(field: key.stringValue, "\(key.stringValue) is required")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw Refusal.invalid(field: field, "\(field) has the wrong type")
        } catch {
            throw Refusal.invalid(field: nil, "the draft is not valid JSON")
        }
    }

    static func value<T: UFTPSimpleType>(_ field: String, _ text: String) throws(Refusal) -> T {
        do {
            return try T(validating: text)
        } catch {
            throw Refusal.invalid(field: field, "\(field): \(error.problem)")
        }
    }

    static func positive(_ field: String, _ value: Int) throws(Refusal) -> PositiveInteger {
        do {
            return try PositiveInteger(value)
        } catch {
            throw Refusal.invalid(field: field, "\(field): \(error.problem)")
        }
    }
}
