import GridCore

/// One UFTP message as it crossed the platform's boundary, in or out (FUSION FR04/FR33): the
/// signed document as sent or received and the payload it carries, with the fields it is found
/// by. Stored once and never changed; a message received twice is stored twice.
public struct UFTPMessageRecord: Sendable, Equatable {
    public enum Direction: String, Sendable {
        case inbound = "in", outbound = "out"
    }

    /// Assigned by the store, ascending in storage order.
    public var id: Int64?
    public var direction: Direction
    /// The payload's root element name (`FlexOffer`, `FlexOrderResponse`, …).
    public var type: String
    public var messageID: String
    public var conversationID: String
    public var senderDomain: String
    public var senderRole: String
    public var recipientDomain: String
    /// When it was received, or queued to be sent.
    public var time: Timestamp
    /// The SignedMessage document (XML).
    public var signed: [UInt8]
    /// The payload message (XML), as signed.
    public var payload: [UInt8]
    /// An outgoing message's delivery, as last recorded (nil for one received).
    public var delivery: UFTPDeliveryStatus?

    public init(id: Int64? = nil, direction: Direction, type: String, messageID: String, conversationID: String,
                senderDomain: String, senderRole: String, recipientDomain: String, time: Timestamp,
                signed: [UInt8], payload: [UInt8], delivery: UFTPDeliveryStatus? = nil) {
        self.id = id
        self.direction = direction
        self.type = type
        self.messageID = messageID
        self.conversationID = conversationID
        self.senderDomain = senderDomain
        self.senderRole = senderRole
        self.recipientDomain = recipientDomain
        self.time = time
        self.signed = signed
        self.payload = payload
        self.delivery = delivery
    }
}

/// Where an outgoing message stands: waiting (first or next attempt), delivered (HTTP 200) or
/// failed for good (an unambiguous 4xx, or no success within the retry time).
public struct UFTPDeliveryStatus: Sendable, Equatable {
    public enum State: String, Sendable {
        case pending, delivered, failed
    }

    public var state: State
    public var attempts: Int
    public var nextAttempt: Timestamp
    /// What the last failed attempt met.
    public var problem: String?

    public init(state: State, attempts: Int, nextAttempt: Timestamp, problem: String? = nil) {
        self.state = state
        self.attempts = attempts
        self.nextAttempt = nextAttempt
        self.problem = problem
    }
}

/// An outgoing message claimed for an attempt.
public struct UFTPDelivery: Sendable, Equatable {
    /// The message's id in the log.
    public var message: Int64
    public var endpoint: String
    /// The SignedMessage document to post.
    public var signed: [UInt8]
    /// Attempts made before this one.
    public var attempts: Int
    /// When it was queued: retries stop some time after.
    public var queued: Timestamp
    public var type: String
    public var messageID: String

    public init(message: Int64, endpoint: String, signed: [UInt8], attempts: Int, queued: Timestamp, type: String, messageID: String) {
        self.message = message
        self.endpoint = endpoint
        self.signed = signed
        self.attempts = attempts
        self.queued = queued
        self.type = type
        self.messageID = messageID
    }
}

/// Which stored UFTP messages to list: one conversation's, or those from a sender with a
/// message ID (to tell a resubmission from a reused identifier); in storage order, after `after`.
public struct UFTPMessageQuery: Sendable {
    public var conversationID: String?
    public var senderDomain: String?
    public var messageID: String?
    /// The root element name (`FlexOrder`, …).
    public var type: String?
    public var after: Int64?
    public var limit: Int

    public init(conversationID: String? = nil, senderDomain: String? = nil, messageID: String? = nil, type: String? = nil,
                after: Int64? = nil, limit: Int = 100) {
        self.conversationID = conversationID
        self.senderDomain = senderDomain
        self.messageID = messageID
        self.type = type
        self.after = after
        self.limit = limit
    }
}

extension UFTPMessageQuery {
    /// The filters that are set, as conditions on `uftp_messages m` with their values in order:
    /// only those, so that the conversation and sender indexes serve the query (an
    /// `? IS NULL OR …` form would scan the whole log for every message received).
    /// `placeholder(n)` writes the n-th parameter (1-based).
    package func conditions(placeholder: (Int) -> String) -> (sql: String, values: [String]) {
        var clauses: [String] = []
        var values: [String] = []
        for (column, value) in [("conversation_id", conversationID), ("sender_domain", senderDomain), ("message_id", messageID),
                                ("type", type)] {
            guard let value else { continue }
            values.append(value)
            clauses.append("m.\(column) = \(placeholder(values.count))")
        }
        return (clauses.map { $0 + " AND " }.joined(), values)
    }
}
