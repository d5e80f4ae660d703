import GridCore
// AGR ↔ DSO messages (UFTP-agr-dso.xsd, UFTP-metering.xsd).

/// `FlexMessageType`: the messages about one congestion point's ISPs on one Period.
public protocol FlexMessage: UFTPPayload {
    var ispDuration: ISPDuration { get }
    var timeZone: TimeZoneName { get }
    var period: Period { get }
    var congestionPoint: EntityAddress { get }
    /// The ISPs covered, as (first ISP number, number of ISPs) per element.
    var ispRanges: [(start: Int, count: Int)] { get }
    /// The ISPs of each alternative the message holds: a FlexOffer's options (mutually
    /// exclusive, so they may cover the same ISPs), else one.
    var ispAlternatives: [[(start: Int, count: Int)]] { get }
    /// Every power the message gives (W), for the bounds check.
    var powers: [Int] { get }
}

extension FlexMessage {
    public var ispAlternatives: [[(start: Int, count: Int)]] { [ispRanges] }
}


/// A message sent in revisions (D-Prognosis, FlexRequest): each revision for a congestion point
/// and Period replaces the one before, and one lower than a revision already processed from the
/// same sender is refused, `Subordinate sequence number` (UFTP §3.5 and the use cases).
public protocol RevisionedMessage: FlexMessage {
    var revision: Int64 { get }
}

extension RevisionedMessage {
    /// What a revision number counts within: the congestion point and the Period.
    public var revisionScope: String { "\(congestionPoint.text) \(period.text)" }
}

/// An ISP with a power (FlexReservationUpdate, FlexOffer options, FlexOrder).
public struct PowerISP: Codable, Hashable, Sendable {
    public var power: Int
    public var start: PositiveInteger
    public var duration: PositiveInteger?
    public init(power: Int, start: PositiveInteger, duration: PositiveInteger? = nil) {
        self.power = power
        self.start = start
        self.duration = duration
    }
    enum CodingKeys: String, CodingKey { case power = "Power", start = "Start", duration = "Duration" }
}

extension PowerISP: AttributesOnlyElement {
    init(_ attributes: AttributeReader) throws {
        self.init(power: try attributes.integer(CodingKeys.power), start: try attributes.value(CodingKeys.start),
                  duration: try attributes.value(ifPresent: CodingKeys.duration))
    }

    func write(_ attributes: AttributeWriter) {
        attributes(CodingKeys.power, power)
        attributes(CodingKeys.start, start)
        attributes(CodingKeys.duration, duration)
    }
}

public struct DPrognosis: RevisionedMessage, UFTPRequest {
    public static let elementName = "D-Prognosis"
    public static let senderRole: USEFRole? = .agr
    public static let recipientRole: USEFRole? = .dso

    /// The XSD types Start and Duration as any integer here; the receiver checks the range.
    public struct ISP: Codable, Hashable, Sendable {
        public var power: Int
        public var start: Int
        public var duration: Int?
        public init(power: Int, start: Int, duration: Int? = nil) {
            self.power = power
            self.start = start
            self.duration = duration
        }
        enum CodingKeys: String, CodingKey { case power = "Power", start = "Start", duration = "Duration" }
    }

    public var ispDuration: ISPDuration
    public var timeZone: TimeZoneName
    public var period: Period
    public var congestionPoint: EntityAddress
    public var revision: Int64
    @OneOrMore public var isps: [ISP]

    public init(ispDuration: ISPDuration, timeZone: TimeZoneName, period: Period, congestionPoint: EntityAddress,
                revision: Int64, isps: [ISP]) {
        self.ispDuration = ispDuration
        self.timeZone = timeZone
        self.period = period
        self.congestionPoint = congestionPoint
        self.revision = revision
        self.isps = isps
    }

    public var ispRanges: [(start: Int, count: Int)] { isps.map { ($0.start, $0.duration ?? 1) } }

    /// The prognosed power of each ISP, by its number (spans expanded).
    public var powerByISP: [Int: Int] {
        var power: [Int: Int] = [:]
        for isp in isps {
            for number in ISPNumbers.clamped(start: isp.start, count: isp.duration ?? 1) { power[number] = isp.power }
        }
        return power
    }

    public var powers: [Int] { isps.map(\.power) }

    public func response(_ result: AcceptedRejected, reason: String?, to messageID: UUIDValue) -> DPrognosisResponse? {
        DPrognosisResponse(result: result, rejectionReason: reason, referencedMessageID: messageID)
    }

    enum CodingKeys: String, CodingKey {
        case ispDuration = "ISP-Duration", timeZone = "TimeZone", period = "Period", congestionPoint = "CongestionPoint"
        case revision = "Revision", isps = "ISP"
    }
}

public struct DPrognosisResponse: UFTPResponse {
    public static let elementName = "D-PrognosisResponse"
    public static let senderRole: USEFRole? = .dso
    public static let recipientRole: USEFRole? = .agr

    /// Whether the prognosis reflects an earlier FlexOrder (the XSD's form: by MessageID).
    public struct FlexOrderStatus: Codable, Hashable, Sendable {
        public var flexOrderMessageID: UUIDValue
        public var isValidated: Bool
        public init(flexOrderMessageID: UUIDValue, isValidated: Bool) {
            self.flexOrderMessageID = flexOrderMessageID
            self.isValidated = isValidated
        }
        enum CodingKeys: String, CodingKey { case flexOrderMessageID = "FlexOrderMessageID", isValidated = "IsValidated" }
    }

    public var result: AcceptedRejected
    public var rejectionReason: String?
    public var referencedMessageID: UUIDValue
    public var flexOrderStatuses: [FlexOrderStatus]

    public init(result: AcceptedRejected, rejectionReason: String? = nil, referencedMessageID: UUIDValue,
                flexOrderStatuses: [FlexOrderStatus] = []) {
        self.result = result
        self.rejectionReason = rejectionReason
        self.referencedMessageID = referencedMessageID
        self.flexOrderStatuses = flexOrderStatuses
    }

    enum CodingKeys: String, CodingKey {
        case result = "Result", rejectionReason = "RejectionReason", referencedMessageID = "D-PrognosisMessageID"
        case flexOrderStatuses = "FlexOrderStatus"
    }
}

public struct FlexReservationUpdate: FlexMessage, UFTPRequest {
    public typealias Response = FlexReservationUpdateResponse
    public static let elementName = "FlexReservationUpdate"
    public static let senderRole: USEFRole? = .dso
    public static let recipientRole: USEFRole? = .agr

    public var ispDuration: ISPDuration
    public var timeZone: TimeZoneName
    public var period: Period
    public var congestionPoint: EntityAddress
    public var contractID: String
    public var reference: String
    @OneOrMore public var isps: [PowerISP]

    public init(ispDuration: ISPDuration, timeZone: TimeZoneName, period: Period, congestionPoint: EntityAddress,
                contractID: String, reference: String, isps: [PowerISP]) {
        self.ispDuration = ispDuration
        self.timeZone = timeZone
        self.period = period
        self.congestionPoint = congestionPoint
        self.contractID = contractID
        self.reference = reference
        self.isps = isps
    }

    public var ispRanges: [(start: Int, count: Int)] { isps.map { ($0.start.value, $0.duration?.value ?? 1) } }
    public var powers: [Int] { isps.map(\.power) }

    enum CodingKeys: String, CodingKey {
        case ispDuration = "ISP-Duration", timeZone = "TimeZone", period = "Period", congestionPoint = "CongestionPoint"
        case contractID = "ContractID", reference = "Reference", isps = "ISP"
    }
}

public enum FlexReservationUpdateResponseKind: PlainResponseKind {
    public static let elementName = "FlexReservationUpdateResponse"
    public static let referenceAttribute = "FlexReservationUpdateMessageID"
    public static let senderRole: USEFRole? = .agr
    public static let recipientRole: USEFRole? = .dso
}
public typealias FlexReservationUpdateResponse = PlainResponse<FlexReservationUpdateResponseKind>

public struct FlexRequest: RevisionedMessage, UFTPRequest {
    public typealias Response = FlexRequestResponse
    public static let elementName = "FlexRequest"
    public static let senderRole: USEFRole? = .dso
    public static let recipientRole: USEFRole? = .agr

    /// Requested: a deviation from the baseline is needed; available: there is room to deviate.
    /// Power bounds are deviations from the baseline in W (negative: less consumption).
    public struct ISP: Codable, Hashable, Sendable {
        public var disposition: AvailableRequested?
        public var minPower: Int
        public var maxPower: Int
        public var start: PositiveInteger
        public var duration: PositiveInteger?
        public init(disposition: AvailableRequested?, minPower: Int, maxPower: Int, start: PositiveInteger, duration: PositiveInteger? = nil) {
            self.disposition = disposition
            self.minPower = minPower
            self.maxPower = maxPower
            self.start = start
            self.duration = duration
        }
        enum CodingKeys: String, CodingKey {
            case disposition = "Disposition", minPower = "MinPower", maxPower = "MaxPower", start = "Start", duration = "Duration"
        }
    }

    public var ispDuration: ISPDuration
    public var timeZone: TimeZoneName
    public var period: Period
    public var congestionPoint: EntityAddress
    public var revision: Int64
    public var expirationDateTime: DateTime
    public var contractID: String?
    public var serviceType: String?
    @OneOrMore public var isps: [ISP]

    public init(ispDuration: ISPDuration, timeZone: TimeZoneName, period: Period, congestionPoint: EntityAddress, revision: Int64,
                expirationDateTime: DateTime, contractID: String? = nil, serviceType: String? = nil, isps: [ISP]) {
        self.ispDuration = ispDuration
        self.timeZone = timeZone
        self.period = period
        self.congestionPoint = congestionPoint
        self.revision = revision
        self.expirationDateTime = expirationDateTime
        self.contractID = contractID
        self.serviceType = serviceType
        self.isps = isps
    }

    public var ispRanges: [(start: Int, count: Int)] { isps.map { ($0.start.value, $0.duration?.value ?? 1) } }
    public var powers: [Int] { isps.flatMap { [$0.minPower, $0.maxPower] } }

    enum CodingKeys: String, CodingKey {
        case ispDuration = "ISP-Duration", timeZone = "TimeZone", period = "Period", congestionPoint = "CongestionPoint"
        case revision = "Revision", expirationDateTime = "ExpirationDateTime", contractID = "ContractID"
        case serviceType = "ServiceType", isps = "ISP"
    }
}

public enum FlexRequestResponseKind: PlainResponseKind {
    public static let elementName = "FlexRequestResponse"
    public static let referenceAttribute = "FlexRequestMessageID"
    public static let senderRole: USEFRole? = .agr
    public static let recipientRole: USEFRole? = .dso
}
public typealias FlexRequestResponse = PlainResponse<FlexRequestResponseKind>

public struct FlexOffer: FlexMessage, UFTPRequest {
    public typealias Response = FlexOfferResponse
    public static let elementName = "FlexOffer"
    public static let senderRole: USEFRole? = .agr
    public static let recipientRole: USEFRole? = .dso

    /// One way of delivering the flexibility, for its price (the whole option's, not per ISP);
    /// several options are mutually exclusive.
    public struct Option: Codable, Hashable, Sendable {
        public var optionReference: String
        public var price: CurrencyAmount
        /// Absent means 1.00 (no partial activation).
        public var minActivationFactor: ActivationFactor?
        @OneOrMore public var isps: [PowerISP]

        public init(optionReference: String, price: CurrencyAmount, minActivationFactor: ActivationFactor? = nil, isps: [PowerISP]) {
            self.optionReference = optionReference
            self.price = price
            self.minActivationFactor = minActivationFactor
            self.isps = isps
        }

        enum CodingKeys: String, CodingKey {
            case optionReference = "OptionReference", price = "Price", minActivationFactor = "MinActivationFactor", isps = "ISP"
        }
    }

    public var ispDuration: ISPDuration
    public var timeZone: TimeZoneName
    public var period: Period
    public var congestionPoint: EntityAddress
    public var expirationDateTime: DateTime
    /// 3.1.0 only.
    public var unsolicited: Bool?
    public var flexRequestMessageID: UUIDValue?
    public var contractID: String?
    public var dPrognosisMessageID: UUIDValue?
    public var baselineReference: String?
    public var currency: CurrencyCode
    @OneOrMore public var options: [Option]

    public init(ispDuration: ISPDuration, timeZone: TimeZoneName, period: Period, congestionPoint: EntityAddress,
                expirationDateTime: DateTime, unsolicited: Bool? = nil, flexRequestMessageID: UUIDValue? = nil, contractID: String? = nil,
                dPrognosisMessageID: UUIDValue? = nil, baselineReference: String? = nil, currency: CurrencyCode, options: [Option]) {
        self.ispDuration = ispDuration
        self.timeZone = timeZone
        self.period = period
        self.congestionPoint = congestionPoint
        self.expirationDateTime = expirationDateTime
        self.unsolicited = unsolicited
        self.flexRequestMessageID = flexRequestMessageID
        self.contractID = contractID
        self.dPrognosisMessageID = dPrognosisMessageID
        self.baselineReference = baselineReference
        self.currency = currency
        self.options = options
    }

    public var ispRanges: [(start: Int, count: Int)] {
        options.flatMap { $0.isps.map { ($0.start.value, $0.duration?.value ?? 1) } }
    }

    public var powers: [Int] { options.flatMap { $0.isps.map(\.power) } }

    public var ispAlternatives: [[(start: Int, count: Int)]] {
        options.map { $0.isps.map { ($0.start.value, $0.duration?.value ?? 1) } }
    }

    enum CodingKeys: String, CodingKey {
        case ispDuration = "ISP-Duration", timeZone = "TimeZone", period = "Period", congestionPoint = "CongestionPoint"
        case expirationDateTime = "ExpirationDateTime", unsolicited = "Unsolicited", flexRequestMessageID = "FlexRequestMessageID"
        case contractID = "ContractID", dPrognosisMessageID = "D-PrognosisMessageID", baselineReference = "BaselineReference"
        case currency = "Currency", options = "OfferOption"
    }
}

public enum FlexOfferResponseKind: PlainResponseKind {
    public static let elementName = "FlexOfferResponse"
    public static let referenceAttribute = "FlexOfferMessageID"
    public static let senderRole: USEFRole? = .dso
    public static let recipientRole: USEFRole? = .agr
}
public typealias FlexOfferResponse = PlainResponse<FlexOfferResponseKind>

public struct FlexOfferRevocation: UFTPRequest {
    public typealias Response = FlexOfferRevocationResponse
    public static let elementName = "FlexOfferRevocation"
    public static let senderRole: USEFRole? = .agr
    public static let recipientRole: USEFRole? = .dso
    public var flexOfferMessageID: UUIDValue

    public init(flexOfferMessageID: UUIDValue) { self.flexOfferMessageID = flexOfferMessageID }

    enum CodingKeys: String, CodingKey { case flexOfferMessageID = "FlexOfferMessageID" }
}

/// References the revocation's own MessageID (the XSD's reading; the prose says the offer's).
public enum FlexOfferRevocationResponseKind: PlainResponseKind {
    public static let elementName = "FlexOfferRevocationResponse"
    public static let referenceAttribute = "FlexOfferRevocationMessageID"
    public static let senderRole: USEFRole? = .dso
    public static let recipientRole: USEFRole? = .agr
}
public typealias FlexOfferRevocationResponse = PlainResponse<FlexOfferRevocationResponseKind>

public struct FlexOrder: FlexMessage, UFTPRequest {
    public typealias Response = FlexOrderResponse
    public static let elementName = "FlexOrder"
    public static let senderRole: USEFRole? = .dso
    public static let recipientRole: USEFRole? = .agr

    public var ispDuration: ISPDuration
    public var timeZone: TimeZoneName
    public var period: Period
    public var congestionPoint: EntityAddress
    /// 3.1.0 only.
    public var unsolicited: Bool?
    /// Required in 3.0.0; 3.1.0 allows an unsolicited order without an offer.
    public var flexOfferMessageID: UUIDValue?
    /// 3.1.0 only.
    public var serviceType: String?
    public var contractID: String?
    public var dPrognosisMessageID: UUIDValue?
    public var baselineReference: String?
    public var price: CurrencyAmount
    public var currency: CurrencyCode
    public var orderReference: String
    public var optionReference: String?
    /// Absent means 1.00.
    public var activationFactor: ActivationFactor?
    @OneOrMore public var isps: [PowerISP]

    public init(ispDuration: ISPDuration, timeZone: TimeZoneName, period: Period, congestionPoint: EntityAddress,
                unsolicited: Bool? = nil, flexOfferMessageID: UUIDValue?, serviceType: String? = nil, contractID: String? = nil,
                dPrognosisMessageID: UUIDValue? = nil, baselineReference: String? = nil, price: CurrencyAmount, currency: CurrencyCode,
                orderReference: String, optionReference: String? = nil, activationFactor: ActivationFactor? = nil, isps: [PowerISP]) {
        self.ispDuration = ispDuration
        self.timeZone = timeZone
        self.period = period
        self.congestionPoint = congestionPoint
        self.unsolicited = unsolicited
        self.flexOfferMessageID = flexOfferMessageID
        self.serviceType = serviceType
        self.contractID = contractID
        self.dPrognosisMessageID = dPrognosisMessageID
        self.baselineReference = baselineReference
        self.price = price
        self.currency = currency
        self.orderReference = orderReference
        self.optionReference = optionReference
        self.activationFactor = activationFactor
        self.isps = isps
    }

    public var ispRanges: [(start: Int, count: Int)] { isps.map { ($0.start.value, $0.duration?.value ?? 1) } }
    public var powers: [Int] { isps.map(\.power) }

    enum CodingKeys: String, CodingKey {
        case ispDuration = "ISP-Duration", timeZone = "TimeZone", period = "Period", congestionPoint = "CongestionPoint"
        case unsolicited = "Unsolicited", flexOfferMessageID = "FlexOfferMessageID", serviceType = "ServiceType"
        case contractID = "ContractID", dPrognosisMessageID = "D-PrognosisMessageID", baselineReference = "BaselineReference"
        case price = "Price", currency = "Currency", orderReference = "OrderReference", optionReference = "OptionReference"
        case activationFactor = "ActivationFactor", isps = "ISP"
    }
}

public enum FlexOrderResponseKind: PlainResponseKind {
    public static let elementName = "FlexOrderResponse"
    public static let referenceAttribute = "FlexOrderMessageID"
    public static let senderRole: USEFRole? = .agr
    public static let recipientRole: USEFRole? = .dso
}
public typealias FlexOrderResponse = PlainResponse<FlexOrderResponseKind>

extension DPrognosis.ISP: AttributesOnlyElement {
    init(_ attributes: AttributeReader) throws {
        self.init(power: try attributes.integer(CodingKeys.power), start: try attributes.integer(CodingKeys.start),
                  duration: try attributes.integer(ifPresent: CodingKeys.duration))
    }

    func write(_ attributes: AttributeWriter) {
        attributes(CodingKeys.power, power)
        attributes(CodingKeys.start, start)
        attributes(CodingKeys.duration, duration)
    }
}

extension FlexRequest.ISP: AttributesOnlyElement {
    init(_ attributes: AttributeReader) throws {
        self.init(disposition: try attributes.value(ifPresent: CodingKeys.disposition), minPower: try attributes.integer(CodingKeys.minPower),
                  maxPower: try attributes.integer(CodingKeys.maxPower), start: try attributes.value(CodingKeys.start),
                  duration: try attributes.value(ifPresent: CodingKeys.duration))
    }

    func write(_ attributes: AttributeWriter) {
        attributes(CodingKeys.disposition, disposition)
        attributes(CodingKeys.minPower, minPower)
        attributes(CodingKeys.maxPower, maxPower)
        attributes(CodingKeys.start, start)
        attributes(CodingKeys.duration, duration)
    }
}
