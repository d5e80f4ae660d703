import Foundation
import GridCore

/// What a receiver agreed for its market: the ISP length and the time zone whose UTC offset
/// messages must use, over the one market calendar of GridCore (the market's and the console's).
public struct MarketTerms: Sendable {
    public let calendar: MarketCalendar
    public var ispMinutes: Int { calendar.ispMinutes }
    public var timeZone: TimeZone { calendar.timeZone }

    public init(ispMinutes: Int = 15, timeZone: TimeZone) {
        calendar = MarketCalendar(timeZone: timeZone, ispMinutes: ispMinutes)
    }

    /// ISPs in a Period: 96 at PT15M, 92 on the spring-forward day and 100 on the fall-back day.
    public func ispCount(_ period: Period) -> Int {
        let start = midnight(period), end = midnight(period.adding(days: 1))
        return Int((end.millisecondsSince1970 - start.millisecondsSince1970) / (Int64(ispMinutes) * 60_000))
    }

    /// When ISP `number` (from 1) of `period` starts: local midnight plus elapsed ISPs, so a DST
    /// day's ISPs are all of the same length.
    public func start(of number: Int, in period: Period) -> Timestamp {
        midnight(period).adding(milliseconds: Int64(number - 1) * Int64(ispMinutes) * 60_000)
    }

    func midnight(_ period: Period) -> Timestamp {
        calendar.start(year: period.year, month: period.month, day: period.day)!
    }
}

/// The generic rejection reasons of UFTP §3.5, as this implementation writes them (the
/// reference implementation's wording where the specification's table is ambiguous).
public enum RejectionReason {
    public static let invalidSender = "Invalid Sender"
    public static let unknownRecipient = "Unknown Recipient"
    public static let barredSender = "Barred Sender"
    public static let duplicateIdentifier = "Duplicate Identifier"
    public static let alreadySubmitted = "Already Submitted"
    public static let ispDurationRejected = "ISP duration rejected"
    public static let timeZoneRejected = "Time zone rejected"
    public static let invalidCongestionPoint = "Invalid congestion point"
    public static let referencePeriodMismatch = "Reference Period mismatch"
    public static let referenceMessageExpired = "Reference message expired"
    public static let referenceMessageRevoked = "Reference message revoked"
    public static let ispsOutOfBounds = "ISPs out of bounds"
    public static let ispConflict = "ISP conflict"
    public static let periodOutOfBounds = "Period out of bounds"
    public static let expirationOutOfBounds = "ExpirationDateTime out of bounds"
    public static let unsupportedVersion = "Unsupported version"
    public static let subordinateSequenceNumber = "Subordinate sequence number"
    /// Not in UFTP's table: a power beyond any grid's (`Bounds.powerW`, ±1 GW).
    public static let powerOutOfBounds = "Power out of bounds"
    public static func unknownReference(_ field: String) -> String { "Unknown reference \(field)" }
}

/// The checks every receiver makes before the use case's own (UFTP §3.5), on a message whose
/// signature and schema are already known good. Each returns the reasons found, none when the
/// message passes; several are joined with "; " in the response.
public enum GenericValidation {
    /// Sender and recipient: the inner SenderDomain must be the wrapper's, the type must be one
    /// the wrapper's role sends, the recipient must be served here, the version supported.
    public static func addressing(_ message: UFTPMessage, wrapper: SignedMessage, servedDomains: Set<InternetDomain>) -> [String] {
        var reasons: [String] = []
        if !UFTPCodec.supportedVersions.contains(message.metadata.version) {
            reasons.append("\(RejectionReason.unsupportedVersion) \(message.metadata.version.text)")
        }
        let type = type(of: message.payload)
        if message.metadata.senderDomain != wrapper.senderDomain || (type.senderRole.map { $0 != wrapper.senderRole } ?? false) {
            reasons.append(RejectionReason.invalidSender)
        }
        if !servedDomains.contains(message.metadata.recipientDomain) {
            reasons.append(RejectionReason.unknownRecipient)
        }
        return reasons
    }

    /// ISP-Duration, time zone (by its UTC offset over the Period) and the ISPs of a flex message:
    /// each inside the Period's ISPs (DST days included), none addressed twice.
    public static func isps(_ message: some FlexMessage, terms: MarketTerms) -> [String] {
        var reasons: [String] = []
        if message.ispDuration.minutes != terms.ispMinutes { reasons.append(RejectionReason.ispDurationRejected) }
        if !sameOffsets(message.timeZone, terms, over: message.period) { reasons.append(RejectionReason.timeZoneRejected) }
        let count = terms.ispCount(message.period)
        var conflict = false, outOfBounds = false
        for alternative in message.ispAlternatives {
            var covered = Set<Int>()
            for range in alternative {
                guard ISPNumbers.within(start: range.start, count: range.count, ispCount: count) else {
                    outOfBounds = true
                    continue
                }
                for isp in range.start..<(range.start + range.count) where !covered.insert(isp).inserted { conflict = true }
            }
        }
        if outOfBounds { reasons.append(RejectionReason.ispsOutOfBounds) }
        if conflict { reasons.append(RejectionReason.ispConflict) }
        if message.powers.contains(where: { !Bounds.powerW.contains($0) }) { reasons.append(RejectionReason.powerOutOfBounds) }
        return reasons
    }

    /// An ExpirationDateTime must lie ahead, and not after the end of the last ISP it covers (of
    /// those within the day: the others are out of bounds already).
    public static func expiration(_ expiration: DateTime, of message: some FlexMessage, terms: MarketTerms, now: Timestamp) -> [String] {
        let expires = expiration.timestamp
        let count = terms.ispCount(message.period)
        let lastISP = message.ispRanges.filter { ISPNumbers.within(start: $0.start, count: $0.count, ispCount: count) }.map { $0.start + $0.count - 1 }.max() ?? count
        let end = terms.start(of: lastISP + 1, in: message.period)
        return expires <= now || expires > end ? [RejectionReason.expirationOutOfBounds] : []
    }

    /// A Period already over (its last ISP ended) is out of bounds: flexibility cannot be
    /// forecast, requested, offered or ordered for it any more.
    public static func period(_ message: some FlexMessage, terms: MarketTerms, now: Timestamp) -> [String] {
        terms.midnight(message.period.adding(days: 1)) <= now ? [RejectionReason.periodOutOfBounds] : []
    }

    /// A settlement's orders must lie within the settlement's Period, itself in order.
    public static func period(_ settlement: FlexSettlement) -> [String] {
        let inside = settlement.periodStart <= settlement.periodEnd
            && settlement.orderSettlements.allSatisfy { settlement.periodStart <= $0.period && $0.period <= settlement.periodEnd }
        return inside ? [] : [RejectionReason.periodOutOfBounds]
    }

    /// Whether the message's zone has the market zone's UTC offset throughout the Period.
    static func sameOffsets(_ zone: TimeZoneName, _ terms: MarketTerms, over period: Period) -> Bool {
        guard let theirs = TimeZone(identifier: zone.text) else { return false }
        let start = terms.midnight(period), end = terms.midnight(period.adding(days: 1))
        return stride(from: start.millisecondsSince1970, to: end.millisecondsSince1970, by: 3_600_000).allSatisfy { instant in
            let date = Date(Timestamp(millisecondsSince1970: instant))
            return theirs.secondsFromGMT(for: date) == terms.timeZone.secondsFromGMT(for: date)
        }
    }
}

/// The message-specific checks of the use-case tables (UFTP §3.3) that need nothing but the
/// messages themselves; what needs stored state (references, revisions, portfolios) is the
/// role's.
public enum UseCaseValidation {
    public static let lackingISPs = "Lacking ISPs"
    public static let lackingRequestedDisposition = "Lacking Requested Disposition"
    public static let requestedPowerDiscrepancy = "Requested Power discrepancy"
    public static let powerDiscrepancy = "Power discrepancy"
    public static let ispMismatch = "ISP mismatch"
    public static let powerMismatch = "Power mismatch"
    public static let priceMismatch = "Price mismatch"
    public static let requestMismatch = "Request mismatch"
    public static let flexibilityProcured = "Flexibility procured"
    /// FUSION FR31/FR38's "power value rejection": a D-Prognosis that does not reflect an order.
    public static func orderNotReflected(_ orders: [UUIDValue]) -> String {
        "Power value rejection: does not reflect FlexOrder \(orders.map(\.text).joined(separator: ", "))"
    }

    /// A D-Prognosis must hold a power for every ISP of its Period.
    public static func prognosis(_ prognosis: DPrognosis, terms: MarketTerms) -> [String] {
        let count = terms.ispCount(prognosis.period)
        let covered = Set(prognosis.ispRanges.filter { ISPNumbers.within(start: $0.start, count: $0.count, ispCount: count) }.flatMap { $0.start..<($0.start + $0.count) })
        return covered.isSuperset(of: 1...count) ? [] : [lackingISPs]
    }

    /// A FlexRequest needs a requested ISP; a requested ISP needs a direction (not MinPower < 0
    /// < MaxPower); no ISP may have MinPower above MaxPower.
    public static func request(_ request: FlexRequest) -> [String] {
        var reasons: [String] = []
        let requested = request.isps.filter { $0.disposition == .requested }
        if requested.isEmpty { reasons.append(lackingRequestedDisposition) }
        if requested.contains(where: { $0.minPower < 0 && $0.maxPower > 0 }) { reasons.append(requestedPowerDiscrepancy) }
        if request.isps.contains(where: { $0.minPower > $0.maxPower }) { reasons.append(powerDiscrepancy) }
        return reasons
    }

    /// ISP numbers `start ..< start + duration` (duration 1 when absent), as far as a day reaches.
    public static func numbers(_ start: PositiveInteger, _ duration: PositiveInteger?) -> Range<Int> {
        ISPNumbers.clamped(start: start.value, count: duration?.value ?? 1)
    }

    /// An order the DSO placed, with the D-Prognosis it was based on (nil when none is known).
    public struct PlacedOrder: Sendable {
        public var messageID: UUIDValue
        public var order: FlexOrder
        public var baseline: DPrognosis?

        public init(messageID: UUIDValue, order: FlexOrder, baseline: DPrognosis?) {
            self.messageID = messageID
            self.order = order
            self.baseline = baseline
        }
    }

    /// Whether an updated D-Prognosis reflects each earlier order of its congestion point and
    /// Period (UFTP §4.2.17 FlexOrderStatus; FUSION FR31/FR38): at every ordered ISP from
    /// `firstOpenISP` on (those begun are ignored, as the specification asks), the prognosis is
    /// the order's baseline plus the power ordered. `orders` in the order they were placed: where
    /// a later order covers an ISP again, its baseline (which reflects the earlier one) is the
    /// one checked. An order without a known baseline cannot be validated.
    public static func orderStatuses(of prognosis: DPrognosis, orders: [PlacedOrder],
                                     firstOpenISP: Int) -> [DPrognosisResponse.FlexOrderStatus] {
        let predicted = prognosis.powerByISP
        var expected: [Int: Int?] = [:]
        for placed in orders {
            for isp in placed.order.isps {
                for number in numbers(isp.start, isp.duration) where number >= firstOpenISP {
                    // Peers' powers: a sum that overflows is no power a prognosis can match.
                    let sum = placed.baseline?.powerByISP[number].map { $0.addingReportingOverflow(isp.power) }
                    expected[number] = sum.flatMap { $0.overflow ? nil : $0.partialValue }
                }
            }
        }
        return orders.map { placed in
            let reflected = placed.order.isps.allSatisfy { isp in
                numbers(isp.start, isp.duration).allSatisfy { number in
                    number < firstOpenISP || (expected[number] ?? nil).map { $0 == predicted[number] } == true
                }
            }
            return DPrognosisResponse.FlexOrderStatus(flexOrderMessageID: placed.messageID, isValidated: reflected)
        }
    }

    /// An offer answering a FlexRequest must cover at least one of its requested ISPs.
    public static func offer(_ offer: FlexOffer, answering request: FlexRequest) -> [String] {
        let requested = Set(request.isps.filter { $0.disposition == .requested }.flatMap { numbers($0.start, $0.duration) })
        let offered = Set(offer.options.flatMap { $0.isps.flatMap { numbers($0.start, $0.duration) } })
        return requested.isDisjoint(with: offered) ? [requestMismatch] : []
    }

    /// A FlexOrder must repeat the chosen option of its offer: the same ISPs, each power scaled
    /// by the activation factor (at least the option's minimum; rounded to the watt), and the
    /// price scaled by it (to a cent's hundredth).
    public static func order(_ order: FlexOrder, against offer: FlexOffer) -> [String] {
        let option = offer.options.count == 1 && order.optionReference == nil
            ? offer.options.first
            : offer.options.first { $0.optionReference == order.optionReference }
        guard let option else { return [ispMismatch] }
        func expanded(_ isps: [PowerISP]) -> [Int: Int] {
            var powers: [Int: Int] = [:]
            for isp in isps { for number in numbers(isp.start, isp.duration) { powers[number] = isp.power } }
            return powers
        }
        let ordered = expanded(order.isps), offered = expanded(option.isps)
        guard Set(ordered.keys) == Set(offered.keys) else { return [ispMismatch] }
        let factor = order.activationFactor?.value ?? 1
        var reasons: [String] = []
        if factor < (option.minActivationFactor?.value ?? 1) { reasons.append(powerMismatch) }
        let scale = NSDecimalNumber(decimal: factor).doubleValue
        // Rounding is unspecified (integer watts): a watt either way is accepted.
        // In Double: the powers are a peer's, and their difference may not fit an integer.
        let scaledPowersMatch = offered.allSatisfy { number, power in
            abs(Double(ordered[number] ?? 0) - (Double(power) * scale).rounded()) <= 1
        }
        if !scaledPowersMatch && !reasons.contains(powerMismatch) { reasons.append(powerMismatch) }
        let expectedPrice = option.price.value * factor
        if abs(NSDecimalNumber(decimal: order.price.value - expectedPrice).doubleValue) > 0.0001 { reasons.append(priceMismatch) }
        return reasons
    }
}
