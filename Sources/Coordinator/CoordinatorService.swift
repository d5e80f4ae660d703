import GridCore
import Hummingbird
import Logging
import MQTT
import Prometheus
import SCD
import ServiceLifecycle
import Synchronization
import UFTPTransport

/// Opens the SCD named by the configuration: to serve (one process a SQLite file), or for the
/// administration subcommands, which may run beside the serving process.
public func openStore(_ config: CoordinatorConfig, logger: Logger, administration: Bool = false) async throws -> any SCDStore {
    switch config.store {
    case .sqlite(let path):
        return try SQLiteStore(path: path, purpose: administration ? .administration : .service)
    case .postgres(let url):
        // The MQTT client id names this instance's chain state when several share the database.
        return try await PostgresStore(url: url, instance: config.mqtt.clientID, logger: logger)
    }
}

/// The ingest side as a service: the broker subscription feeding the `Ingest` actor, and one
/// scheduler loop for commits, certification, measures, registry reloads and retention.
public struct IngestService: Service {
    let config: CoordinatorConfig
    let ingest: Ingest
    let metrics: IngestMetrics
    let store: any SCDStore
    let log: CertificationLog
    let readiness: Readiness
    let logger: Logger

    public init(config: CoordinatorConfig, store: any SCDStore, log: CertificationLog, metrics: IngestMetrics,
                readiness: Readiness, logger: Logger) {
        self.config = config
        self.readiness = readiness
        self.store = store
        self.log = log
        self.metrics = metrics
        self.logger = logger
        ingest = Ingest(store: store, settings: config.ingest, topicPrefix: config.mqtt.topicPrefix, metrics: metrics, logger: logger)
    }

    public func run() async throws {
        try await ingest.restore(now: .now())
        let queue = IngestQueue()
        var options = try config.mqtt.broker.options(clientID: config.mqtt.clientID)
        // The broker keeps the subscription and queues readings while this instance restarts.
        options.cleanSession = false
        let client = try MQTTClient(options: options, subscriptions: [config.mqtt.readingsSubscription], onMessage: { message in
            queue.push(message)
        })
        try client.start()
        readiness.track(client)
        logger.notice("ingest subscribed to \(config.mqtt.readingsSubscription) on \(config.mqtt.broker.host):\(config.mqtt.broker.port)")
        let ingest = ingest
        let metrics = metrics
        let logger = logger
        let settings = config.ingest
        let retentionMs = Int64(config.retentionDays) * 86_400_000
        let store = store
        let log = log
        let checkpointMs = config.certification.checkpointIntervalSeconds * 1000
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
final class IngestQueue: Sendable {
    private let messages = Mutex<[MQTTClient.Message]>([])
    private let count = Atomic<Int>(0)
    /// One pending wake-up stands for any number of messages.
    let arrivals: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// At most this many messages a batch: the actor's other work (commits) waits for a batch.
    static let batchLimit = 1_000

    init() {
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
    func drain(into ingest: Ingest) async -> Bool {
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
    var depth: Int { count.load(ordering: .relaxed) }

    func finish() { wake.finish() }
}

/// `coordinator serve`: the ingest service and the HTTP API under one service group, with
/// graceful shutdown on SIGTERM and SIGINT.
public enum CoordinatorServer {
    public static func run(config: CoordinatorConfig, logger: Logger) async throws {
        if let clock = config.clock {
            SimulatedClock.install(clock)
            logger.warning("the wall clock is simulated: \(clock.start) at \(clock.realStart) real, \(Int(clock.speed))x (log lines keep real time)")
        }
        let store = try await openStore(config, logger: logger)
        let registry = PrometheusCollectorRegistry()
        let metrics = IngestMetrics(registry: registry)
        let key = try CertificationLog.loadOrCreateKey(config.certification.signingKeyFile, logger: logger)
        let log = try CertificationLog(store: store, signer: key, origin: config.certification.origin)
        logger.notice("certification log \(log.origin), verifier key \(log.verifier.text)")
        let readiness = Readiness()
        let ingest = IngestService(config: config, store: store, log: log, metrics: metrics, readiness: readiness, logger: logger)
        var responder = try config.uftp.map { try UFTPExchange.responder(config: $0, store: store, logger: logger) }
        // The market speaks UFTP as the aggregators' DSO; it takes UFTP entries through the responder.
        let market = try MarketService(config: config, store: store,
                                       uftp: responder.flatMap { $0.roles.contains(.dso) ? UFTPActions(responder: $0) : nil }, logger: logger)
        responder?.market = market.marketplace
        let exchange = config.uftp.flatMap { participant in
            responder.map { UFTPExchange(config: participant, responder: $0, logger: logger) }
        }
        let api = API(store: store, log: log, metrics: registry, readiness: readiness, maxRequestBytes: config.maxRequestBytes,
                      uftpActions: exchange?.uftpActions, market: market.marketplace)
        let router = api.router()
        try Console(store: store, ingest: ingest.ingest, market: market.marketplace, log: log, sessions: ConsoleSessions(),
                    secureCookies: config.secureCookies, readingIntervalMs: Int64(config.ingest.intervalMs), logger: logger)
            .register(on: router)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: ingest), .init(service: market)]
        if let exchange {
            exchange.receiver.register(on: router)
            services.append(.init(service: exchange.sender))
        }
        let notifier = SystemdNotifier.fromEnvironment()
        if let interval = notifier.watchdogIntervalMs {
            services.append(.init(service: SystemdWatchdog(notifier: notifier, intervalMs: interval)))
        }
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(config.listenHost, port: config.listenPort), serverName: "coordinator"),
            onServerRunning: { channel in
                logger.notice("HTTP API listening on \(channel.localAddress?.description ?? "?")")
                notifier.ready(status: "HTTP API on \(channel.localAddress?.description ?? "?")")
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: services + [.init(service: application)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// Pets systemd's watchdog (`WatchdogSec` in coordinator.service) from the service group: a
/// coordinator whose tasks stall is restarted.
struct SystemdWatchdog: Service {
    let notifier: SystemdNotifier
    let intervalMs: Int

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            notifier.watchdog()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(intervalMs)) }
        }
        notifier.stopping(status: "stopping")
    }
}
