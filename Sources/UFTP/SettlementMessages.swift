import GridCore

/// The monthly settlement of the DSO's orders. The 3.0.0 and 3.1.0 XSDs derive it from the
/// response type, so it carries a Result; they also require a ContractSettlement, even where the
/// specification has one only for bilateral contracts (docs/uftp.md, "DSO actions").
public struct FlexSettlement: UFTPRequest {
    public static let elementName = "FlexSettlement"
    public static let senderRole: USEFRole? = .dso
    public static let recipientRole: USEFRole? = .agr

    public struct OrderSettlementISP: Codable, Hashable, Sendable {
        public var start: PositiveInteger
        public var duration: PositiveInteger?
        public var baselinePower: Int
        public var orderedFlexPower: Int
        public var actualPower: Int
        public var deliveredFlexPower: Int
        /// Absent means 0.
        public var powerDeficiency: Int?

        public init(start: PositiveInteger, duration: PositiveInteger? = nil, baselinePower: Int, orderedFlexPower: Int,
                    actualPower: Int, deliveredFlexPower: Int, powerDeficiency: Int? = nil) {
            self.start = start
            self.duration = duration
            self.baselinePower = baselinePower
            self.orderedFlexPower = orderedFlexPower
            self.actualPower = actualPower
            self.deliveredFlexPower = deliveredFlexPower
            self.powerDeficiency = powerDeficiency
        }

        enum CodingKeys: String, CodingKey {
            case start = "Start", duration = "Duration", baselinePower = "BaselinePower", orderedFlexPower = "OrderedFlexPower"
            case actualPower = "ActualPower", deliveredFlexPower = "DeliveredFlexPower", powerDeficiency = "PowerDeficiency"
        }
    }

    public struct OrderSettlement: Codable, Hashable, Sendable {
        public var orderReference: String?
        public var period: Period
        public var contractID: String?
        public var dPrognosisMessageID: UUIDValue?
        public var baselineReference: String?
        public var congestionPoint: EntityAddress
        public var price: CurrencyAmount
        /// Absent means 0.
        public var penalty: CurrencyAmount?
        /// Price minus penalty.
        public var netSettlement: CurrencyAmount
        @OneOrMore public var isps: [OrderSettlementISP]

        public init(orderReference: String?, period: Period, contractID: String? = nil, dPrognosisMessageID: UUIDValue? = nil,
                    baselineReference: String? = nil, congestionPoint: EntityAddress, price: CurrencyAmount, penalty: CurrencyAmount? = nil,
                    netSettlement: CurrencyAmount, isps: [OrderSettlementISP]) {
            self.orderReference = orderReference
            self.period = period
            self.contractID = contractID
            self.dPrognosisMessageID = dPrognosisMessageID
            self.baselineReference = baselineReference
            self.congestionPoint = congestionPoint
            self.price = price
            self.penalty = penalty
            self.netSettlement = netSettlement
            self.isps = isps
        }

        enum CodingKeys: String, CodingKey {
            case orderReference = "OrderReference", period = "Period", contractID = "ContractID"
            case dPrognosisMessageID = "D-PrognosisMessageID", baselineReference = "BaselineReference"
            case congestionPoint = "CongestionPoint", price = "Price", penalty = "Penalty", netSettlement = "NetSettlement", isps = "ISP"
        }
    }

    public struct ContractSettlementISP: Codable, Hashable, Sendable {
        public var start: PositiveInteger
        public var duration: PositiveInteger?
        public var reservedPower: Int
        public var requestedPower: Int?
        public var availablePower: Int?
        public var offeredPower: Int?
        public var orderedPower: Int?

        public init(start: PositiveInteger, duration: PositiveInteger? = nil, reservedPower: Int, requestedPower: Int? = nil,
                    availablePower: Int? = nil, offeredPower: Int? = nil, orderedPower: Int? = nil) {
            self.start = start
            self.duration = duration
            self.reservedPower = reservedPower
            self.requestedPower = requestedPower
            self.availablePower = availablePower
            self.offeredPower = offeredPower
            self.orderedPower = orderedPower
        }

        enum CodingKeys: String, CodingKey {
            case start = "Start", duration = "Duration", reservedPower = "ReservedPower", requestedPower = "RequestedPower"
            case availablePower = "AvailablePower", offeredPower = "OfferedPower", orderedPower = "OrderedPower"
        }
    }

    public struct ContractSettlementPeriod: Codable, Hashable, Sendable {
        public var period: Period
        @OneOrMore public var isps: [ContractSettlementISP]
        public init(period: Period, isps: [ContractSettlementISP]) {
            self.period = period
            self.isps = isps
        }
        enum CodingKeys: String, CodingKey { case period = "Period", isps = "ISP" }
    }

    public struct ContractSettlement: Codable, Hashable, Sendable {
        public var contractID: String?
        @OneOrMore public var periods: [ContractSettlementPeriod]
        public init(contractID: String?, periods: [ContractSettlementPeriod]) {
            self.contractID = contractID
            self.periods = periods
        }
        enum CodingKeys: String, CodingKey { case contractID = "ContractID", periods = "Period" }
    }

    public var result: AcceptedRejected
    public var rejectionReason: String?
    public var periodStart: Period
    public var periodEnd: Period
    public var currency: CurrencyCode
    @OneOrMore public var orderSettlements: [OrderSettlement]
    @OneOrMore public var contractSettlements: [ContractSettlement]

    public init(periodStart: Period, periodEnd: Period, currency: CurrencyCode, orderSettlements: [OrderSettlement],
                contractSettlements: [ContractSettlement]) {
        self.result = .accepted
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.currency = currency
        self.orderSettlements = orderSettlements
        self.contractSettlements = contractSettlements
    }

    /// The XSD wants a status per order in a rejection too: each order is disputed with the reason.
    public func response(_ result: AcceptedRejected, reason: String?, to messageID: UUIDValue) -> FlexSettlementResponse? {
        FlexSettlementResponse(result: result, rejectionReason: reason, referencedMessageID: messageID, orderStatuses: orderSettlements.map {
            .init(orderReference: $0.orderReference, disposition: result == .accepted ? .accepted : .disputed, disputeReason: reason)
        })
    }

    enum CodingKeys: String, CodingKey {
        case result = "Result", rejectionReason = "RejectionReason", periodStart = "PeriodStart", periodEnd = "PeriodEnd"
        case currency = "Currency", orderSettlements = "FlexOrderSettlement", contractSettlements = "ContractSettlement"
    }
}

public struct FlexSettlementResponse: UFTPResponse {
    public static let elementName = "FlexSettlementResponse"
    public static let senderRole: USEFRole? = .agr
    public static let recipientRole: USEFRole? = .dso

    public struct OrderStatus: Codable, Hashable, Sendable {
        public var orderReference: String?
        public var disposition: AcceptedDisputed
        public var disputeReason: String?
        public init(orderReference: String?, disposition: AcceptedDisputed, disputeReason: String? = nil) {
            self.orderReference = orderReference
            self.disposition = disposition
            self.disputeReason = disputeReason
        }
        enum CodingKeys: String, CodingKey { case orderReference = "OrderReference", disposition = "Disposition", disputeReason = "DisputeReason" }
    }

    public var result: AcceptedRejected
    public var rejectionReason: String?
    public var referencedMessageID: UUIDValue
    /// One per settled order, in a rejection too (each disputed with the reason).
    @OneOrMore public var orderStatuses: [OrderStatus]

    public init(result: AcceptedRejected, rejectionReason: String? = nil, referencedMessageID: UUIDValue, orderStatuses: [OrderStatus]) {
        self.result = result
        self.rejectionReason = rejectionReason
        self.referencedMessageID = referencedMessageID
        self.orderStatuses = orderStatuses
    }

    enum CodingKeys: String, CodingKey {
        case result = "Result", rejectionReason = "RejectionReason", referencedMessageID = "FlexSettlementMessageID"
        case orderStatuses = "FlexOrderSettlementStatus"
    }
}

/// Metering of one connection for one Period (optional in UFTP).
public struct Metering: UFTPRequest {
    public typealias Response = MeteringResponse
    public static let elementName = "Metering"
    public static let senderRole: USEFRole? = .agr
    public static let recipientRole: USEFRole? = .dso

    public struct ISP: Codable, Hashable, Sendable {
        public var start: Int
        public var value: MeteringValue
        public init(start: Int, value: MeteringValue) {
            self.start = start
            self.value = value
        }
        enum CodingKeys: String, CodingKey { case start = "Start", value = "Value" }
    }

    public struct Profile: Codable, Hashable, Sendable {
        public var profileType: MeteringProfileType
        public var unit: MeteringUnit
        @OneOrMore public var isps: [ISP]
        public init(profileType: MeteringProfileType, unit: MeteringUnit, isps: [ISP]) {
            self.profileType = profileType
            self.unit = unit
            self.isps = isps
        }
        enum CodingKeys: String, CodingKey { case profileType = "ProfileType", unit = "Unit", isps = "ISP" }
    }

    public var revision: Int64
    public var ispDuration: ISPDuration
    public var timeZone: TimeZoneName
    public var currency: CurrencyCode?
    public var period: Period
    public var ean: MeteringEAN
    @OneOrMore public var profiles: [Profile]

    public init(revision: Int64, ispDuration: ISPDuration, timeZone: TimeZoneName, currency: CurrencyCode? = nil, period: Period,
                ean: MeteringEAN, profiles: [Profile]) {
        self.revision = revision
        self.ispDuration = ispDuration
        self.timeZone = timeZone
        self.currency = currency
        self.period = period
        self.ean = ean
        self.profiles = profiles
    }

    enum CodingKeys: String, CodingKey {
        case revision = "Revision", ispDuration = "ISP-Duration", timeZone = "TimeZone", currency = "Currency"
        case period = "Period", ean = "EAN", profiles = "Profile"
    }
}

public enum MeteringResponseKind: PlainResponseKind {
    public static let elementName = "MeteringResponse"
    public static let referenceAttribute = "MeteringMessageID"
    public static let senderRole: USEFRole? = .dso
    public static let recipientRole: USEFRole? = .agr
}
public typealias MeteringResponse = PlainResponse<MeteringResponseKind>
