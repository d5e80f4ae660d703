import GridCore

/// Quarter-hour measures from 4-s readings (PlatOne I-01).
public enum QuarterHours {
    public static let milliseconds: Int64 = 900_000

    /// The start of the quarter hour holding `time` (UTC quarters are market ISPs in every zone
    /// with a whole-quarter offset, which all European ones are).
    public static func start(of time: Timestamp) -> Timestamp {
        let (quotient, _) = Timestamp.floorDivide(time.millisecondsSince1970, milliseconds)
        return Timestamp(millisecondsSince1970: quotient * milliseconds)
    }

    /// The measure of the quarter starting at `start`, from the readings of `start − 15 min ..<
    /// start + 15 min` (the earlier ones give the energy counters' opening value); nil when the
    /// quarter holds no good reading.
    ///
    /// Energy is the net counter (import − export) at the quarter's last reading minus its value
    /// at the last reading before the quarter (else the first in it); without counters it is the
    /// power integrated over the samples (each standing for one interval). Coverage is samples
    /// received over samples expected.
    public static func measure(pod: String, start: Timestamp, readings: [RawReading], intervalMs: Int64) -> QuarterMeasure? {
        let end = start.adding(milliseconds: milliseconds)
        let inside = readings.filter { $0.reading.good && $0.reading.time >= start && $0.reading.time < end && $0.reading.activePower != nil }
        guard !inside.isEmpty else { return nil }
        let powers = inside.compactMap(\.reading.activePower)
        let average = powers.reduce(0, +) / Double(powers.count)
        func net(_ reading: RawReading) -> Double? {
            guard let imported = reading.reading.energyImport else { return nil }
            return imported - (reading.reading.energyExport ?? 0)
        }
        let before = readings.last { $0.reading.good && $0.reading.time < start && net($0) != nil }
        let opening = before ?? inside.first { net($0) != nil }
        let closing = inside.last { net($0) != nil }
        let energy: Double
        var contributors = inside
        if let opening, let closing, let from = net(opening), let to = net(closing), opening.seq != closing.seq {
            energy = to - from
            if let before { contributors.append(before) }
        } else {
            energy = powers.reduce(0, +) * Double(intervalMs) / 3_600_000
        }
        let expected = Double(milliseconds / max(intervalMs, 1))
        return QuarterMeasure(pod: pod, start: start, energyWh: energy, averageW: average,
                              coverage: min(1, Double(inside.count) / expected), samples: inside.count,
                              certified: contributors.allSatisfy(\.certified))
    }
}
