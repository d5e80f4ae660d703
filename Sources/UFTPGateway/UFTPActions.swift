import Foundation
import GridCore
import Logging
import SCD
import UFTP

/// An action this platform takes in UFTP on its own initiative, as a DSO (request, order, settle,
/// reserve, declare to and query the CRO) or as an aggregator (prognose, offer, revoke): from the
/// REST API (`POST /api/v1/uftp/<resource>`) or the command line (`coordinator uftp <command>
/// --file DRAFT`), a JSON draft queued in the SCD beside the serving coordinator, whose sender
/// delivers it.
public enum UFTPAction: String, Sendable, CaseIterable {
    case flexRequest, flexOrder, flexSettlement, flexReservationUpdate, portfolioUpdate, portfolioQuery
    case dPrognosis, flexOffer, flexOfferRevocation

    /// Its REST resource under /api/v1/uftp.
    public var resource: String {
        switch self {
        case .flexRequest: "flex-requests"
        case .flexOrder: "flex-orders"
        case .flexSettlement: "flex-settlements"
        case .flexReservationUpdate: "flex-reservation-updates"
        case .portfolioUpdate: "portfolio-updates"
        case .portfolioQuery: "portfolio-queries"
        case .dPrognosis: "d-prognoses"
        case .flexOffer: "flex-offers"
        case .flexOfferRevocation: "flex-offer-revocations"
        }
    }

    /// The role the platform takes it in (and signs it as).
    public var role: USEFRole {
        switch self {
        case .flexRequest, .flexOrder, .flexSettlement, .flexReservationUpdate, .portfolioUpdate, .portfolioQuery: .dso
        case .dPrognosis, .flexOffer, .flexOfferRevocation: .agr
        }
    }
}

/// What the platform sends on its own initiative (`UFTPAction`): built from a JSON draft, checked
/// as the recipient will check it, then logged and queued for the sender.
public struct UFTPActions: Sendable {
    package let responder: UFTPResponder

    package init(responder: UFTPResponder) {
        self.responder = responder
    }

    /// Why a draft is not sent.
    package enum Refusal: Error, CustomStringConvertible {
        /// A field is not acceptable (or the message would be rejected for it).
        case invalid(field: String?, String)
        /// The referenced message is not in the log.
        case unknown(String)
        /// The referenced message can no longer be acted on (expired, revoked, already ordered).
        case conflict(String)
        /// The platform is not configured for the action's role.
        case notPlayed(USEFRole)

        package var description: String {
            switch self {
            case .invalid(_, let message), .unknown(let message), .conflict(let message): message
            case .notPlayed(let role): "this platform plays no \(role.rawValue) role in UFTP ([uftp] roles)"
            }
        }
    }

    /// Builds the message `action` sends from its draft (JSON), checks it and queues it.
    package func perform(_ action: UFTPAction, draft: [UInt8]) async throws -> Receipt {
        guard responder.roles.contains(action.role) else { throw Refusal.notPlayed(action.role) }
        return switch action {
        case .flexRequest: try await flexRequest(try Self.draft(FlexRequestDraft.self, draft))
        case .flexOrder: try await flexOrder(try Self.draft(FlexOrderDraft.self, draft))
        case .flexSettlement: try await flexSettlement(try Self.draft(FlexSettlementDraft.self, draft))
        case .flexReservationUpdate: try await flexReservationUpdate(try Self.draft(FlexReservationUpdateDraft.self, draft))
        case .portfolioUpdate: try await portfolioUpdate(try Self.draft(PortfolioUpdateDraft.self, draft))
        case .portfolioQuery: try await portfolioQuery(try Self.draft(PortfolioQueryDraft.self, draft))
        case .dPrognosis: try await dPrognosis(try Self.draft(DPrognosisDraft.self, draft))
        case .flexOffer: try await flexOffer(try Self.draft(FlexOfferDraft.self, draft))
        case .flexOfferRevocation: try await flexOfferRevocation(try Self.draft(FlexOfferRevocationDraft.self, draft))
        }
    }

    /// A message queued: its place in the log and its identifiers.
    package struct Receipt: Encodable, Sendable {
        package let id: Int64
        package let type: String
        package let messageID: String
        package let conversationID: String
        package let recipientDomain: String

        enum CodingKeys: String, CodingKey {
            case id, type, messageID = "message_id", conversationID = "conversation_id", recipientDomain = "recipient_domain"
        }
    }

    /// A FlexRequest to an aggregator for a congestion point (UFTP §2.4.4): power bounds per ISP
    /// as deviations from the baseline in W.
    package struct FlexRequestDraft: Decodable, Sendable {
        package struct ISP: Decodable, Sendable {
            package var start: Int
            package var duration: Int?
            package var minPower: Int
            package var maxPower: Int
            /// "Requested" (default) or "Available".
            package var disposition: String?

            enum CodingKeys: String, CodingKey {
                case start, duration, minPower = "min_power", maxPower = "max_power", disposition
            }

            package init(start: Int, duration: Int? = nil, minPower: Int, maxPower: Int, disposition: String? = nil) {
                self.start = start
                self.duration = duration
                self.minPower = minPower
                self.maxPower = maxPower
                self.disposition = disposition
            }
        }

        package var recipient: String
        package var congestionPoint: String
        package var period: String
        package var expiration: String
        package var revision: Int64?
        package var isps: [ISP]
        package var contractID: String?
        package var serviceType: String?
        package var version: String?

        enum CodingKeys: String, CodingKey {
            case recipient, congestionPoint = "congestion_point", period, expiration, revision, isps
            case contractID = "contract_id", serviceType = "service_type", version
        }

        package init(recipient: String, congestionPoint: String, period: String, expiration: String, revision: Int64? = nil,
                     isps: [ISP], contractID: String? = nil, serviceType: String? = nil, version: String? = nil) {
            self.recipient = recipient
            self.congestionPoint = congestionPoint
            self.period = period
            self.expiration = expiration
            self.revision = revision
            self.isps = isps
            self.contractID = contractID
            self.serviceType = serviceType
            self.version = version
        }
    }

    /// A FlexOrder for a received offer: one of its options (needed when it has several), scaled
    /// by an activation factor (default 1, at least the option's minimum).
    package struct FlexOrderDraft: Decodable, Sendable {
        package var offerMessageID: String
        package var optionReference: String?
        package var activationFactor: String?
        package var orderReference: String?

        enum CodingKeys: String, CodingKey {
            case offerMessageID = "offer_message_id", optionReference = "option_reference"
            case activationFactor = "activation_factor", orderReference = "order_reference"
        }

        package init(offerMessageID: String, optionReference: String? = nil, activationFactor: String? = nil,
                     orderReference: String? = nil) {
            self.offerMessageID = offerMessageID
            self.optionReference = optionReference
            self.activationFactor = activationFactor
            self.orderReference = orderReference
        }
    }

    /// The settlement of orders the aggregator accepted (UFTP §2.5): per order its price, penalty
    /// and, per ISP, the baseline, actual and delivered power; the rest comes from the order sent.
    package struct FlexSettlementDraft: Decodable, Sendable {
        package struct ISP: Decodable, Sendable {
            package var start: Int
            package var duration: Int?
            package var baselinePower: Int
            package var actualPower: Int
            package var deliveredFlexPower: Int
            package var powerDeficiency: Int?

            enum CodingKeys: String, CodingKey {
                case start, duration, baselinePower = "baseline_power", actualPower = "actual_power"
                case deliveredFlexPower = "delivered_flex_power", powerDeficiency = "power_deficiency"
            }

            package init(start: Int, duration: Int? = nil, baselinePower: Int, actualPower: Int, deliveredFlexPower: Int,
                         powerDeficiency: Int? = nil) {
                self.start = start
                self.duration = duration
                self.baselinePower = baselinePower
                self.actualPower = actualPower
                self.deliveredFlexPower = deliveredFlexPower
                self.powerDeficiency = powerDeficiency
            }
        }

        package struct Order: Decodable, Sendable {
            package var orderMessageID: String
            package var price: String
            package var penalty: String?
            package var isps: [ISP]

            enum CodingKeys: String, CodingKey { case orderMessageID = "order_message_id", price, penalty, isps }

            package init(orderMessageID: String, price: String, penalty: String? = nil, isps: [ISP]) {
                self.orderMessageID = orderMessageID
                self.price = price
                self.penalty = penalty
                self.isps = isps
            }
        }

        /// A bilateral contract's reservations per day (the XSDs and the reference implementation
        /// require at least one; the specification only for bilateral contracts).
        package struct Contract: Decodable, Sendable {
            package struct Day: Decodable, Sendable {
                package struct ISP: Decodable, Sendable {
                    package var start: Int
                    package var duration: Int?
                    package var reservedPower: Int
                    package var requestedPower: Int?
                    package var availablePower: Int?
                    package var offeredPower: Int?
                    package var orderedPower: Int?

                    enum CodingKeys: String, CodingKey {
                        case start, duration, reservedPower = "reserved_power", requestedPower = "requested_power"
                        case availablePower = "available_power", offeredPower = "offered_power", orderedPower = "ordered_power"
                    }

                    package init(start: Int, reservedPower: Int) {
                        self.start = start
                        self.reservedPower = reservedPower
                    }
                }

                package var period: String
                package var isps: [ISP]

                package init(period: String, isps: [ISP]) {
                    self.period = period
                    self.isps = isps
                }
            }

            package var contractID: String?
            package var periods: [Day]

            package init(contractID: String?, periods: [Day]) {
                self.contractID = contractID
                self.periods = periods
            }

            enum CodingKeys: String, CodingKey { case contractID = "contract_id", periods }
        }

        package var periodStart: String
        package var periodEnd: String
        package var orders: [Order]
        package var contracts: [Contract]?
        /// A correction continues the conversation of the settlement it supersedes.
        package var conversationID: String?

        enum CodingKeys: String, CodingKey {
            case periodStart = "period_start", periodEnd = "period_end", orders, contracts, conversationID = "conversation_id"
        }

        package init(periodStart: String, periodEnd: String, orders: [Order], contracts: [Contract]? = nil, conversationID: String? = nil) {
            self.periodStart = periodStart
            self.periodEnd = periodEnd
            self.orders = orders
            self.contracts = contracts
            self.conversationID = conversationID
        }
    }

    package func flexSettlement(_ draft: FlexSettlementDraft, now: Timestamp = .now()) async throws -> Receipt {
        let first: Period = try Self.value("period_start", draft.periodStart)
        let last: Period = try Self.value("period_end", draft.periodEnd)
        guard first <= last else { throw Refusal.invalid(field: "period_end", "period_end: not before period_start") }
        guard !draft.orders.isEmpty else { throw Refusal.invalid(field: "orders", "orders: at least one order") }
        var settlements: [FlexSettlement.OrderSettlement] = []
        var recipient: InternetDomain?
        var currency: CurrencyCode?
        for (index, entry) in draft.orders.enumerated() {
            let field = "orders[\(index)]"
            let orderID: UUIDValue = try Self.value(field + ".order_message_id", entry.orderMessageID)
            let (order, decoded, sent) = try await logged(FlexOrder.self, orderID, .outbound)
            let answer = try await responder.conversation(sent.conversationID, of: [FlexOrderResponse.self]).first { record, payload in
                record.direction == .inbound && (payload as? FlexOrderResponse)?.referencedMessageID == orderID
            }
            guard (answer?.payload as? FlexOrderResponse)?.result == .accepted else {
                throw Refusal.conflict("the aggregator has not accepted order \(orderID.text)")
            }
            guard recipient == nil || recipient == decoded.metadata.recipientDomain, currency == nil || currency == order.currency else {
                throw Refusal.invalid(field: field + ".order_message_id", "\(field): one settlement is for one aggregator in one currency")
            }
            recipient = decoded.metadata.recipientDomain
            currency = order.currency
            guard first <= order.period && order.period <= last else {
                throw Refusal.invalid(field: field + ".order_message_id", "\(field): the order's Period \(order.period.text) is outside the settlement's")
            }
            var isps: [FlexSettlement.OrderSettlementISP] = []
            for (position, isp) in entry.isps.enumerated() {
                let place = "\(field).isps[\(position)]"
                let start = try Self.positive(place + ".start", isp.start)
                let duration = try isp.duration.map { try Self.positive(place + ".duration", $0) }
                let span = UseCaseValidation.numbers(start, duration)
                // What was ordered for these ISPs: one ordered ISP covering them all.
                guard let ordered = order.isps.first(where: { UseCaseValidation.numbers($0.start, $0.duration).contains(span.lowerBound)
                                                              && UseCaseValidation.numbers($0.start, $0.duration).contains(span.upperBound - 1) }) else {
                    throw Refusal.invalid(field: place + ".start", "\(place): the order does not cover ISPs \(span.lowerBound)–\(span.upperBound - 1)")
                }
                isps.append(FlexSettlement.OrderSettlementISP(
                    start: start, duration: duration, baselinePower: isp.baselinePower, orderedFlexPower: ordered.power,
                    actualPower: isp.actualPower, deliveredFlexPower: isp.deliveredFlexPower, powerDeficiency: isp.powerDeficiency))
            }
            guard !isps.isEmpty else { throw Refusal.invalid(field: field + ".isps", "\(field).isps: at least one ISP") }
            let price: CurrencyAmount = try Self.value(field + ".price", entry.price)
            let penalty: CurrencyAmount? = try entry.penalty.map { try Self.value(field + ".penalty", $0) }
            let net: CurrencyAmount = try Self.value(field + ".penalty",
                                                     NSDecimalNumber(decimal: price.value - (penalty?.value ?? 0)).stringValue)
            settlements.append(FlexSettlement.OrderSettlement(
                orderReference: order.orderReference, period: order.period, contractID: order.contractID,
                dPrognosisMessageID: order.dPrognosisMessageID, baselineReference: order.baselineReference,
                congestionPoint: order.congestionPoint, price: price, penalty: penalty, netSettlement: net, isps: isps))
        }
        guard let recipient, let currency else { throw Refusal.invalid(field: "orders", "orders: at least one order") }
        var contracts = try Self.contractSettlements(draft.contracts ?? [], from: first, through: last)
        if contracts.isEmpty { contracts = [Self.orderedContract(settlements)] }
        let conversation: UUIDValue = try draft.conversationID.map { try Self.value("conversation_id", $0) } ?? .random()
        let message = UFTPMessage(metadata: Metadata(senderDomain: responder.domain, recipientDomain: recipient, timeStamp: DateTime(now),
                                                     conversationID: conversation),
                                  payload: FlexSettlement(periodStart: first, periodEnd: last, currency: currency,
                                                          orderSettlements: settlements, contractSettlements: contracts))
        return try await queue(message, now: now)
    }

    /// The draft's bilateral contracts, each day within the settlement's Periods.
    static func contractSettlements(_ drafts: [FlexSettlementDraft.Contract], from first: Period, through last: Period) throws
        -> [FlexSettlement.ContractSettlement] {
        var contracts: [FlexSettlement.ContractSettlement] = []
        for (index, contract) in drafts.enumerated() {
            var days: [FlexSettlement.ContractSettlementPeriod] = []
            for (position, day) in contract.periods.enumerated() {
                let place = "contracts[\(index)].periods[\(position)]"
                let period: Period = try Self.value(place + ".period", day.period)
                guard first <= period && period <= last else {
                    throw Refusal.invalid(field: place + ".period", "\(place).period: outside the settlement's Period")
                }
                let isps = try day.isps.enumerated().map { number, isp in
                    FlexSettlement.ContractSettlementISP(
                        start: try Self.positive("\(place).isps[\(number)].start", isp.start),
                        duration: try isp.duration.map { try Self.positive("\(place).isps[\(number)].duration", $0) },
                        reservedPower: isp.reservedPower, requestedPower: isp.requestedPower, availablePower: isp.availablePower,
                        offeredPower: isp.offeredPower, orderedPower: isp.orderedPower)
                }
                guard !isps.isEmpty else { throw Refusal.invalid(field: place + ".isps", "\(place).isps: at least one ISP") }
                days.append(FlexSettlement.ContractSettlementPeriod(period: period, isps: isps))
            }
            guard !days.isEmpty else { throw Refusal.invalid(field: "contracts[\(index)].periods", "contracts[\(index)].periods: at least one") }
            contracts.append(FlexSettlement.ContractSettlement(contractID: contract.contractID, periods: days))
        }
        return contracts
    }

    /// The ContractSettlement of a settlement without a bilateral contract: the XSDs require one
    /// where the specification has it only for such contracts, so it says that nothing was
    /// reserved and states the power ordered per ISP of each day.
    static func orderedContract(_ settlements: [FlexSettlement.OrderSettlement]) -> FlexSettlement.ContractSettlement {
        var ordered: [Period: [PositiveInteger: (duration: PositiveInteger?, power: Int)]] = [:]
        for settlement in settlements {
            for isp in settlement.isps {
                let earlier = ordered[settlement.period, default: [:]][isp.start]?.power ?? 0
                // Ordered powers are within Bounds.power (±1 GW): their sum cannot overflow.
                ordered[settlement.period, default: [:]][isp.start] = (isp.duration, earlier + isp.orderedFlexPower)
            }
        }
        return FlexSettlement.ContractSettlement(contractID: nil, periods: ordered.keys.sorted().map { period in
            FlexSettlement.ContractSettlementPeriod(period: period, isps: (ordered[period] ?? [:]).sorted { $0.key < $1.key }.map {
                FlexSettlement.ContractSettlementISP(start: $0.key, duration: $0.value.duration, reservedPower: 0, orderedPower: $0.value.power)
            })
        })
    }

    /// A FlexReservationUpdate (UFTP §2.4.2, FUSION FR18): how much of the flexibility reserved
    /// under a bilateral contract the DSO still holds, per ISP; what it no longer holds the
    /// aggregator is free to use.
    package struct FlexReservationUpdateDraft: Decodable, Sendable {
        package var recipient: String
        package var congestionPoint: String
        package var period: String
        package var contractID: String
        package var reference: String?
        package var isps: [PowerDraft]

        enum CodingKeys: String, CodingKey {
            case recipient, congestionPoint = "congestion_point", period, contractID = "contract_id", reference, isps
        }

        package init(recipient: String, congestionPoint: String, period: String, contractID: String, reference: String?, isps: [PowerDraft]) {
            self.recipient = recipient
            self.congestionPoint = congestionPoint
            self.period = period
            self.contractID = contractID
            self.reference = reference
            self.isps = isps
        }
    }

    package func flexReservationUpdate(_ draft: FlexReservationUpdateDraft, now: Timestamp = .now()) async throws -> Receipt {
        let recipient: InternetDomain = try Self.value("recipient", draft.recipient)
        guard !draft.contractID.isEmpty else { throw Refusal.invalid(field: "contract_id", "contract_id: the contract whose reservation it updates") }
        let isps = try draft.isps.enumerated().map { index, isp in
            PowerISP(power: isp.power, start: try Self.positive("isps[\(index)].start", isp.start),
                     duration: try isp.duration.map { try Self.positive("isps[\(index)].duration", $0) })
        }
        guard !isps.isEmpty else { throw Refusal.invalid(field: "isps", "isps: at least one ISP") }
        let terms = responder.terms
        let update = FlexReservationUpdate(
            ispDuration: ISPDuration(minutes: terms.ispMinutes), timeZone: try Self.value("time_zone", terms.timeZone.identifier),
            period: try Self.value("period", draft.period), congestionPoint: try Self.value("congestion_point", draft.congestionPoint),
            contractID: draft.contractID, reference: draft.reference ?? UUIDValue.random().text, isps: isps)
        let reasons = GenericValidation.isps(update, terms: terms)
        guard reasons.isEmpty else { throw Refusal.invalid(field: nil, "the aggregator would reject it: \(reasons.joined(separator: "; "))") }
        let message = UFTPMessage(metadata: Metadata(senderDomain: responder.domain, recipientDomain: recipient, timeStamp: DateTime(now),
                                                     conversationID: .random()),
                                  payload: update)
        return try await queue(message, now: now)
    }

    /// The DSO's congestion points and their connections for the CRO (UFTP §2.2, FUSION FR08): a
    /// connection joining is sent with its first day, one leaving with its last.
    package struct PortfolioUpdateDraft: Decodable, Sendable {
        package struct Connection: Decodable, Sendable {
            package var entityAddress: String
            package var start: String
            package var end: String?

            enum CodingKeys: String, CodingKey { case entityAddress = "entity_address", start, end }
        }

        package struct CongestionPoint: Decodable, Sendable {
            package var entityAddress: String
            package var start: String
            package var end: String?
            package var mutexOffersSupported: Bool?
            package var dayAheadRedispatchBy: String?
            package var intradayRedispatchBy: String?
            package var connections: [Connection]

            enum CodingKeys: String, CodingKey {
                case entityAddress = "entity_address", start, end, mutexOffersSupported = "mutex_offers_supported"
                case dayAheadRedispatchBy = "day_ahead_redispatch_by", intradayRedispatchBy = "intraday_redispatch_by", connections
            }
        }

        package var recipient: String
        package var congestionPoints: [CongestionPoint]

        enum CodingKeys: String, CodingKey { case recipient, congestionPoints = "congestion_points" }
    }

    /// Which aggregators represent the connections of one of the DSO's congestion points on a day.
    package struct PortfolioQueryDraft: Decodable, Sendable {
        package var recipient: String
        package var congestionPoint: String
        package var period: String

        enum CodingKeys: String, CodingKey { case recipient, congestionPoint = "congestion_point", period }
    }

    package func portfolioUpdate(_ draft: PortfolioUpdateDraft, now: Timestamp = .now()) async throws -> Receipt {
        let recipient: InternetDomain = try Self.value("recipient", draft.recipient)
        var points: [DSOPortfolioUpdate.CongestionPoint] = []
        for (index, point) in draft.congestionPoints.enumerated() {
            let field = "congestion_points[\(index)]"
            func party(_ name: String, _ text: String?) throws(Refusal) -> RedispatchBy? {
                guard let text else { return nil }
                guard let party = RedispatchBy(rawValue: text) else { throw Refusal.invalid(field: "\(field).\(name)", "\(field).\(name): AGR or DSO") }
                return party
            }
            let connections = try point.connections.enumerated().map { number, connection in
                let place = "\(field).connections[\(number)]"
                return PortfolioConnection(entityAddress: try Self.value(place + ".entity_address", connection.entityAddress),
                                           startPeriod: try Self.value(place + ".start", connection.start),
                                           endPeriod: try connection.end.map { try Self.value(place + ".end", $0) })
            }
            guard !connections.isEmpty else { throw Refusal.invalid(field: field + ".connections", "\(field).connections: at least one") }
            points.append(DSOPortfolioUpdate.CongestionPoint(
                entityAddress: try Self.value(field + ".entity_address", point.entityAddress), startPeriod: try Self.value(field + ".start", point.start),
                endPeriod: try point.end.map { try Self.value(field + ".end", $0) }, mutexOffersSupported: point.mutexOffersSupported ?? false,
                dayAheadRedispatchBy: try party("day_ahead_redispatch_by", point.dayAheadRedispatchBy) ?? .dso,
                intradayRedispatchBy: try party("intraday_redispatch_by", point.intradayRedispatchBy), connections: connections))
        }
        guard !points.isEmpty else { throw Refusal.invalid(field: "congestion_points", "congestion_points: at least one") }
        let update = DSOPortfolioUpdate(timeZone: try Self.value("time_zone", responder.terms.timeZone.identifier), congestionPoints: points)
        let reasons = CommonReference.periodReasons(update)
        guard reasons.isEmpty else { throw Refusal.invalid(field: nil, "the CRO would reject it: \(reasons.joined(separator: "; "))") }
        return try await queue(UFTPMessage(metadata: Metadata(senderDomain: responder.domain, recipientDomain: recipient,
                                                              timeStamp: DateTime(now), conversationID: .random()),
                                           payload: update), now: now)
    }

    package func portfolioQuery(_ draft: PortfolioQueryDraft, now: Timestamp = .now()) async throws -> Receipt {
        let query = DSOPortfolioQuery(timeZone: try Self.value("time_zone", responder.terms.timeZone.identifier),
                                      period: try Self.value("period", draft.period),
                                      entityAddress: try Self.value("congestion_point", draft.congestionPoint))
        return try await queue(UFTPMessage(metadata: Metadata(senderDomain: responder.domain,
                                                              recipientDomain: try Self.value("recipient", draft.recipient),
                                                              timeStamp: DateTime(now), conversationID: .random()),
                                           payload: query), now: now)
    }

    package func flexRequest(_ draft: FlexRequestDraft, now: Timestamp = .now()) async throws -> Receipt {
        let recipient: InternetDomain = try Self.value("recipient", draft.recipient)
        let version: SpecVersion = try Self.value("version", draft.version ?? SpecVersion.v3_1_0.text)
        guard [SpecVersion.v3_0_0, .v3_1_0].contains(version) else { throw Refusal.invalid(field: "version", "version: 3.0.0 or 3.1.0") }
        var isps: [FlexRequest.ISP] = []
        for (index, isp) in draft.isps.enumerated() {
            let field = "isps[\(index)]"
            let disposition = AvailableRequested(rawValue: isp.disposition ?? AvailableRequested.requested.rawValue)
            guard let disposition else { throw Refusal.invalid(field: field + ".disposition", "\(field).disposition: Requested or Available") }
            isps.append(FlexRequest.ISP(disposition: disposition, minPower: isp.minPower, maxPower: isp.maxPower,
                                        start: try Self.positive(field + ".start", isp.start),
                                        duration: try isp.duration.map { try Self.positive(field + ".duration", $0) }))
        }
        guard !isps.isEmpty else { throw Refusal.invalid(field: "isps", "isps: at least one ISP") }
        let terms = responder.terms
        let request = FlexRequest(
            ispDuration: ISPDuration(minutes: terms.ispMinutes), timeZone: try Self.value("time_zone", terms.timeZone.identifier),
            period: try Self.value("period", draft.period), congestionPoint: try Self.value("congestion_point", draft.congestionPoint),
            revision: draft.revision ?? 1, expirationDateTime: try Self.value("expiration", draft.expiration),
            contractID: draft.contractID, serviceType: draft.serviceType, isps: isps)
        let reasons = GenericValidation.isps(request, terms: terms) + UseCaseValidation.request(request)
            + GenericValidation.expiration(request.expirationDateTime, of: request, terms: terms, now: now)
        guard reasons.isEmpty else { throw Refusal.invalid(field: nil, "the aggregator would reject it: \(reasons.joined(separator: "; "))") }
        let message = UFTPMessage(metadata: Metadata(version: version, senderDomain: responder.domain, recipientDomain: recipient,
                                                     timeStamp: DateTime(now), conversationID: .random()),
                                  payload: request)
        return try await queue(message, now: now)
    }

    package func flexOrder(_ draft: FlexOrderDraft, now: Timestamp = .now()) async throws -> Receipt {
        let offerID: UUIDValue = try Self.value("offer_message_id", draft.offerMessageID)
        let (offer, decoded, received) = try await logged(FlexOffer.self, offerID, .inbound)
        let option: FlexOffer.Option
        if let reference = draft.optionReference {
            guard let chosen = offer.options.first(where: { $0.optionReference == reference }) else {
                throw Refusal.invalid(field: "option_reference", "option_reference: the offer has no option \"\(reference)\"")
            }
            option = chosen
        } else {
            guard offer.options.count == 1 else {
                throw Refusal.invalid(field: "option_reference", "option_reference: the offer has \(offer.options.count) options; name one")
            }
            option = offer.options[0]
        }
        let factor: ActivationFactor = try Self.value("activation_factor", draft.activationFactor ?? "1.00")
        if factor < option.minActivationFactor ?? .full {
            throw Refusal.invalid(field: "activation_factor", "activation_factor: at least \(option.minActivationFactor?.text ?? "1.00") for this option")
        }
        if offer.expirationDateTime < DateTime(now) { throw Refusal.conflict("the offer expired at \(offer.expirationDateTime.text)") }
        let outcome = try await responder.outcome(ofOffer: offerID, in: received.conversationID, madeBy: .inbound)
        if outcome.revoked { throw Refusal.conflict("the aggregator revoked the offer") }
        if let order = outcome.order { throw Refusal.conflict("the offer was ordered already (\(order))") }
        // A stored offer is as its sender wrote it, rejected ones included.
        guard option.isps.allSatisfy({ Bounds.powerW.contains($0.power) }) else {
            throw Refusal.conflict("the offer's powers lie outside \(Bounds.text(Bounds.powerW)) W; it cannot be ordered")
        }
        let scale = NSDecimalNumber(decimal: factor.value).doubleValue
        var price = option.price.value * factor.value
        var rounded = Decimal()
        NSDecimalRound(&rounded, &price, 4, .plain)
        let order = FlexOrder(
            ispDuration: offer.ispDuration, timeZone: offer.timeZone, period: offer.period, congestionPoint: offer.congestionPoint,
            flexOfferMessageID: offerID, contractID: offer.contractID, dPrognosisMessageID: offer.dPrognosisMessageID,
            baselineReference: offer.baselineReference, price: try Self.value("price", NSDecimalNumber(decimal: rounded).stringValue),
            currency: offer.currency, orderReference: draft.orderReference ?? UUIDValue.random().text,
            optionReference: option.optionReference, activationFactor: draft.activationFactor == nil ? nil : factor,
            isps: option.isps.map { PowerISP(power: Int((Double($0.power) * scale).rounded()), start: $0.start, duration: $0.duration) })
        let message = UFTPMessage(metadata: Metadata(version: decoded.metadata.version, senderDomain: responder.domain,
                                                     recipientDomain: decoded.metadata.senderDomain, timeStamp: DateTime(now),
                                                     conversationID: decoded.metadata.conversationID),
                                  payload: order)
        return try await queue(message, now: now)
    }
}
