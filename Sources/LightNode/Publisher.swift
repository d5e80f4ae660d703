#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import GridCore
import Ledger
import Logging
import MQTT
import Sodium
import Synchronization
import Wire

/// The outbox: publishes ledger entries after the `published` cursor on
/// `{prefix}/{node}/readings` (QoS 1), in order, in batches bounded by entries and bytes, and
/// advances the cursor only once the broker acknowledged a batch. After a restart or an outage it
/// resumes exactly where the cursor stands: at-least-once, duplicates harmless ((node, seq) is
/// idempotent at the platform). A backlog drains at a bounded message rate, starting after a
/// random delay, so a fleet coming back online together does not storm the broker. Keeps the
/// retained `status` topic (`online` on every connect, `offline` as the will) and prunes
/// published entries past the retention period.
public final class Publisher: Sendable {
    static let acknowledgementTimeoutMs = 30_000
    static let pruneIntervalMs: Int64 = 3_600_000

    private let ledger: Ledger
    private let client: MQTTClient
    private let node: AgentConfig.Node
    private let settings: AgentConfig.MQTT
    private let retentionDays: Int
    private let readingsTopic: String
    private let statusTopic: String
    private let logger: Logger
    private let wake = DispatchSemaphore(value: 0)
    private let stopping = Atomic(false)
    private let finished = DispatchSemaphore(value: 0)

    /// The platform connection's options: client id = node id, a persistent session (set-points
    /// sent while the node is offline are queued by the broker), the `offline` will.
    public static func clientOptions(_ mqtt: AgentConfig.MQTT, node: AgentConfig.Node) throws(SodiumError) -> MQTTOptions {
        var options = try mqtt.broker.options(clientID: node.id)
        options.cleanSession = false
        options.will = .init(topic: mqtt.topic(node: node.id, "status"), payload: status("offline", node: node.id), retain: true)
        return options
    }

    /// `client` is started and stopped by the caller (it may carry the set-point subscription too).
    public init(client: MQTTClient, mqtt: AgentConfig.MQTT, node: AgentConfig.Node, retentionDays: Int,
                ledger: Ledger, logger: Logger) {
        self.ledger = ledger
        self.client = client
        self.node = node
        self.settings = mqtt
        self.retentionDays = retentionDays
        self.logger = logger
        readingsTopic = mqtt.topic(node: node.id, "readings")
        statusTopic = mqtt.topic(node: node.id, "status")
    }

    static func status(_ state: String, node: String) -> [UInt8] {
        NodeStatus.payload(state: state, node: node, at: .now())
    }

    public func start() {
        DispatchQueue(label: "lightnode.publisher").async { [self] in
            run()
            finished.signal()
        }
    }

    /// New entries were appended: publish them now rather than at the next poll.
    public func entriesAppended() {
        wake.signal()
    }

    /// Stops at a clean shutdown: first gives the entries appended last (the `stop` event) up to
    /// `flushMs` to be acknowledged, then marks the node `offline` (a clean disconnect does not
    /// trigger the will). Whatever is left is published at the next start.
    public func stop(flushMs: Int = 3000) {
        let deadline = MonotonicClock.milliseconds() + UInt64(flushMs)
        while client.isConnected && MonotonicClock.milliseconds() < deadline,
              let head = try? ledger.head.seq, let published = try? ledger.cursor(Ledger.publishedCursor), published < head {
            wake.signal()
            usleep(20_000)  // polling the cursor the publisher thread moves; bounded by flushMs
        }
        stopping.store(true, ordering: .relaxed)
        wake.signal()
        finished.wait()
        if client.isConnected {
            _ = try? client.publish(topic: statusTopic, payload: Self.status("offline", node: node.id), retain: true)
                .wait(timeoutMs: 2000)
        }
    }

    private func run() {
        var statusPublishedFor = 0
        var drainFrom = DispatchTime.now()
        var outbox = Window(pacing: MessagePacing(perSecond: settings.drainMessagesPerSecond))
        var nextPruneMs = MonotonicClock.milliseconds()
        while !stopping.load(ordering: .relaxed) {
            guard client.isConnected else {
                _ = client.waitForConnection(timeoutMs: 1000)
                continue
            }
            do {
                // The status is republished after every (re)connect.
                let generation = client.connectionCount
                if generation != statusPublishedFor,
                   try client.publish(topic: statusTopic, payload: Self.status("online", node: node.id), retain: true)
                    .wait(timeoutMs: Self.acknowledgementTimeoutMs) {
                    statusPublishedFor = generation
                    drainFrom = try drainStart()
                }
                if DispatchTime.now() < drainFrom {
                    _ = wake.wait(timeout: drainFrom)
                    continue
                }
                if try !publish(&outbox) {
                    _ = wake.wait(timeout: .now() + .seconds(1))
                }
                if MonotonicClock.milliseconds() >= nextPruneMs {
                    nextPruneMs = MonotonicClock.milliseconds() + UInt64(Self.pruneIntervalMs)
                    try prune()
                }
            } catch {
                logger.warning("publishing failed", metadata: ["error": "\(error)"])
                outbox.abandon()
                _ = wake.wait(timeout: .now() + .seconds(1))
            }
        }
        outbox.abandon()
    }

    /// When to start after a (re)connect: at once if at most one message is waiting, else after a
    /// random delay of up to `reconnect_jitter_s`.
    private func drainStart() throws -> DispatchTime {
        let head = try ledger.head.seq
        let backlog = head - min(try ledger.cursor(Ledger.publishedCursor), head)
        guard backlog > UInt64(ReadingsMessage.Writer.maximumSentEntries), settings.reconnectJitterSeconds > 0 else { return .now() }
        let delayMs = Int.random(in: 0...(settings.reconnectJitterSeconds * 1000))
        logger.info("backlog to publish; draining after a random delay", metadata: [
            "entries": "\(backlog)", "delay_ms": "\(delayMs)",
        ])
        return .now() + .milliseconds(delayMs)
    }

    private func prune() throws {
        let cutoff = Timestamp.now().adding(milliseconds: -Int64(retentionDays) * 86_400_000)
        let outcome = try ledger.prune(before: cutoff)
        if outcome.removed > 0 {
            logger.info("pruned published entries", metadata: ["removed": "\(outcome.removed)", "anchor": "\(outcome.anchor.seq)"])
        }
    }

    /// Messages published and not yet acknowledged, oldest first. Up to `depth` are in flight at
    /// once, so a backlog drains at the broker's pace rather than one round trip per message.
    struct Window {
        static let depth = 8
        var inFlight: [(last: UInt64, acknowledgement: MQTTClient.Acknowledgement)] = []
        var pacing: MessagePacing

        /// The seq after the newest message in flight, if any.
        var next: UInt64? { inFlight.last.map { $0.last + 1 } }

        /// Gives up on the messages in flight: they are published again from the cursor.
        mutating func abandon() {
            for message in inFlight { _ = message.acknowledgement.wait(timeoutMs: 0) }
            inFlight.removeAll()
        }
    }

    /// Fills the window from the cursor, then waits for the oldest acknowledgement and moves the
    /// cursor past every message acknowledged in order. False if there was nothing to publish.
    private func publish(_ window: inout Window) throws -> Bool {
        var paused = false
        while window.inFlight.count < Window.depth && !paused {
            let first = try window.next ?? max(try ledger.cursor(Ledger.publishedCursor) + 1, try ledger.firstKeptSeq)
            guard let (payload, last) = try Self.message(node: node, ledger: ledger, from: first) else { break }
            window.inFlight.append((last, try client.publish(topic: readingsTopic, payload: payload)))
            if let pause = window.pacing.pauseAfterMessage() {
                // New entries wake the publisher, but never ahead of the drain rate.
                let until = DispatchTime.now() + pause
                while DispatchTime.now() < until && !stopping.load(ordering: .relaxed) { _ = wake.wait(timeout: until) }
                paused = true
            }
        }
        guard let oldest = window.inFlight.first else { return false }
        guard oldest.acknowledgement.wait(timeoutMs: Self.acknowledgementTimeoutMs) else {
            logger.warning("no acknowledgement from the broker; will publish again", metadata: ["to": "\(oldest.last)"])
            window.abandon()
            return true
        }
        var acknowledged = 1
        while acknowledged < window.inFlight.count && window.inFlight[acknowledged].acknowledgement.poll() { acknowledged += 1 }
        let last = window.inFlight[acknowledged - 1].last
        window.inFlight.removeFirst(acknowledged)
        try ledger.advanceCursor(Ledger.publishedCursor, to: last)
        return true
    }

    /// The readings message for the consecutive entries from `first` (`ReadingsMessage.Writer`'s
    /// bounds), and its last seq; nil if there is no entry from `first` yet.
    static func message(node: AgentConfig.Node, ledger: Ledger, from first: UInt64) throws -> (payload: [UInt8], last: UInt64)? {
        var writer = ReadingsMessage.Writer(node: node.id, pod: node.pod)
        var full = false
        try ledger.forEachEntry(from: first, through: first + UInt64(ReadingsMessage.Writer.maximumSentEntries) - 1) { entry in
            if !full { full = !writer.append(entry) }
        }
        guard let payload = writer.finish(), let last = writer.last else { return nil }
        return (payload, last)
    }
}

/// Spaces messages to at most `perSecond` on average, allowing a burst of one second's worth.
struct MessagePacing {
    let intervalNs: UInt64
    let burstNs: UInt64
    private var earliestNs: UInt64 = 0

    init(perSecond: Int) {
        intervalNs = perSecond > 0 ? 1_000_000_000 / UInt64(perSecond) : 0
        burstNs = 1_000_000_000
    }

    /// Records a message sent now; how long to wait before the next one, if at all.
    mutating func pauseAfterMessage(nowNs: UInt64 = DispatchTime.now().uptimeNanoseconds) -> DispatchTimeInterval? {
        guard intervalNs > 0 else { return nil }
        // A virtual schedule: each message takes one slot; idle time builds up at most a burst.
        earliestNs = max(earliestNs, nowNs > burstNs ? nowNs - burstNs : 0) + intervalNs
        return earliestNs > nowNs ? .nanoseconds(Int(earliestNs - nowNs)) : nil
    }
}
