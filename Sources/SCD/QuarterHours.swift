import GridCore
import Ledger

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
    /// start + 15 min` ascending by seq (the earlier ones give the energy counters' opening
    /// value); nil when the quarter holds no good reading.
    public static func measure(pod: String, start: Timestamp, readings: [RawReading], intervalMs: Int64) -> QuarterMeasure? {
        var before = Tally(start: start.adding(milliseconds: -milliseconds))
        var inside = Tally(start: start)
        let end = start.adding(milliseconds: milliseconds)
        for reading in readings where reading.reading.time < end {
            if reading.reading.time < start {
                before.add(seq: reading.seq, reading.reading, certified: reading.certified)
            } else {
                inside.add(seq: reading.seq, reading.reading, certified: reading.certified)
            }
        }
        return inside.measure(pod: pod, after: before, intervalMs: intervalMs)?.measure
    }

    /// One quarter's readings summed as they come, in seq order: what its measure needs, so the
    /// ingest can measure a quarter whose readings it saw arrive without reading them back.
    ///
    /// Energy is the net counter (import − export) at the quarter's last reading minus its value
    /// at the last reading before the quarter (else the first in it); without counters it is the
    /// power integrated over the samples (each standing for one interval). Coverage is samples
    /// received over samples expected.
    public struct Tally: Sendable {
        public let start: Timestamp
        /// Good readings with a power value: the samples.
        private var samples = 0
        private var powerSum = 0.0
        /// The first and last sample with an energy counter (opening and closing values).
        private var opening: Counter?
        private var closing: Counter?
        /// The last good reading with a counter: the next quarter's opening value.
        public private(set) var lastCounter: Counter?
        /// The seqs of the samples.
        private var seqs: ClosedRange<UInt64>?
        private var samplesCertified = true

        public struct Counter: Sendable {
            public var seq: UInt64
            public var net: Double
            public var certified: Bool
        }

        public init(start: Timestamp) {
            self.start = start
        }

        /// Adds a reading of this quarter (the next by seq).
        public mutating func add(seq: UInt64, _ reading: ReadingBody, certified: Bool) {
            guard reading.good else { return }
            let counter = reading.energyImport.map { Counter(seq: seq, net: $0 - (reading.energyExport ?? 0), certified: certified) }
            if let counter { lastCounter = counter }
            guard let power = reading.activePower else { return }
            samples += 1
            powerSum += power
            seqs = (seqs?.lowerBound ?? seq)...seq
            samplesCertified = samplesCertified && certified
            if let counter {
                if opening == nil { opening = counter }
                closing = counter
            }
        }

        /// The measure, with the seqs of the readings it rests on (all certified makes it
        /// certified); `previous` is the tally of the quarter before, if it held any readings.
        public func measure(pod: String, after previous: Tally?, intervalMs: Int64) -> (measure: QuarterMeasure, contributors: ClosedRange<UInt64>)? {
            guard let seqs, samples > 0 else { return nil }
            let before = previous?.start.adding(milliseconds: milliseconds) == start ? previous?.lastCounter : nil
            let energy: Double
            var contributors = seqs
            var certified = samplesCertified
            if let from = before ?? opening, let to = closing, from.seq != to.seq {
                energy = to.net - from.net
                if let before {
                    contributors = min(before.seq, seqs.lowerBound)...seqs.upperBound
                    certified = certified && before.certified
                }
            } else {
                energy = powerSum * Double(intervalMs) / 3_600_000
            }
            let expected = Double(milliseconds / max(intervalMs, 1))
            let measure = QuarterMeasure(pod: pod, start: start, energyWh: energy, averageW: powerSum / Double(samples),
                                         coverage: min(1, Double(samples) / expected), samples: samples, certified: certified)
            return (measure, contributors)
        }
    }
}
