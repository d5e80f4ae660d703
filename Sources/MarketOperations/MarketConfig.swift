import ConfigFile
import Foundation
import GridCore
import Market
import UFTPGateway

/// `[market]`: the local flexibility market (docs/market.md, docs/configuration.md). Every key
/// has a default: the market runs on an empty section, or none.
public struct MarketConfig: Sendable {
    public enum ValidationMode: String, Sendable, CaseIterable {
        /// The built-in validator with `[market.congestion_point_limits]` (every award approved without).
        case builtIn = "built-in"
        /// The DSO's technical platform approves or rejects (PUT …/validation), notified at `notify_url`.
        case dso
    }

    /// What a preliminary round becomes when no DSO validates it within `validation_timeout_s`.
    public enum ValidationFallback: String, Sendable, CaseIterable {
        /// The built-in validator with `[market.congestion_point_limits]`.
        case builtIn = "built-in"
        /// Every award rejected: their offers are free again.
        case rejectAll = "reject-all"
    }

    /// What an order's set-points and settlement take as the power expected without it.
    public enum BaselineSource: String, Sendable, CaseIterable {
        /// The BRP's quarter-hour energies per POD (I-03).
        case brp
        /// The aggregator's latest accepted D-Prognosis (UFTP) for the congestion point and day,
        /// split over the order's PODs (by shares, else equally).
        case dPrognosis = "d-prognosis"
    }

    public let rules: SessionRules
    public let reliabilityMargin: Double
    public let validation: ValidationMode
    public let limits: CongestionPointLimits
    /// Where preliminary and final outcomes and dispatch alerts are POSTed (JSON), if anywhere.
    public let notifyURL: String?
    /// The key that signs set-points (made on first start when missing; its public half is what
    /// Light Nodes list in `trusted_keys`).
    public let setPointKeyFile: String
    /// A set-point not acknowledged within this is an alert.
    public let ackTimeoutSeconds: Int
    /// Real-time sessions are cleared this often.
    public let realTimeIntervalSeconds: Int
    /// Charged per MW of deficiency per ISP.
    public let penaltyPerMW: Money
    /// A quarter-hour measure settles an ISP only when certified and covering at least this share.
    public let settlementMinCoverage: Double
    /// UFTP aggregators (domains) trading in the market: sent a FlexRequest for each market
    /// request at congestion points where they hold PODs, their FlexOffers and revocations taken
    /// as market entries; needs `[uftp]` with the DSO role.
    public var uftpAggregators: [String] = []
    /// UFTP DSOs (domains) whose FlexRequests are market requests; needs `[uftp]` with the AGR role.
    public var uftpDSOs: [String] = []
    public var baseline: BaselineSource = .brp
    /// The most a congestion point carries, in W (FUSION's maximum load): the console sets the
    /// forecast against it.
    public var maxLoadW: [String: Int] = [:]
    /// The DSO operating each congestion point named here (FR20/FR21): only it plans the point
    /// (profiles, deficiency requests), files requests there and contracts there; a point not
    /// named is open to every DSO.
    public var operators: [String: String] = [:]
    /// An order dispatches only the ISPs that begin at least this long after it is placed.
    public var dispatchLeadSeconds = 60
    /// The share of a cancelled ISP's price still paid, in hundredths.
    public var cancellationFeePercent = 0
    /// A round still preliminary this long after its clearing falls back to `validationFallback`.
    public var validationTimeoutSeconds = 3_600
    public var validationFallback: ValidationFallback = .builtIn

    public var calendar: MarketCalendar { rules.calendar }

    package static func load(_ section: ConfigSection?, resolve: (String) -> String) -> MarketConfig? {
        let zoneName = section?.string("time_zone", required: false) ?? "Europe/Amsterdam"
        let zone = TimeZone(identifier: zoneName)
        if zone == nil { section?.problem("time_zone", "\"\(zoneName)\" is not a known time zone") }
        let ispMinutes = section?.int("isp_minutes", in: 15...60, default: 15) ?? 15
        if ![15, 30, 60].contains(ispMinutes) { section?.problem("isp_minutes", "must be 15, 30 or 60") }
        var gate = 12 * 60
        if let text = section?.string("day_ahead_gate_closure", required: false) {
            let parts = text.split(separator: ":")
            if parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0...23).contains(hour), (0...59).contains(minute),
               parts[1].count == 2 {
                gate = hour * 60 + minute
            } else {
                section?.problem("day_ahead_gate_closure", "must be a local time HH:MM, not \"\(text)\"")
            }
        }
        let lead = section?.int("real_time_lead_minutes", in: -60...240, default: 15) ?? 15
        let horizon = section?.int("real_time_horizon_minutes", in: 15...1440, default: 240) ?? 240
        let interval = section?.int("real_time_interval_s", in: 1...86_400, default: 300) ?? 300
        let margin = section?.double("reliability_margin", default: 0) ?? 0
        if !(0...1).contains(margin) { section?.problem("reliability_margin", "must be between 0 and 1") }
        let validation = section?.choice("validation", ValidationMode.allCases.map(\.rawValue), default: "built-in")
            .flatMap(ValidationMode.init(rawValue:)) ?? .builtIn
        /// A table of congestion point (entity address) = W.
        func wattsByLocation(_ name: String) -> [String: Int] {
            guard let table = section?.section(name, required: false) else { return [:] }
            var watts: [String: Int] = [:]
            for location in table.dataKeys() {
                if let value = table.int(location, in: 0...Int(Int32.max)) { watts[location] = value }
            }
            return watts
        }
        let limits = wattsByLocation("congestion_point_limits")
        let maxLoad = wattsByLocation("congestion_point_max_load")
        var operators: [String: String] = [:]
        if let table = section?.section("congestion_point_operators", required: false) {
            for point in table.dataKeys() {
                guard let dso = table.string(point) else { continue }  // not a string: said so
                if dso.isEmpty { table.problem(point, "must name the DSO operating \(point)") } else { operators[point] = dso }
            }
        }
        let notify = section?.string("notify_url", required: false)
        if let notify, !(notify.hasPrefix("http://") || notify.hasPrefix("https://")) || URL(string: notify) == nil {
            section?.problem("notify_url", "must be an http(s) URL, not \"\(notify)\"")
        }
        let keyFile = resolve(section?.string("setpoint_key_file", required: false) ?? "setpoint.key")
        let ackTimeout = section?.int("ack_timeout_s", in: 1...3600, default: 60) ?? 60
        let penalty = section?.money("penalty_per_mw", in: Bounds.price, default: .zero) ?? .zero
        let dispatchLead = section?.int("dispatch_lead_s", in: 0...3_600, default: 60) ?? 60
        let cancellation = section?.money("cancellation_fee_share", in: .zero...Money(cents: 100), default: .zero) ?? .zero
        let timeout = section?.int("validation_timeout_s", in: 1...86_400, default: 3_600) ?? 3_600
        let fallback = section?.choice("validation_fallback", ValidationFallback.allCases.map(\.rawValue), default: "built-in")
            .flatMap(ValidationFallback.init(rawValue:)) ?? .builtIn
        let coverage = section?.double("settlement_min_coverage", default: 0.9) ?? 0.9
        if !(0...1).contains(coverage) { section?.problem("settlement_min_coverage", "must be between 0 and 1") }
        let aggregators = section?.strings("uftp_aggregators", required: false) ?? []
        let dsos = section?.strings("uftp_dsos", required: false) ?? []
        let baseline = section?.choice("baseline", BaselineSource.allCases.map(\.rawValue), default: "brp")
            .flatMap(BaselineSource.init(rawValue:)) ?? .brp
        section?.rejectUnknownKeys()
        guard let zone else { return nil }
        return MarketConfig(
            rules: SessionRules(calendar: MarketCalendar(timeZone: zone, ispMinutes: ispMinutes), dayAheadGateClosureMinutes: gate,
                                realTimeLeadMinutes: lead, realTimeHorizonMinutes: horizon),
            reliabilityMargin: margin, validation: validation, limits: CongestionPointLimits(limitW: limits), notifyURL: notify,
            setPointKeyFile: keyFile, ackTimeoutSeconds: ackTimeout, realTimeIntervalSeconds: interval,
            penaltyPerMW: penalty, settlementMinCoverage: coverage, uftpAggregators: aggregators,
            uftpDSOs: dsos, baseline: baseline, maxLoadW: maxLoad, operators: operators, dispatchLeadSeconds: dispatchLead,
            cancellationFeePercent: Int(cancellation.cents), validationTimeoutSeconds: timeout, validationFallback: fallback)
    }
}
