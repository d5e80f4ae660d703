import GridCore
import Logging
import MQTT
import SCD
import ServiceLifecycle
import Synchronization

/// The ingest side as a service: the broker subscription feeding the `Ingest` actor, and one
/// scheduler loop for commits, certification, measures, registry reloads and retention.
public struct IngestService: Service {
    package let settings: IngestSettings
    package let subscription: ReadingsSubscription
    package let checkpointIntervalSeconds: Int
    package let retentionDays: Int
    package let ingest: Ingest
    package let metrics: IngestMetrics
    package let store: any SCDStore
    package let log: CertificationLog
    package let readiness: Readiness
    package let logger: Logger

    /// `retentionDays`: how long raw entries are kept (`[scd] retention_days`).
    public init(settings: IngestSettings, subscription: ReadingsSubscription, checkpointIntervalSeconds: Int, retentionDays: Int,
                store: any SCDStore, log: CertificationLog, metrics: IngestMetrics, readiness: Readiness, logger: Logger) {
        self.settings = settings
        self.subscription = subscription
        self.checkpointIntervalSeconds = checkpointIntervalSeconds
        self.retentionDays = retentionDays
        self.readiness = readiness
        self.store = store
        self.log = log
        self.metrics = metrics
        self.logger = logger
        ingest = Ingest(store: store, settings: settings, topicPrefix: subscription.topicPrefix, metrics: metrics, logger: logger)
    }

    public func run() async throws {
        try await ingest.restore(now: .now())
        let queue = IngestQueue()
        var options = try subscription.broker.options(clientID: subscription.clientID)
        // The broker keeps the subscription and queues readings while this instance restarts.
        options.cleanSession = false
        let client = try MQTTClient(options: options, subscriptions: [subscription.readingsSubscription], onMessage: { message in
            queue.push(message)
        })
        try client.start()
        readiness.track(client)
        logger.notice("ingest subscribed to \(subscription.readingsSubscription) on \(subscription.broker.host):\(subscription.broker.port)")
        let ingest = ingest
        let metrics = metrics
        let logger = logger
        let settings = settings
        let retentionMs = Int64(retentionDays) * 86_400_000
        let store = store
        let log = log
        let checkpointMs = checkpointIntervalSeconds * 1000
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in queue.arrivals { await queue.drain(into: ingest) }
                    // What arrived after the last wake-up, before the client stopped.
                    while await queue.drain(into: ingest) {}
                }
                // Measures on their own: when a quarter ends, every node's measure is due at once
                // (100,000 reads), which must not hold up the commits behind it.
                group.addTask {
                    while !Task.isShuttingDownGracefully {
                        try? await Task.sleep(for: .seconds(5))
                        do {
                            try await ingest.updateMeasures(now: .now())
                        } catch {
                            logger.error("quarter-hour measures: \(error)")
                        }
                    }
                }
                group.addTask {
                    var ticks = 0
                    let tickMs = settings.commitIntervalMs
                    while !Task.isShuttingDownGracefully {
                        try? await Task.sleep(for: .milliseconds(tickMs))
                        ticks += 1
                        metrics.queueDepth.set(Int64(queue.depth))
                        let elapsedMs = ticks * tickMs
                        do {
                            try await ingest.commit()
                            if elapsedMs % 1000 < tickMs { try await ingest.certify(now: .now()) }
                            if elapsedMs % 10_000 < tickMs { try await ingest.reloadRegistry() }
                            if elapsedMs % checkpointMs < tickMs {
                                if let head = try await log.checkpointIfGrown(now: .now()) {
                                    logger.info("certification log checkpoint: \(head.size) leaves")
                                }
                            }
                            if elapsedMs % 3_600_000 < tickMs {
                                let expired = try await store.expireRaw(before: Timestamp.now().adding(milliseconds: -retentionMs))
                                if expired > 0 { logger.info("retention: dropped \(expired) raw blocks and entries") }
                            }
                        } catch {
                            logger.error("ingest scheduler: \(error)")
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            // Stop taking messages, let the consumer drain what arrived, then commit it all.
            readiness.track(nil)
            client.stop()
            queue.finish()
        }
        try await ingest.commit(persistingEveryChain: true)
        logger.notice("ingest stopped; everything received is committed")
    }
}

/// Whether the ingest's broker subscription is in place (`/readyz`): until the broker acknowledges
/// it, readings published are not queued for this instance.
public final class Readiness: Sendable {
    private let client = Mutex<MQTTClient?>(nil)

    public init() {}

    func track(_ client: MQTTClient?) { self.client.withLock { $0 = client } }

    public var isReady: Bool { client.withLock { $0?.isSubscribed ?? false } }
}

/// Messages handed over by libmosquitto's thread and not yet ingested. They are fed to the ingest
/// in batches: one hop to its actor a batch instead of one a message (at 25,000 messages a second
/// the hops were a visible share of the ingest's CPU).
package final class IngestQueue: Sendable {
    private let messages = Mutex<[MQTTClient.Message]>([])
    private let count = Atomic<Int>(0)
    /// One pending wake-up stands for any number of messages.
    package let arrivals: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// At most this many messages a batch: the actor's other work (commits) waits for a batch.
    static let batchLimit = 1_000

    package init() {
        (arrivals, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func push(_ message: MQTTClient.Message) {
        count.add(1, ordering: .relaxed)
        let wasEmpty = messages.withLock { queued in
            queued.append(message)
            return queued.count == 1
        }
        if wasEmpty { wake.yield() }
    }

    /// Feeds `ingest` everything queued, a batch at a time; false when nothing was.
    @discardableResult
    package func drain(into ingest: Ingest) async -> Bool {
        var taken: [MQTTClient.Message] = []
        messages.withLock { swap(&$0, &taken) }
        for start in stride(from: 0, to: taken.count, by: Self.batchLimit) {
            let batch = taken[start..<min(taken.count, start + Self.batchLimit)]
            await ingest.receive(batch, now: .now())
            count.subtract(batch.count, ordering: .relaxed)
        }
        return !taken.isEmpty
    }

    /// Messages received and not yet ingested.
    package var depth: Int { count.load(ordering: .relaxed) }

    package func finish() { wake.finish() }
}
