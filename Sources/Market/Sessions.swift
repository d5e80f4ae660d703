import Foundation
import GridCore

/// Which book an entry goes to: the day-ahead session of its day, or the real-time sessions
/// cleared over a rolling horizon (PlatOne scenario 2).
public enum SessionKind: String, Sendable, Codable, CaseIterable {
    case dayAhead = "day-ahead", realTime = "real-time"
}

/// When a session takes entries (docs/market.md, "Sessions").
public struct SessionRules: Sendable {
    public var calendar: MarketCalendar
    /// The day-ahead session of day D closes on D−1 at this local time (minutes after midnight).
    public var dayAheadGateClosureMinutes: Int
    /// A real-time entry's ISPs start at least this long after it arrives; negative admits an
    /// ISP already running (demonstrations and tests that cannot wait a quarter hour).
    public var realTimeLeadMinutes: Int
    /// …and within this horizon.
    public var realTimeHorizonMinutes: Int

    public init(calendar: MarketCalendar, dayAheadGateClosureMinutes: Int = 12 * 60, realTimeLeadMinutes: Int = 15,
                realTimeHorizonMinutes: Int = 240) {
        self.calendar = calendar
        self.dayAheadGateClosureMinutes = dayAheadGateClosureMinutes
        self.realTimeLeadMinutes = realTimeLeadMinutes
        self.realTimeHorizonMinutes = realTimeHorizonMinutes
    }

    /// When the day-ahead session of `day` closes: D−1 at the gate-closure time, local.
    public func gateClosure(dayAhead day: String) -> Timestamp? {
        calendar.day(after: day, by: -1).flatMap { calendar.time(dayAheadGateClosureMinutes, on: $0) }
    }

    /// Why an entry for `isps` of `day` is refused by `session` at `now`; nil when it is admitted.
    public func refusal(_ session: SessionKind, day: String, isps: [Int], now: Timestamp) -> String? {
        guard let count = calendar.ispCount(day) else { return "day: \"\(day)\" is not a date (YYYY-MM-DD)" }
        if let beyond = isps.first(where: { !(1...count).contains($0) }) {
            return "ISP \(beyond) is not an ISP of \(day), which has \(count)"
        }
        switch session {
        case .dayAhead:
            guard let closure = gateClosure(dayAhead: day) else { return "day: \"\(day)\" is not a date" }
            if now >= closure { return "the day-ahead session of \(day) closed at \(closure.rfc3339) (gate closure)" }
        case .realTime:
            let earliest = now.adding(milliseconds: Int64(realTimeLeadMinutes) * 60_000)
            let latest = now.adding(milliseconds: Int64(realTimeHorizonMinutes) * 60_000)
            for isp in isps.sorted() {
                guard let interval = calendar.interval(day: day, isp: isp) else { continue }
                if interval.lowerBound < earliest {
                    return "ISP \(isp) of \(day) starts at \(interval.lowerBound.rfc3339), less than \(realTimeLeadMinutes) minutes ahead (real-time gate closure)"
                }
                if interval.lowerBound >= latest {
                    return "ISP \(isp) of \(day) starts at \(interval.lowerBound.rfc3339), beyond the real-time horizon of \(realTimeHorizonMinutes) minutes"
                }
            }
        }
        return nil
    }
}

/// An award's power split over the offer's PODs (dispatch, I-09).
public enum PODSplit {
    /// `watts` in parts proportional to `weights` that sum to `watts` exactly (largest
    /// remainder; ties to the earlier POD). Equal parts when the weights are all 0 or not finite.
    /// Exact up to 2^53 W, far beyond `Bounds.powerW`; more is split as 2^53, never a trap.
    public static func split(_ watts: Int, weights: [Double]) -> [Int] {
        guard !weights.isEmpty else { return [] }
        let usable = weights.allSatisfy { $0.isFinite && $0 >= 0 } && weights.contains { $0 > 0 } && weights.reduce(0, +).isFinite
        let shares = usable ? weights : Array(repeating: 1, count: weights.count)
        let total = shares.reduce(0, +)
        let magnitude = Int(min(watts.magnitude, 1 << 53)), sign = watts < 0 ? -1 : 1
        let exact = shares.map { Double(magnitude) * ($0 / total) }
        var parts = exact.map { Int($0.rounded(.down)) }
        let order = exact.indices.sorted { a, b in
            let ra = exact[a] - Double(parts[a]), rb = exact[b] - Double(parts[b])
            return ra != rb ? ra > rb : a < b
        }
        var left = magnitude - parts.reduce(0, +)
        for index in order where left > 0 {
            parts[index] += 1
            left -= 1
        }
        return parts.map { $0 * sign }
    }
}
