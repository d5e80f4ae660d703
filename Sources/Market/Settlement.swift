import Foundation

/// Settlement of an order per ISP (UFTP §2.6): what was delivered against the baseline is paid,
/// what fell short of the baseline adjusted by the order is penalised (single-sided: deviating
/// the right way is never penalised, nor rewarded beyond the order).
///
/// For an order of ordered power `o` (W, signed as UFTP: negative is less consumption), baseline
/// `b` and allocation `a` (the ISP's average measured power), with `d` the order's direction (±1):
///
///     realized   = (a − b) · d                 the deviation from the baseline the order's way
///     delivered  = clamp(realized, 0, |o|)     paid: passive contributions are not rewarded
///     deviation  = (a − (b + o)) · −d          from the baseline adjusted by the order
///     deficiency = max(deviation, 0)           penalised
///     fee        = delivered · fee rate
///     penalty    = deficiency · penalty rate
///     net        = fee − penalty
///
/// An ISP without a certified measurement is unverified: settled at nothing, and listed.
public struct SettlementRates: Sendable, Equatable {
    /// Currency units per W delivered in one ISP.
    public var feePerW: Decimal
    /// Currency units per W of deficiency in one ISP.
    public var penaltyPerW: Decimal

    public init(feePerW: Decimal, penaltyPerW: Decimal) {
        self.feePerW = feePerW
        self.penaltyPerW = penaltyPerW
    }

    /// Pay-as-bid: the award's price spread over the power it ordered, so that full delivery is
    /// paid exactly the price.
    public static func payAsBid(price: Decimal, orderedW: [Int], penaltyPerW: Decimal) -> SettlementRates {
        let total = orderedW.reduce(0) { $0 + abs($1) }
        return SettlementRates(feePerW: total > 0 ? price / Decimal(total) : 0, penaltyPerW: penaltyPerW)
    }
}

/// One ISP of an order: the baseline, the ordered power and the measured allocation (nil, or not
/// certified: unverified).
public struct ISPMeasurement: Sendable, Equatable {
    public var isp: Int
    public var baseline: Int
    public var ordered: Int
    public var allocation: Int?
    public var certified: Bool

    public init(isp: Int, baseline: Int, ordered: Int, allocation: Int?, certified: Bool = true) {
        self.isp = isp
        self.baseline = baseline
        self.ordered = ordered
        self.allocation = allocation
        self.certified = certified
    }
}

public struct SettledISP: Sendable, Equatable, Codable {
    public var isp: Int
    public var baseline: Int
    public var ordered: Int
    public var allocation: Int?
    public var realized: Int
    public var delivered: Int
    public var deviation: Int
    public var deficiency: Int
    public var fee: Decimal
    public var penalty: Decimal
    public var net: Decimal
    /// False: no certified measurement; nothing paid or charged, listed for review.
    public var verified: Bool
}

/// An order's ISPs settled, with its totals.
public struct OrderSettlement: Sendable, Equatable, Codable {
    public var isps: [SettledISP]
    public var delivered: Int
    public var deficiency: Int
    public var fee: Decimal
    public var penalty: Decimal
    public var net: Decimal
    /// The ISPs left out for want of certified data.
    public var unverified: [Int]
}

public enum Settlement {
    public static func settle(_ measurement: ISPMeasurement, rates: SettlementRates) -> SettledISP {
        let direction = measurement.ordered < 0 ? -1 : 1
        guard let allocation = measurement.allocation, measurement.certified else {
            return SettledISP(isp: measurement.isp, baseline: measurement.baseline, ordered: measurement.ordered,
                              allocation: measurement.allocation, realized: 0, delivered: 0, deviation: 0, deficiency: 0,
                              fee: 0, penalty: 0, net: 0, verified: false)
        }
        let realized = (allocation - measurement.baseline) * direction
        let delivered = min(max(realized, 0), abs(measurement.ordered))
        let deviation = (allocation - (measurement.baseline + measurement.ordered)) * -direction
        let deficiency = max(deviation, 0)
        let fee = Decimal(delivered) * rates.feePerW
        let penalty = Decimal(deficiency) * rates.penaltyPerW
        return SettledISP(isp: measurement.isp, baseline: measurement.baseline, ordered: measurement.ordered, allocation: allocation,
                          realized: realized, delivered: delivered, deviation: deviation, deficiency: deficiency,
                          fee: fee, penalty: penalty, net: fee - penalty, verified: true)
    }

    public static func settle(order measurements: [ISPMeasurement], rates: SettlementRates) -> OrderSettlement {
        let isps = measurements.map { settle($0, rates: rates) }
        let verified = isps.filter(\.verified)
        return OrderSettlement(isps: isps, delivered: verified.reduce(0) { $0 + $1.delivered },
                               deficiency: verified.reduce(0) { $0 + $1.deficiency },
                               fee: verified.reduce(0) { $0 + $1.fee }, penalty: verified.reduce(0) { $0 + $1.penalty },
                               net: verified.reduce(0) { $0 + $1.net }, unverified: isps.filter { !$0.verified }.map(\.isp))
    }
}
