import GridCore
import Hummingbird
import Logging
import MarketOperations
import OperatorConsole
import PlatformAPI
import Prometheus
import ReadingsIngest
import SCD
import ServiceLifecycle
import Sodium
import UFTPGateway

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
        let (key, created) = try SigningKey.loadOrCreate(file: config.certification.signingKeyFile)
        if created { logger.notice("created the certification log key \(config.certification.signingKeyFile)") }
        let log = try CertificationLog(store: store, signer: key, origin: config.certification.origin)
        logger.notice("certification log \(log.origin), verifier key \(log.verifier.text)")
        let readiness = Readiness()
        let ingest = IngestService(settings: config.ingest, subscription: config.mqtt,
                                   checkpointIntervalSeconds: config.certification.checkpointIntervalSeconds,
                                   retentionDays: config.retentionDays, store: store, log: log, metrics: metrics, readiness: readiness, logger: logger)
        let responder = try config.uftp.map { try UFTPExchange.responder(config: $0, store: store, logger: logger) }
        // The market speaks UFTP as the aggregators' DSO; it takes UFTP entries through the responder.
        let market = try MarketService(config: config, store: store,
                                       uftp: responder.flatMap { $0.roles.contains(.dso) ? UFTPActions(responder: $0) : nil }, logger: logger)
        responder?.market.attach(market.marketplace)
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
