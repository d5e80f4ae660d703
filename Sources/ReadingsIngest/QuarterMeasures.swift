import GridCore
import Ledger
import SCD

/// Which quarter-hour measures are due and where each comes from. A quarter whose readings all
/// arrived here in seq order (in a run of the node's entries that began before the quarter) is
/// measured from a tally kept as they came; any other — the first quarter of a run (after a
/// start or a gap), one that late data fills, one a clock stepping back reaches — is read back
/// from the store. Reading back costs a row or a block per reading; at 100,000 nodes it was the
/// ingest's largest cost, each quarter read twice (provisional, then certified).
package struct QuarterMeasures {
    /// Measures are written this long after their quarter ends (the last readings in flight).
    package static let graceMs: Int64 = 10_000
    /// Readings dated further ahead of the platform's clock than this are not measured.
    static let aheadMs: Int64 = 86_400_000

    /// A node's unbroken run of entries, as far as it goes.
    private struct Run {
        var pod: String
        var nextSeq: UInt64
        var previous: QuarterHours.Tally?
        var current: QuarterHours.Tally?
        /// `current` holds every reading of its quarter (it began after the run did).
        var whole = false
        /// `current` is measured from its tally (whole, its opening counter known, not read back).
        var measurable = false
        /// `current`'s measure is pending as of its latest reading.
        var emitted = false
    }

    /// A measure from a tally, waiting to be written: provisional once the quarter's grace has
    /// passed, certified once every reading it rests on is.
    private struct Tallied {
        var measure: QuarterMeasure
        var contributors: ClosedRange<UInt64>
        var written = false
    }

    private var runs: [String: Run] = [:]
    private var tallied: [String: [Int64: Tallied]] = [:]
    /// Quarters to read back from the store, and those read back before their readings were certified.
    private var readBack: [String: Set<Int64>] = [:]
    private var provisional: [String: Set<Int64>] = [:]
    private let intervalMs: Int64

    package init(intervalMs: Int64) {
        self.intervalMs = intervalMs
    }

    /// An entry the ingest stored, with its body when it is a reading of the node's meter.
    package mutating func stored(node: String, pod: String, seq: UInt64, reading: ReadingBody?) {
        guard var run = runs[node], run.nextSeq == seq else {
            // A run begins here: a quarter the one before was tallying lacks what arrives out of turn.
            if let current = runs[node]?.current { readBackQuarter(node, current.start.millisecondsSince1970) }
            var run = Run(pod: pod, nextSeq: seq + 1)
            if let reading {
                // Its quarter may hold readings from before the run; the next quarter's opening is one.
                let quarter = QuarterHours.start(of: reading.time)
                lateReading(node, quarter: quarter.millisecondsSince1970)
                run.current = QuarterHours.Tally(start: quarter)
                run.current!.add(seq: seq, reading, certified: false)
            }
            runs[node] = run
            return
        }
        run.nextSeq = seq + 1
        if let reading { add(node, &run, seq: seq, reading) }
        runs[node] = run
    }

    private mutating func add(_ node: String, _ run: inout Run, seq: UInt64, _ reading: ReadingBody) {
        let quarter = QuarterHours.start(of: reading.time)
        guard let current = run.current else {
            // The run began with other entries: earlier readings of this quarter may be stored.
            lateReading(node, quarter: quarter.millisecondsSince1970)
            run.current = QuarterHours.Tally(start: quarter)
            run.current!.add(seq: seq, reading, certified: false)
            return
        }
        if quarter == current.start {
            run.current!.add(seq: seq, reading, certified: false)
            run.emitted = false
            // A quarter read back from the store is read again with what arrived since.
            if !run.measurable { readBack[node, default: []].insert(quarter.millisecondsSince1970) }
        } else if quarter > current.start {
            // The current quarter is complete: the run has moved past it.
            if run.measurable && !run.emitted { emit(node, run) }
            let start = quarter.millisecondsSince1970
            let openingKnown = current.start.adding(milliseconds: QuarterHours.milliseconds) != quarter
                || run.whole || current.lastCounter != nil
            run.previous = current
            run.current = QuarterHours.Tally(start: quarter)
            run.current!.add(seq: seq, reading, certified: false)
            run.whole = true
            run.measurable = openingKnown && readBack[node]?.contains(start) != true
            run.emitted = false
            if !run.measurable { readBack[node, default: []].insert(start) }
        } else {
            // A clock stepped back.
            runs[node] = run
            lateReading(node, quarter: quarter.millisecondsSince1970)
            run = runs[node]!
        }
    }

    /// A reading that arrived out of turn changes its quarter and the opening of the next.
    private mutating func lateReading(_ node: String, quarter: Int64) {
        readBackQuarter(node, quarter)
        readBackQuarter(node, quarter + QuarterHours.milliseconds)
    }

    private mutating func readBackQuarter(_ node: String, _ quarter: Int64) {
        readBack[node, default: []].insert(quarter)
        tallied[node]?[quarter] = nil
        if runs[node]?.current?.start.millisecondsSince1970 == quarter { runs[node]!.measurable = false }
    }

    private mutating func emit(_ node: String, _ run: Run) {
        guard let current = run.current,
              let (measure, contributors) = current.measure(pod: run.pod, after: run.previous, intervalMs: intervalMs) else { return }
        tallied[node, default: [:]][current.start.millisecondsSince1970] = Tallied(measure: measure, contributors: contributors)
    }

    /// Entries replayed at start: their quarters are read back.
    package mutating func replayed(node: String, reading: ReadingBody) {
        lateReading(node, quarter: QuarterHours.start(of: reading.time).millisecondsSince1970)
    }

    /// The node's certification advanced: quarters read back while uncertified are read again.
    mutating func certificationAdvanced(node: String) {
        if let quarters = provisional.removeValue(forKey: node) { readBack[node, default: []].formUnion(quarters) }
    }

    /// A quarantined node: nothing more of it is measured until its readings arrive again.
    mutating func forget(node: String) {
        runs[node] = nil
        tallied[node] = nil
    }

    /// What is due at `now`: measures from tallies ready to write (`isCertified` tells whether a
    /// node's seqs are all certified), and the quarters to read back, taken off the list (`failed`
    /// puts back those that could not be read or written).
    package mutating func due(now: Timestamp, isCertified: (String, ClosedRange<UInt64>) -> Bool)
        -> (ready: [(node: String, measure: QuarterMeasure)], readBack: [(node: String, start: Int64)]) {
        let ripe = now.millisecondsSince1970 - QuarterHours.milliseconds - Self.graceMs
        // A node gone quiet leaves its last quarter open: measured once its grace has passed.
        let quiet = runs.compactMap { node, run in
            run.measurable && !run.emitted && run.current.map { $0.start.millisecondsSince1970 <= ripe } == true ? node : nil
        }
        for node in quiet {
            emit(node, runs[node]!)
            runs[node]!.emitted = true
        }
        var ready: [(node: String, measure: QuarterMeasure)] = []
        var settled: [(node: String, start: Int64)] = []
        var written: [(node: String, start: Int64)] = []
        for (node, quarters) in tallied {
            for (start, entry) in quarters {
                if isCertified(node, entry.contributors) {
                    var measure = entry.measure
                    measure.certified = true
                    ready.append((node, measure))
                    settled.append((node, start))
                } else if !entry.written && start <= ripe {
                    ready.append((node, entry.measure))
                    written.append((node, start))
                }
            }
        }
        for (node, start) in written { tallied[node]![start]!.written = true }
        for (node, start) in settled {
            tallied[node]![start] = nil
            if tallied[node]!.isEmpty { tallied[node] = nil }
        }
        var due: [(node: String, start: Int64)] = []
        for (node, quarters) in readBack {
            let ended = quarters.filter { $0 <= ripe }
            guard !ended.isEmpty else { continue }
            due += ended.sorted().map { (node, $0) }
        }
        for (node, start) in due {
            readBack[node]!.remove(start)
            if readBack[node]!.isEmpty { readBack[node] = nil }
        }
        return (ready, due)
    }

    /// A quarter read back before all its readings were certified: read again when they are.
    mutating func readBackProvisional(node: String, start: Int64) {
        provisional[node, default: []].insert(start)
    }

    /// Quarters that could not be read back or written: read back at the next pass.
    package mutating func failed(_ quarters: some Sequence<(node: String, start: Int64)>) {
        for (node, start) in quarters { readBackQuarter(node, start) }
    }
}
