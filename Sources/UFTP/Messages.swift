// The UFTP 3.0.0/3.1.0 messages (official XSDs), each a typed value whose coding keys are the
// XSD's attribute and element names in schema order. Cardinalities: `[T]` is 0..n, `@OneOrMore`
// is 1..n, an optional is 0..1. The common metadata is not part of these types: `UFTPMessage`
// carries it beside the payload.

/// A list the XSD requires at least one element of (`minOccurs` 1, the default).
@propertyWrapper
public struct OneOrMore<Element: Codable & Hashable & Sendable>: Codable, Hashable, Sendable {
    public var wrappedValue: [Element]

    public init(wrappedValue: [Element]) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        var list = try decoder.unkeyedContainer()
        var elements: [Element] = []
        while !list.isAtEnd { elements.append(try list.decode(Element.self)) }
        guard !elements.isEmpty else {
            throw XMLError(path: describe(decoder.codingPath.dropLast()), problem: "needs at least one <\(decoder.codingPath.last?.stringValue ?? "")>")
        }
        wrappedValue = elements
    }

    public func encode(to encoder: any Encoder) throws {
        var list = encoder.unkeyedContainer()
        for element in wrappedValue { try list.encode(element) }
    }
}

/// The attributes every payload message has (`PayloadMessageType`).
public struct Metadata: Codable, Hashable, Sendable {
    public var version: SpecVersion
    public var senderDomain: InternetDomain
    public var recipientDomain: InternetDomain
    public var timeStamp: DateTime
    public var messageID: UUIDValue
    public var conversationID: UUIDValue

    public init(version: SpecVersion = .v3_1_0, senderDomain: InternetDomain, recipientDomain: InternetDomain,
                timeStamp: DateTime, messageID: UUIDValue = .random(), conversationID: UUIDValue) {
        self.version = version
        self.senderDomain = senderDomain
        self.recipientDomain = recipientDomain
        self.timeStamp = timeStamp
        self.messageID = messageID
        self.conversationID = conversationID
    }

    enum CodingKeys: String, CodingKey {
        case version = "Version", senderDomain = "SenderDomain", recipientDomain = "RecipientDomain"
        case timeStamp = "TimeStamp", messageID = "MessageID", conversationID = "ConversationID"
    }
}

/// A payload message type: its root element name and who sends it to whom.
public protocol UFTPPayload: Codable, Hashable, Sendable {
    static var elementName: String { get }
    /// The role that sends it (the wrapper's SenderRole); nil: any role (TestMessage).
    static var senderRole: USEFRole? { get }
    static var recipientRole: USEFRole? { get }
}

/// A `*Response` (`PayloadMessageResponseType`): the outcome of the message it names.
public protocol UFTPResponse: UFTPPayload {
    var result: AcceptedRejected { get }
    var rejectionReason: String? { get }
    /// The MessageID of the message answered.
    var referencedMessageID: UUIDValue { get }
}

/// What tells one plain response type from another: its element, its roles and the name of the
/// attribute that references the message answered.
public protocol PlainResponseKind: Hashable, Sendable {
    static var elementName: String { get }
    static var referenceAttribute: String { get }
    static var senderRole: USEFRole? { get }
    static var recipientRole: USEFRole? { get }
}

/// A response that carries only the outcome and the reference (most of them).
public struct PlainResponse<Kind: PlainResponseKind>: UFTPResponse {
    public static var elementName: String { Kind.elementName }
    public static var senderRole: USEFRole? { Kind.senderRole }
    public static var recipientRole: USEFRole? { Kind.recipientRole }
    public var result: AcceptedRejected
    public var rejectionReason: String?
    public var referencedMessageID: UUIDValue

    public init(result: AcceptedRejected, rejectionReason: String? = nil, referencedMessageID: UUIDValue) {
        self.result = result
        self.rejectionReason = rejectionReason
        self.referencedMessageID = referencedMessageID
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: XMLKey.self)
        result = try container.decode(AcceptedRejected.self, forKey: XMLKey(element: "Result"))
        rejectionReason = try container.decodeIfPresent(String.self, forKey: XMLKey(element: "RejectionReason"))
        referencedMessageID = try container.decode(UUIDValue.self, forKey: XMLKey(element: Kind.referenceAttribute))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: XMLKey.self)
        try container.encode(result, forKey: XMLKey(element: "Result"))
        try container.encodeIfPresent(rejectionReason, forKey: XMLKey(element: "RejectionReason"))
        try container.encode(referencedMessageID, forKey: XMLKey(element: Kind.referenceAttribute))
    }
}

public enum AGRPortfolioUpdateResponseKind: PlainResponseKind {
    public static let elementName = "AGRPortfolioUpdateResponse"
    public static let referenceAttribute = "AGRPortfolioUpdateMessageID"
    public static let senderRole: USEFRole? = .cro
    public static let recipientRole: USEFRole? = .agr
}
public typealias AGRPortfolioUpdateResponse = PlainResponse<AGRPortfolioUpdateResponseKind>

/// The XSD names the reference `DSOPortfolioUpdateResponseMessageID` (the prose:
/// …UpdateMessageID); the wire follows the XSD.
public enum DSOPortfolioUpdateResponseKind: PlainResponseKind {
    public static let elementName = "DSOPortfolioUpdateResponse"
    public static let referenceAttribute = "DSOPortfolioUpdateResponseMessageID"
    public static let senderRole: USEFRole? = .cro
    public static let recipientRole: USEFRole? = .dso
}
public typealias DSOPortfolioUpdateResponse = PlainResponse<DSOPortfolioUpdateResponseKind>

/// A message that must be answered (every one but the responses): it builds its response.
public protocol UFTPRequest: UFTPPayload {
    associatedtype Response: UFTPPayload
    /// The response to this request, with what the request itself determines; content only the
    /// answering role knows (a portfolio, settlement dispositions) is added by it. Nil where the
    /// XSD leaves no valid form for an answer made of the outcome alone.
    func response(_ result: AcceptedRejected, reason: String?, to messageID: UUIDValue) -> Response?
}

/// A response made from the outcome and the reference alone.
public protocol OutcomeOnlyResponse: UFTPResponse {
    init(result: AcceptedRejected, rejectionReason: String?, referencedMessageID: UUIDValue)
}

extension PlainResponse: OutcomeOnlyResponse {}

extension UFTPRequest where Response: OutcomeOnlyResponse {
    public func response(_ result: AcceptedRejected, reason: String?, to messageID: UUIDValue) -> Response? {
        Response(result: result, rejectionReason: reason, referencedMessageID: messageID)
    }
}

// MARK: Common (UFTP-common.xsd)

public struct TestMessage: UFTPRequest {
    public static let elementName = "TestMessage"
    public static let senderRole: USEFRole? = nil
    public static let recipientRole: USEFRole? = nil
    public init() {}

    /// Always answered, and without an outcome.
    public func response(_ result: AcceptedRejected, reason: String?, to messageID: UUIDValue) -> TestMessageResponse? {
        TestMessageResponse()
    }
}

/// Carries metadata only: no Result (it is correlated by ConversationID).
public struct TestMessageResponse: UFTPPayload {
    public static let elementName = "TestMessageResponse"
    public static let senderRole: USEFRole? = nil
    public static let recipientRole: USEFRole? = nil
    public init() {}
}

// MARK: AGR ↔ CRO (UFTP-agr-cro.xsd)

/// A connection in a portfolio update, from its first Period to its last (if it has one).
public struct PortfolioConnection: Codable, Hashable, Sendable {
    public var entityAddress: EntityAddress
    public var startPeriod: Period
    public var endPeriod: Period?
    public init(entityAddress: EntityAddress, startPeriod: Period, endPeriod: Period? = nil) {
        self.entityAddress = entityAddress
        self.startPeriod = startPeriod
        self.endPeriod = endPeriod
    }
    enum CodingKeys: String, CodingKey { case entityAddress = "EntityAddress", startPeriod = "StartPeriod", endPeriod = "EndPeriod" }
}

public struct AGRPortfolioUpdate: UFTPRequest {
    public typealias Response = AGRPortfolioUpdateResponse
    public static let elementName = "AGRPortfolioUpdate"
    public static let senderRole: USEFRole? = .agr
    public static let recipientRole: USEFRole? = .cro

    public typealias Connection = PortfolioConnection

    public var timeZone: TimeZoneName
    @OneOrMore public var connections: [Connection]

    public init(timeZone: TimeZoneName, connections: [Connection]) {
        self.timeZone = timeZone
        self.connections = connections
    }

    enum CodingKeys: String, CodingKey { case timeZone = "TimeZone", connections = "Connection" }
}


public struct AGRPortfolioQuery: UFTPRequest {
    public static let elementName = "AGRPortfolioQuery"
    public static let senderRole: USEFRole? = .agr
    public static let recipientRole: USEFRole? = .cro
    public var timeZone: TimeZoneName
    public var period: Period

    public init(timeZone: TimeZoneName, period: Period) {
        self.timeZone = timeZone
        self.period = period
    }

    /// None: the XSD wants a DSO-View with at least one congestion point and connection in every
    /// AGRPortfolioQueryResponse, a rejection too; only the CRO's portfolio makes one.
    public func response(_ result: AcceptedRejected, reason: String?, to messageID: UUIDValue) -> AGRPortfolioQueryResponse? { nil }

    enum CodingKeys: String, CodingKey { case timeZone = "TimeZone", period = "Period" }
}

public struct AGRPortfolioQueryResponse: UFTPResponse {
    public static let elementName = "AGRPortfolioQueryResponse"
    public static let senderRole: USEFRole? = .cro
    public static let recipientRole: USEFRole? = .agr

    public struct ConnectionRef: Codable, Hashable, Sendable {
        public var entityAddress: EntityAddress
        public init(entityAddress: EntityAddress) { self.entityAddress = entityAddress }
        enum CodingKeys: String, CodingKey { case entityAddress = "EntityAddress" }
    }

    public struct CongestionPoint: Codable, Hashable, Sendable {
        public var entityAddress: EntityAddress
        public var mutexOffersSupported: Bool
        public var dayAheadRedispatchBy: RedispatchBy
        public var intradayRedispatchBy: RedispatchBy?
        @OneOrMore public var connections: [ConnectionRef]

        public init(entityAddress: EntityAddress, mutexOffersSupported: Bool, dayAheadRedispatchBy: RedispatchBy,
                    intradayRedispatchBy: RedispatchBy? = nil, connections: [ConnectionRef]) {
            self.entityAddress = entityAddress
            self.mutexOffersSupported = mutexOffersSupported
            self.dayAheadRedispatchBy = dayAheadRedispatchBy
            self.intradayRedispatchBy = intradayRedispatchBy
            self.connections = connections
        }

        enum CodingKeys: String, CodingKey {
            case entityAddress = "EntityAddress", mutexOffersSupported = "MutexOffersSupported"
            case dayAheadRedispatchBy = "DayAheadRedispatchBy", intradayRedispatchBy = "IntradayRedispatchBy", connections = "Connection"
        }
    }

    public struct DSOPortfolio: Codable, Hashable, Sendable {
        public var dsoDomain: InternetDomain
        @OneOrMore public var congestionPoints: [CongestionPoint]

        public init(dsoDomain: InternetDomain, congestionPoints: [CongestionPoint]) {
            self.dsoDomain = dsoDomain
            self.congestionPoints = congestionPoints
        }

        enum CodingKeys: String, CodingKey { case dsoDomain = "DSO-Domain", congestionPoints = "CongestionPoint" }
    }

    public struct DSOView: Codable, Hashable, Sendable {
        @OneOrMore public var dsoPortfolios: [DSOPortfolio]
        /// Connections in no DSO's congestion point.
        public var connections: [ConnectionRef]

        public init(dsoPortfolios: [DSOPortfolio], connections: [ConnectionRef] = []) {
            self.dsoPortfolios = dsoPortfolios
            self.connections = connections
        }

        enum CodingKeys: String, CodingKey { case dsoPortfolios = "DSO-Portfolio", connections = "Connection" }
    }

    public var result: AcceptedRejected
    public var rejectionReason: String?
    public var timeZone: TimeZoneName
    public var referencedMessageID: UUIDValue
    public var period: Period
    /// One or more, even in a rejection: a query with no portfolio to give has no valid
    /// response (docs/uftp.md, "Common Reference").
    @OneOrMore public var dsoViews: [DSOView]

    public init(result: AcceptedRejected, rejectionReason: String? = nil, timeZone: TimeZoneName, referencedMessageID: UUIDValue,
                period: Period, dsoViews: [DSOView]) {
        self.result = result
        self.rejectionReason = rejectionReason
        self.timeZone = timeZone
        self.referencedMessageID = referencedMessageID
        self.period = period
        self.dsoViews = dsoViews
    }

    enum CodingKeys: String, CodingKey {
        case result = "Result", rejectionReason = "RejectionReason", timeZone = "TimeZone"
        case referencedMessageID = "AGRPortfolioQueryMessageID", period = "Period", dsoViews = "DSO-View"
    }
}

// MARK: CRO ↔ DSO (UFTP-cro-dso.xsd)

public struct DSOPortfolioUpdate: UFTPRequest {
    public typealias Response = DSOPortfolioUpdateResponse
    public static let elementName = "DSOPortfolioUpdate"
    public static let senderRole: USEFRole? = .dso
    public static let recipientRole: USEFRole? = .cro

    public typealias Connection = PortfolioConnection

    public struct CongestionPoint: Codable, Hashable, Sendable {
        public var entityAddress: EntityAddress
        public var startPeriod: Period
        public var endPeriod: Period?
        public var mutexOffersSupported: Bool
        public var dayAheadRedispatchBy: RedispatchBy
        public var intradayRedispatchBy: RedispatchBy?
        @OneOrMore public var connections: [Connection]

        public init(entityAddress: EntityAddress, startPeriod: Period, endPeriod: Period? = nil, mutexOffersSupported: Bool,
                    dayAheadRedispatchBy: RedispatchBy, intradayRedispatchBy: RedispatchBy? = nil, connections: [Connection]) {
            self.entityAddress = entityAddress
            self.startPeriod = startPeriod
            self.endPeriod = endPeriod
            self.mutexOffersSupported = mutexOffersSupported
            self.dayAheadRedispatchBy = dayAheadRedispatchBy
            self.intradayRedispatchBy = intradayRedispatchBy
            self.connections = connections
        }

        enum CodingKeys: String, CodingKey {
            case entityAddress = "EntityAddress", startPeriod = "StartPeriod", endPeriod = "EndPeriod"
            case mutexOffersSupported = "MutexOffersSupported", dayAheadRedispatchBy = "DayAheadRedispatchBy"
            case intradayRedispatchBy = "IntradayRedispatchBy", connections = "Connection"
        }
    }

    public var timeZone: TimeZoneName
    @OneOrMore public var congestionPoints: [CongestionPoint]

    public init(timeZone: TimeZoneName, congestionPoints: [CongestionPoint]) {
        self.timeZone = timeZone
        self.congestionPoints = congestionPoints
    }

    enum CodingKeys: String, CodingKey { case timeZone = "TimeZone", congestionPoints = "CongestionPoint" }
}


public struct DSOPortfolioQuery: UFTPRequest {
    public static let elementName = "DSOPortfolioQuery"
    public static let senderRole: USEFRole? = .dso
    public static let recipientRole: USEFRole? = .cro
    public var timeZone: TimeZoneName
    public var period: Period
    public var entityAddress: EntityAddress

    public init(timeZone: TimeZoneName, period: Period, entityAddress: EntityAddress) {
        self.timeZone = timeZone
        self.period = period
        self.entityAddress = entityAddress
    }

    public func response(_ result: AcceptedRejected, reason: String?, to messageID: UUIDValue) -> DSOPortfolioQueryResponse? {
        DSOPortfolioQueryResponse(result: result, rejectionReason: reason, referencedMessageID: messageID, timeZone: timeZone, period: period)
    }

    enum CodingKeys: String, CodingKey { case timeZone = "TimeZone", period = "Period", entityAddress = "EntityAddress" }
}

public struct DSOPortfolioQueryResponse: UFTPResponse {
    public static let elementName = "DSOPortfolioQueryResponse"
    public static let senderRole: USEFRole? = .cro
    public static let recipientRole: USEFRole? = .dso

    public struct Connection: Codable, Hashable, Sendable {
        public var entityAddress: EntityAddress
        public var agrDomain: InternetDomain?
        public init(entityAddress: EntityAddress, agrDomain: InternetDomain? = nil) {
            self.entityAddress = entityAddress
            self.agrDomain = agrDomain
        }
        enum CodingKeys: String, CodingKey { case entityAddress = "EntityAddress", agrDomain = "AGR-Domain" }
    }

    public struct CongestionPoint: Codable, Hashable, Sendable {
        public var entityAddress: EntityAddress
        @OneOrMore public var connections: [Connection]
        public init(entityAddress: EntityAddress, connections: [Connection]) {
            self.entityAddress = entityAddress
            self.connections = connections
        }
        enum CodingKeys: String, CodingKey { case entityAddress = "EntityAddress", connections = "Connection" }
    }

    public var result: AcceptedRejected
    public var rejectionReason: String?
    public var referencedMessageID: UUIDValue
    public var timeZone: TimeZoneName
    public var period: Period
    public var congestionPoint: CongestionPoint?

    public init(result: AcceptedRejected, rejectionReason: String? = nil, referencedMessageID: UUIDValue, timeZone: TimeZoneName,
                period: Period, congestionPoint: CongestionPoint? = nil) {
        self.result = result
        self.rejectionReason = rejectionReason
        self.referencedMessageID = referencedMessageID
        self.timeZone = timeZone
        self.period = period
        self.congestionPoint = congestionPoint
    }

    enum CodingKeys: String, CodingKey {
        case result = "Result", rejectionReason = "RejectionReason", referencedMessageID = "DSOPortfolioQueryMessageID"
        case timeZone = "TimeZone", period = "Period", congestionPoint = "CongestionPoint"
    }
}
