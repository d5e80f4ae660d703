#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GridCore
import Ledger

/// How far the site followed a set-point, from the certified readings of the site meter within
/// the window in force [from, end): the `setpoint-report` ledger entry (docs/setpoints.md).
public struct SetPointReport: Sendable, Equatable {
    public let record: SetPointRecord
    public let meter: String
    /// Good readings of the meter's active power within the window.
    public let samples: Int
    /// samples × interval / window length, at most 1.
    public let coverage: Double
    public let meanW: Double?
    public let energyWh: Double?
    /// Mean per-reading deviation: p − w (target), max(0, p − w) (max), min(0, p − w) (min);
    /// 0 means followed, positive means above the instruction.
    public let deviationW: Double?
    public let deviationWh: Double?

    /// Builds the report from the active-power samples taken in the window.
    public init(record: SetPointRecord, meter: String, samples powers: [Double], intervalMs: Int) {
        self.record = record
        self.meter = meter
        let windowMs = Double(record.end.millisecondsSince1970 - record.from.millisecondsSince1970)
        let hours = windowMs / 3_600_000
        samples = powers.count
        coverage = windowMs > 0 ? min(1, Double(powers.count) * Double(intervalMs) / windowMs) : 0
        guard !powers.isEmpty else {
            meanW = nil; energyWh = nil; deviationW = nil; deviationWh = nil
            return
        }
        let w = Double(record.w)
        let mean = powers.reduce(0, +) / Double(powers.count)
        let deviations = powers.map { p -> Double in
            switch record.mode {
            case .target: return p - w
            case .max: return max(0, p - w)
            case .min: return min(0, p - w)
            case .release: return 0
            }
        }
        let deviation = deviations.reduce(0, +) / Double(deviations.count)
        meanW = Self.rounded(mean)
        energyWh = Self.rounded(mean * hours)
        deviationW = Self.rounded(deviation)
        deviationWh = Self.rounded(deviation * hours)
    }

    /// Milliwatt (milliwatt-hour) resolution: beyond any meter's accuracy, and short on the wire.
    static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

    public var body: EntryBody {
        EntryBody(time: .now(), kind: "setpoint-report") { body in
            body.string("id", record.id)
            body.timestamp("from", record.from)
            body.timestamp("until", record.end)
            body.string("mode", record.mode.rawValue)
            if record.mode != .release { body.integer("w", record.w) }
            body.string("m", meter)
            body.integer("n", Int64(samples))
            body.number("coverage", Self.rounded(coverage))
            if let meanW, let energyWh, let deviationW, let deviationWh {
                body.number("mean_w", meanW)
                body.number("energy_wh", energyWh)
                body.number("deviation_w", deviationW)
                body.number("deviation_wh", deviationWh)
            }
        }
    }

    /// Reads the window's good `active_power` readings of `meter` from the ledger, starting at the
    /// entry that recorded the set-point (every reading in its window comes after it).
    public static func make(for record: SetPointRecord, meter: String, intervalMs: Int, ledger: Ledger) throws -> SetPointReport {
        let readingKind = Array(#""k":"reading""#.utf8)
        var powers: [Double] = []
        try ledger.forEachEntry(from: max(record.seq, try ledger.firstKeptSeq)) { entry in
            // Bodies start {"t":"<24 characters>", so the kind sits at byte 32.
            guard entry.body.count > 32 + readingKind.count, entry.body[32..<(32 + readingKind.count)].elementsEqual(readingKind),
                  let reading = try? ReadingBody(parsing: entry.body), reading.meter == meter, reading.good,
                  let power = reading.activePower, record.from <= reading.time, reading.time < record.end else { return }
            powers.append(power)
        }
        return SetPointReport(record: record, meter: meter, samples: powers, intervalMs: intervalMs)
    }
}
