import GridCore
import Ledger
import Logging
import Modbus

/// The acquisition loop of `lightnode run`: one reading per meter at every wall-clock multiple
/// of the interval, each cycle appended to the ledger as one durable batch.
///
/// Deadlines are absolute (k × interval on the wall clock), so the loop never drifts. A cycle
/// that cannot start in time (the board was suspended, a cycle overran) is recorded as missed
/// in a `missed-cycles` event and never caught up in a burst. Readings carry the deadline as
/// their time; how late each cycle actually started is kept in `lateness`.
public final class Agent {
    public let config: AgentConfig
    private let ledger: Ledger
    private let acquisition: Acquisition
    private let logger: Logger
    public private(set) var lateness = LatenessHistogram()
    public private(set) var cycles = 0
    public private(set) var missedCycles = 0
    private var lastFailure: [String?]

    /// Called after every append (the publisher wakes up).
    private let appended: () -> Void
    /// systemd (Type=notify): ready once reading, the watchdog petted by this loop.
    private let notifier: SystemdNotifier

    public init(config: AgentConfig, ledger: Ledger, acquisition: Acquisition? = nil, logger: Logger,
                notifier: SystemdNotifier = .fromEnvironment(), appended: @escaping () -> Void = {}) {
        self.appended = appended
        self.notifier = notifier
        self.config = config
        self.ledger = ledger
        self.acquisition = acquisition ?? Acquisition(meters: config.meters)
        self.logger = logger
        self.lastFailure = Array(repeating: nil, count: config.meters.count)
    }

    /// The first deadline strictly after `time`.
    public static func nextDeadline(after time: Timestamp, intervalMs: Int) -> Timestamp {
        time.nextMultiple(ofMilliseconds: Int64(intervalMs))
    }

    /// Runs until a stop signal; the current cycle's append completes before it returns.
    public func run(until stop: StopSignal) throws(LedgerError) {
        let interval = Int64(config.intervalMs)
        let budget = Acquisition.readBudgetMs(intervalMs: config.intervalMs)
        try ledger.append(.event(time: .now(), name: "start",
                                 detail: "\(config.meters.count) meter(s), interval \(config.intervalMs) ms"))
        let head = try ledger.head.seq
        logger.info("acquisition started", metadata: [
            "node": "\(config.node.id)", "meters": "\(config.meters.count)", "interval_ms": "\(config.intervalMs)",
            "ledger_head": "\(head)",
        ])
        notifier.ready(status: "reading \(config.meters.count) meter(s) every \(config.intervalMs) ms; ledger head \(head)")
        var deadline = Self.nextDeadline(after: .now(), intervalMs: config.intervalMs)
        var pending: [EntryBody] = []
        while wait(until: deadline, stop) {
            let late = Doorbell.nowNanoseconds() / 1000 - deadline.millisecondsSince1970 * 1000
            if late > interval * 500 {
                // Woke more than half an interval late: this deadline has passed; never read it late.
                deadline = recordMissed(from: deadline, into: &pending)
                continue
            }
            lateness.record(microseconds: late)
            let readings = acquisition.readAll(budgetMs: budget)
            pending += zip(config.meters, readings).enumerated().map { index, pair in
                body(for: pair.0, pair.1, at: deadline, index: index)
            }
            try ledger.append(contentsOf: pending)
            pending.removeAll()
            appended()
            cycles += 1
            notifier.watchdog()
            if cycles % 15 == 1 {
                notifier.status("cycle \(cycles): ledger head \((try? ledger.head.seq).map { "\($0)" } ?? "?"), \(missedCycles) missed cycle(s)")
            }
            deadline = deadline.adding(milliseconds: interval)
            if deadline <= .now() { deadline = recordMissed(from: deadline, into: &pending) }
        }
        notifier.stopping(status: "stopping on signal \(stop.signal)")
        acquisition.disconnect()
        pending.append(.event(time: .now(), name: "stop", detail: "signal \(stop.signal)"))
        try ledger.append(contentsOf: pending)
        logger.notice("acquisition stopped", metadata: [
            "signal": "\(stop.signal)", "cycles": "\(cycles)", "missed_cycles": "\(missedCycles)",
            "lateness_p50_ms": "\(lateness.quantileMilliseconds(0.5))",
            "lateness_p99_ms": "\(lateness.quantileMilliseconds(0.99))",
            "lateness_max_ms": "\(Double(lateness.maximumMicroseconds) / 1000)",
        ])
    }

    /// Waits for the deadline (false on a stop signal), petting the watchdog meanwhile when its
    /// interval is shorter than the wait.
    private func wait(until deadline: Timestamp, _ stop: StopSignal) -> Bool {
        if let interval = notifier.watchdogIntervalMs {
            while true {
                let pet = Timestamp.now().adding(milliseconds: Int64(interval))
                guard pet < deadline else { break }
                guard stop.wait(until: pet) else { return false }
                notifier.watchdog()
            }
        }
        return stop.wait(until: deadline)
    }

    /// Notes the deadlines from `first` up to now as missed; returns the next one still ahead.
    private func recordMissed(from first: Timestamp, into pending: inout [EntryBody]) -> Timestamp {
        let next = Self.nextDeadline(after: .now(), intervalMs: config.intervalMs)
        let count = Int((next.millisecondsSince1970 - first.millisecondsSince1970) / Int64(config.intervalMs))
        missedCycles += count
        logger.warning("missed cycles", metadata: ["count": "\(count)", "from": "\(first)"])
        pending.append(.event(time: .now(), name: "missed-cycles", detail: "\(count) from \(first.rfc3339)"))
        return next
    }

    private func body(for meter: AgentConfig.Meter, _ reading: MeterReading, at time: Timestamp, index: Int) -> EntryBody {
        switch reading {
        case .good(let values):
            if let failure = lastFailure[index] {
                logger.notice("meter recovered", metadata: ["meter": "\(meter.name)", "after": "\(failure)"])
                lastFailure[index] = nil
            }
            return .reading(time: time, meter: meter.name, values: values.map { ($0.quantity.rawValue, $0.value) })
        case .failed(let reason):
            if lastFailure[index] != reason {
                logger.warning("meter read failed", metadata: ["meter": "\(meter.name)", "reason": "\(reason)",
                                                               "endpoint": "\(meter.endpoint)"])
                lastFailure[index] = reason
            }
            return .failedReading(time: time, meter: meter.name, failure: reason)
        }
    }
}
