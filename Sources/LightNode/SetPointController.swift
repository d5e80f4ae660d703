import Dispatch
import GridCore
import Ledger
import Logging
import Sodium
import Synchronization
import Wire

/// Set-point messages as they arrive from libmosquitto's thread, waiting for the controller.
/// Bounded: a flood beyond `capacity` is dropped (and counted) instead of growing memory.
public final class SetPointInbox: Sendable {
    static let capacity = 64
    private let queue = Mutex<(messages: [[UInt8]], dropped: Int)>(([], 0))
    let wake = Doorbell()

    public init() {}

    /// Called on the MQTT thread: must not block.
    public func deliver(_ payload: [UInt8]) {
        queue.withLock { queue in
            if queue.messages.count < Self.capacity { queue.messages.append(payload) } else { queue.dropped += 1 }
        }
        wake.ring()
    }

    func take() -> (messages: [[UInt8]], dropped: Int) {
        queue.withLock { queue in
            defer { queue = ([], 0) }
            return queue
        }
    }
}

/// Applies signed set-points from the DSO platform to the BMS/HMS targets (docs/setpoints.md).
///
/// Every message is checked (`SetPointRules`, then replay and overlap against the ledger's
/// records). A valid set-point is recorded in the ledger first (kind `setpoint`: the exact `sp`
/// text and signature), then applied to every target at `from`; at its end the idle value is
/// restored and a `setpoint-report` records how far the site followed it. A newer set-point
/// (later `issued`) whose window overlaps an older one cuts the older one short at its own `from`.
/// Every outcome is acknowledged on `setpoints/ack`; refusals are also `event` entries.
/// Runs on its own thread; only that thread touches the records and the targets.
public final class SetPointController: @unchecked Sendable {
    /// How often a target that failed is tried again while its set-point is in force.
    static let retryMs: Int64 = 10_000
    /// Refusals recorded in the ledger (and acknowledged) at most this often on average, in bursts
    /// of `rejectionBurst`: whoever can publish junk must not be able to fill the ledger with it.
    static let rejectionBurst = 20
    static let rejectionRefillMs: Int64 = 10_000

    public typealias Acknowledge = @Sendable (_ payload: [UInt8]) -> Void

    private let rules: SetPointRules
    private let meter: String
    private let intervalMs: Int
    private let ledger: Ledger
    private let targets: [any SetPointTarget]
    private let inbox: SetPointInbox
    private let acknowledge: Acknowledge
    private let logger: Logger
    private let stopping = Atomic(false)
    private let finished = DispatchSemaphore(value: 0)

    // Controller thread only.
    private var open: [SetPointRecord] = []
    /// What the targets hold: nil before the first write, then idle (.some(nil)) or a set-point id.
    private var applied: String??
    /// Set-points whose failed write was reported (once each), and whether a failed idle write was.
    private var failureReported: Set<String> = []
    private var idleFailureReported = false
    /// After a failed write: when to try again, and for which set-point (nil: idle).
    private var retry: (at: Timestamp, id: String?)?
    private var supersededBy: [String: String] = [:]
    private var rejectionTokens = SetPointController.rejectionBurst
    private var rejectionRefilled = Timestamp.now()
    private var rejectionsSuppressed = 0

    init(config: AgentConfig.SetPoints, node: String, intervalMs: Int, ledger: Ledger, targets: [any SetPointTarget],
         inbox: SetPointInbox, logger: Logger, acknowledge: @escaping Acknowledge) {
        rules = SetPointRules(node: node, trustedKeys: config.trustedKeys, minW: config.minW, maxW: config.maxW,
                              maxAgeSeconds: config.maxAgeSeconds)
        meter = config.meter
        self.intervalMs = intervalMs
        self.ledger = ledger
        self.targets = targets
        self.inbox = inbox
        self.acknowledge = acknowledge
        self.logger = logger
    }

    /// Builds the configured targets; a Modbus target on a meter's line shares that line.
    public convenience init(config: AgentConfig, acquisition: Acquisition, ledger: Ledger, inbox: SetPointInbox,
                            logger: Logger, acknowledge: @escaping Acknowledge) throws {
        guard let setPoints = config.setPoints else { preconditionFailure("no [setpoints] configured") }
        var targets: [any SetPointTarget] = []
        for (index, target) in setPoints.targets.enumerated() {
            switch target {
            case .modbus(let modbus):
                targets.append(ModbusSetPointTarget(config: modbus, line: acquisition.line(to: modbus.endpoint)
                    ?? BusLine(endpoint: modbus.endpoint)))
            case .mqtt(let mqtt):
                targets.append(try MQTTSetPointTarget(config: mqtt, clientID: "\(config.node.id)-setpoints-\(index + 1)"))
            }
        }
        self.init(config: setPoints, node: config.node.id, intervalMs: config.intervalMs, ledger: ledger,
                  targets: targets, inbox: inbox, logger: logger, acknowledge: acknowledge)
    }

    public func start() throws(LedgerError) {
        open = try ledger.openSetPoints()
        DispatchQueue(label: "lightnode.setpoints").async { [self] in
            run()
            finished.signal()
        }
    }

    /// Restores the idle value (nobody follows the set-point up while the agent is down; one
    /// still in force is applied again at the next start) and stops the targets.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        inbox.wake.ring()
        finished.wait()
    }

    private func run() {
        reconcile()
        while !stopping.load(ordering: .relaxed) {
            _ = inbox.wake.wait(until: nextTransition())
            let (messages, dropped) = inbox.take()
            if dropped > 0 { logger.warning("set-point messages dropped: inbox full", metadata: ["dropped": "\(dropped)"]) }
            for message in messages { handle(message) }
            reconcile()
        }
        if applied != .some(nil) {
            let failures = applyToTargets(nil)
            record([.event(time: .now(), name: "setpoint-idle",
                           detail: failures.isEmpty ? "idle value restored at stop" : "idle value at stop failed: " + failures.joined(separator: "; "))],
                   changes: [])
        }
        for target in targets { target.stop() }
    }

    /// The next time something is due: a window begins or ends, or a failed target is retried.
    private func nextTransition() -> Timestamp {
        let now = Timestamp.now()
        var next = now.adding(milliseconds: 60_000)
        for record in open {
            if record.from > now { next = min(next, record.from) }
            if record.end > now { next = min(next, record.end) }
        }
        if let retry { next = min(next, retry.at) }
        return next
    }

    // MARK: Messages

    private func handle(_ payload: [UInt8]) {
        let now = Timestamp.now()
        let setPoint: SetPoint
        switch rules.check(payload, now: now) {
        case .failure(let rejection):
            reject(rejection, payload: payload)
            return
        case .success(let checked):
            setPoint = checked
        }
        do {
            if let known = try ledger.setPoint(id: setPoint.id) {
                reject(.init(id: setPoint.id, "replay", "id already received (ledger seq \(known.seq))"), payload: payload)
                return
            }
            let overlapping = open.filter { $0.from < setPoint.until && setPoint.from < $0.end }
            if let newer = overlapping.first(where: { $0.issued > setPoint.issued }) {
                reject(.init(id: setPoint.id, "superseded", "overlaps \(newer.id), issued later (\(newer.issued))"), payload: payload)
                return
            }
            // An older set-point gives way at the newer one's from (not in the past: it was in force till now).
            var changes: [SetPointChange] = [.insert(setPoint.record)]
            var cut: [(String, Timestamp)] = []
            for old in overlapping {
                let end = max(old.from, min(old.end, max(setPoint.from, now)))
                changes.append(.end(id: old.id, end))
                cut.append((old.id, end))
            }
            let body = EntryBody(time: now, kind: "setpoint") { body in
                body.string("id", setPoint.id)
                body.string("sp", setPoint.text)
                body.string("sig", setPoint.signature.base64)
                if !cut.isEmpty { body.string("supersedes", cut.map(\.0).joined(separator: ",")) }
            }
            let entry = try ledger.append(contentsOf: [body], changing: changes)[0]
            for (id, end) in cut {
                if let index = open.firstIndex(where: { $0.id == id }) { open[index].end = end }
                supersededBy[id] = setPoint.id
            }
            var record = setPoint.record
            record.seq = entry.seq
            open.append(record)
            open.sort { ($0.from, $0.issued) < ($1.from, $1.issued) }
            logger.notice("set-point accepted", metadata: [
                "id": "\(setPoint.id)", "mode": "\(setPoint.mode.rawValue)", "w": "\(setPoint.w)",
                "from": "\(setPoint.from)", "until": "\(setPoint.until)", "seq": "\(entry.seq)",
            ])
            ack(setPoint.id, "accepted", cut.isEmpty ? "recorded" : "recorded; supersedes \(cut.map(\.0).joined(separator: ", "))", seq: entry.seq)
        } catch {
            logger.error("set-point could not be recorded", metadata: ["id": "\(setPoint.id)", "error": "\(error)"])
            ack(setPoint.id, "failed", "not recorded: \(error)", seq: 0)
        }
    }

    private func reject(_ rejection: SetPointRejection, payload: [UInt8]) {
        let now = Timestamp.now()
        let refill = Int((now.millisecondsSince1970 - rejectionRefilled.millisecondsSince1970) / Self.rejectionRefillMs)
        if refill > 0 {
            rejectionTokens = min(Self.rejectionBurst, rejectionTokens + refill)
            rejectionRefilled = now
        }
        guard rejectionTokens > 0 else {
            rejectionsSuppressed += 1
            return
        }
        rejectionTokens -= 1
        logger.warning("set-point rejected", metadata: ["id": "\(rejection.id ?? "-")", "reason": "\(rejection.reason)"])
        let suppressed = rejectionsSuppressed
        rejectionsSuppressed = 0
        let body = EntryBody(time: now, kind: "event") { body in
            body.string("e", "setpoint-rejected")
            if let id = rejection.id { body.string("id", id) }
            body.string("d", rejection.reason)
            body.string("sha256", SHA256.hash(payload).hex)
            if suppressed > 0 { body.integer("suppressed", Int64(suppressed)) }
        }
        let seq = record([body], changes: [])
        ack(rejection.id ?? "", "rejected", rejection.reason, seq: seq)
    }

    // MARK: Schedule

    /// Ends what is over, then makes the targets hold what is in force now (or the idle value).
    private func reconcile() {
        let now = Timestamp.now()
        for record in open where record.end <= now {
            finish(record)
        }
        open.removeAll { $0.end <= now }

        let inForce = open.first { $0.isInForce(at: now) }
        guard applied != .some(inForce?.id) else { return }
        if let retry, retry.at > now, retry.id == inForce?.id { return }
        retry = nil
        // A release holds the idle value over its window.
        let failures = applyToTargets(inForce?.mode == .release ? nil : inForce)
        let previous = applied
        if failures.isEmpty { applied = .some(inForce?.id) } else { retry = (now.adding(milliseconds: Self.retryMs), inForce?.id) }

        guard let inForce else {
            if failures.isEmpty {
                idleFailureReported = false
                if case .some(.some) = previous {
                    record([.event(time: now, name: "setpoint-idle", detail: "idle value restored")], changes: [])
                }
            } else if !idleFailureReported {
                idleFailureReported = true
                record([.event(time: now, name: "setpoint-idle-failed", detail: failures.joined(separator: "; "))], changes: [])
            }
            return
        }
        if failures.isEmpty {
            let detail = previous == nil && inForce.state == .active ? "re-applied after restart" : "applied to \(targets.count) target(s)"
            let body = EntryBody.event(time: now, name: "setpoint-applied", id: inForce.id, detail: detail)
            let seq = record([body], changes: [.state(id: inForce.id, .active)])
            if let index = open.firstIndex(where: { $0.id == inForce.id }) { open[index].state = .active }
            logger.notice("set-point applied", metadata: ["id": "\(inForce.id)", "w": "\(inForce.w)"])
            ack(inForce.id, "applied", detail, seq: seq)
        } else if !failureReported.contains(inForce.id) {
            failureReported.insert(inForce.id)
            let reason = failures.joined(separator: "; ")
            logger.error("set-point could not be applied", metadata: ["id": "\(inForce.id)", "reason": "\(reason)"])
            let body = EntryBody.event(time: now, name: "setpoint-failed", id: inForce.id, detail: reason)
            ack(inForce.id, "failed", reason + " (retrying every \(Self.retryMs / 1000) s while in force)", seq: record([body], changes: []))
        }
    }

    /// A set-point's window is over (or it was superseded before it began): report and close it.
    private func finish(_ record: SetPointRecord) {
        var bodies: [EntryBody] = []
        var reason: String
        if record.from < record.end {
            do {
                let report = try SetPointReport.make(for: record, meter: meter, intervalMs: intervalMs, ledger: ledger)
                bodies.append(report.body)
                reason = "ended at \(record.end); \(report.samples) reading(s), deviation \(report.deviationW.map { "\($0) W" } ?? "unknown")"
            } catch {
                logger.error("set-point report failed", metadata: ["id": "\(record.id)", "error": "\(error)"])
                reason = "ended at \(record.end); no report: \(error)"
            }
        } else {
            reason = "cancelled before it began"
        }
        if let newer = supersededBy.removeValue(forKey: record.id) { reason += " (superseded by \(newer))" }
        if bodies.isEmpty {
            bodies.append(.event(time: .now(), name: "setpoint-ended", id: record.id, detail: reason))
        }
        let seq = self.record(bodies, changes: [.state(id: record.id, .done)])
        failureReported.remove(record.id)
        ack(record.id, "expired", reason, seq: seq)
    }

    private func applyToTargets(_ setPoint: SetPointRecord?) -> [String] {
        var failures: [String] = []
        for target in targets {
            do {
                try target.apply(setPoint)
            } catch {
                failures.append(error.reason)
            }
        }
        return failures
    }

    /// Appends entries (and record changes); the seq of the last one, or 0 if the ledger refused.
    @discardableResult
    private func record(_ bodies: [EntryBody], changes: [SetPointChange]) -> UInt64 {
        do {
            return try ledger.append(contentsOf: bodies, changing: changes).last?.seq ?? 0
        } catch {
            logger.error("set-point entry could not be recorded", metadata: ["error": "\(error)"])
            return 0
        }
    }

    private func ack(_ id: String, _ status: String, _ reason: String, seq: UInt64) {
        acknowledge(SetPointAcknowledgement.payload(id: id, status: status, reason: reason, seq: seq, at: .now()))
    }
}
