import GridCore

/// Settlement (UFTP §2.6, docs/market.md "Settlement"): per POD and ISP, what was measured
/// against the baseline is shared among the orders standing there; per order, what it was
/// delivered is paid and what it fell short is penalised, in cents.
///
/// At one POD and ISP, with baseline `b`, measured allocation `a`, the orders' parts `oₖ`
/// (signed W, one direction `d` = ±1) of total `T = Σ|oₖ|`:
///
///     realized   = (a − b) · d                 the deviation from the baseline the orders' way
///     delivered  = clamp(realized, 0, T)       shared pro rata to |oₖ|: never above a part,
///                                              never more in all than the meter shows
///     deviation  = T − realized                from the baseline adjusted by the orders
///     deficiency = max(deviation, 0)           shared pro rata to |oₖ|
///
/// With one order this is UFTP's table. A part not dispatched (the platform could not send it,
/// the node refused it as stale or expired, or never acknowledged it) or cancelled takes no part
/// in the sharing: nothing delivered, nothing short. A POD and ISP without a certified, complete
/// measurement is unverified: settled at nothing, and listed.

/// A POD's ISP as settlement sees it: the baseline, what was measured, and the parts of the
/// orders that stand or stood there.
public struct PODInterval: Sendable, Equatable {
    public enum Standing: Sendable, Equatable {
        /// Sent and taken by the node (or activated by a UFTP aggregator itself): it counts.
        case dispatched
        /// Never in force at the site: why.
        case notDispatched(String)
        case cancelled
    }

    public struct Part: Sendable, Equatable {
        public var order: String
        /// W, signed as UFTP: negative is less consumption.
        public var ordered: Int
        public var standing: Standing

        public init(order: String, ordered: Int, standing: Standing = .dispatched) {
            self.order = order
            self.ordered = ordered
            self.standing = standing
        }
    }

    public var pod: String
    public var isp: Int
    public var baseline: Int
    /// The ISP's average measured power, when measured (nil: no measurement).
    public var allocation: Int?
    /// Why the measurement cannot be settled on (not certified, incomplete, no baseline); nil
    /// when it is certified and complete.
    public var unverified: String?
    public var parts: [Part]

    public init(pod: String, isp: Int, baseline: Int, allocation: Int?, unverified: String? = nil, parts: [Part]) {
        self.pod = pod
        self.isp = isp
        self.baseline = baseline
        self.allocation = allocation
        self.unverified = allocation == nil ? unverified ?? "no measurement" : unverified
        self.parts = parts
    }
}

/// What one order got at one POD and ISP.
public struct SettledISP: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable {
        case settled
        /// Dispatched, but without a certified, complete measurement: nothing paid or charged.
        case unverified
        case notDispatched = "not-dispatched"
        case cancelled
    }

    public var pod: String
    public var isp: Int
    public var baseline: Int
    public var ordered: Int
    public var allocation: Int?
    /// The POD and ISP's figures (shared by every order standing there).
    public var realized: Int
    public var deviation: Int
    /// This order's share.
    public var delivered: Int
    public var deficiency: Int
    public var fee: Money
    public var penalty: Money
    public var net: Money
    public var status: Status
    /// Why it was not settled as measured.
    public var reason: String?

    public var verified: Bool { status == .settled }
}

/// An order's ISPs settled, with its totals (the sums of its lines).
public struct OrderSettlement: Sendable, Equatable, Codable {
    public var isps: [SettledISP]
    public var delivered: Int
    public var deficiency: Int
    public var fee: Money
    public var penalty: Money
    public var net: Money
}

/// How an order's lines are priced.
public struct SettlementTerms: Sendable, Equatable {
    /// Charged per MW of deficiency per ISP.
    public var penaltyPerMW: Money
    /// The share of a cancelled ISP's price still paid, in hundredths (0: nothing).
    public var cancellationFeePercent: Int

    public init(penaltyPerMW: Money, cancellationFeePercent: Int = 0) {
        self.penaltyPerMW = penaltyPerMW
        self.cancellationFeePercent = cancellationFeePercent
    }
}

public enum Settlement {
    /// Shares one POD and ISP among the orders standing there (the rule above); one line per part,
    /// in the parts' order, before pricing.
    public static func share(_ interval: PODInterval) -> [SettledISP] {
        let dispatched = interval.parts.indices.filter { interval.parts[$0].standing == .dispatched }
        let total = dispatched.reduce(0) { $0 + abs(interval.parts[$1].ordered) }
        // The orders' way, from the first part that has one (a 0 W part has none).
        let direction = dispatched.first { interval.parts[$0].ordered != 0 }.map { interval.parts[$0].ordered < 0 ? -1 : 1 } ?? 1
        let measured = interval.unverified == nil ? interval.allocation : nil
        let realized = measured.map { ($0 - interval.baseline) * direction } ?? 0
        let weights = dispatched.map { Double(abs(interval.parts[$0].ordered)) }
        let delivered = PODSplit.split(min(max(realized, 0), total), weights: weights)
        let deficiency = PODSplit.split(max(total - realized, 0), weights: weights)
        return interval.parts.indices.map { index in
            let part = interval.parts[index]
            var line = SettledISP(pod: interval.pod, isp: interval.isp, baseline: interval.baseline, ordered: part.ordered,
                                  allocation: interval.allocation, realized: 0, deviation: 0, delivered: 0, deficiency: 0,
                                  fee: .zero, penalty: .zero, net: .zero, status: .settled)
            switch part.standing {
            case .notDispatched(let reason):
                line.status = .notDispatched
                line.reason = reason
            case .cancelled:
                line.status = .cancelled
            case .dispatched where measured == nil:
                line.status = .unverified
                line.reason = interval.unverified
            case .dispatched:
                let share = dispatched.firstIndex(of: index)!
                line.realized = realized
                line.deviation = total - realized
                line.delivered = delivered[share]
                line.deficiency = deficiency[share]
            }
            return line
        }
    }

    /// Prices an order's lines (pay-as-bid): its fee is the award's price × what was delivered
    /// over what was ordered (cancelled ISPs counted at the cancellation share), its penalty the
    /// rate × the deficiency, each rounded half to even to the cent once for the order and spread
    /// over its lines by largest remainder, so that the lines add up to the totals. The fee never
    /// exceeds the price.
    public static func price(_ lines: [SettledISP], price: Money, terms: SettlementTerms) -> OrderSettlement {
        let ordered = Int64(lines.reduce(0) { $0 + abs($1.ordered) })
        let cancelledShare = Int64(min(max(terms.cancellationFeePercent, 0), 100))
        let feeWeights = lines.map { line in
            line.status == .cancelled ? cancelledShare * Int64(abs(line.ordered)) : 100 * Int64(line.delivered)
        }
        let fee = price.share(feeWeights.reduce(0, +), of: 100 * ordered)
        let deficiency = lines.reduce(0) { $0 + $1.deficiency }
        let penalty = terms.penaltyPerMW.share(Int64(deficiency), of: 1_000_000)
        let fees = Money.spread(fee, over: feeWeights), penalties = Money.spread(penalty, over: lines.map { Int64($0.deficiency) })
        var priced = lines
        for index in priced.indices {
            priced[index].fee = fees[index]
            priced[index].penalty = penalties[index]
            priced[index].net = fees[index] - penalties[index]
        }
        return OrderSettlement(isps: priced, delivered: lines.reduce(0) { $0 + $1.delivered }, deficiency: deficiency,
                               fee: fee, penalty: penalty, net: fee - penalty)
    }
}
