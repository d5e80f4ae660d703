import AsyncHTTPClient
import Foundation
import GridCore
import Logging
import MQTT
import NIOCore
import SCD
import ServiceLifecycle
import Sodium
import UFTPGateway

/// The market as a service: its own broker connection (set-points out, acknowledgements in),
/// the scheduler (gate closures, real-time rounds, overdue acknowledgements) and the webhook.
public struct MarketService: Service {
    public let marketplace: Marketplace
    package let client: MQTTClient
    let acknowledgements: AsyncStream<MQTTClient.Message>
    let endAcknowledgements: AsyncStream<MQTTClient.Message>.Continuation
    let realTimeIntervalSeconds: Int
    package let logger: Logger

    /// `clientID`: the market's own broker session; `readingIntervalMs`: the Light Nodes'
    /// acquisition interval (`[ingest] interval_ms`), the samples a quarter should hold.
    public init(config: MarketConfig, broker: BrokerConfig, clientID: String, topicPrefix prefix: String, readingIntervalMs: Int,
                store: any SCDStore, uftp: UFTPActions? = nil, logger: Logger) throws {
        let (key, created) = try SigningKey.loadOrCreate(file: config.setPointKeyFile)
        if created { logger.notice("created the set-point signing key \(config.setPointKeyFile)") }
        logger.notice("market set-points signed by \(key.publicKey.base64) (the Light Nodes' [setpoints] trusted_keys)")
        var options = try broker.options(clientID: clientID)
        options.cleanSession = false
        let (stream, continuation) = AsyncStream.makeStream(of: MQTTClient.Message.self)
        client = try MQTTClient(options: options, subscriptions: ["\(prefix)/+/setpoints/ack"], onMessage: { continuation.yield($0) })
        acknowledgements = stream
        endAcknowledgements = continuation
        let client = client
        let outlets = Marketplace.Outlets(
            publish: { topic, payload in _ = try client.publish(topic: topic, payload: payload) },
            post: { url, body, headers in try await Self.post(body, to: url, headers: headers) })
        marketplace = Marketplace(store: store, config: config, topicPrefix: prefix, setPointKey: key, outlets: outlets,
                                  readingIntervalMs: readingIntervalMs, uftp: uftp, logger: logger)
        realTimeIntervalSeconds = config.realTimeIntervalSeconds
        self.logger = logger
    }

    public func run() async throws {
        try client.start()
        let marketplace = marketplace
        let logger = logger
        let interval = realTimeIntervalSeconds
        let acknowledgements = acknowledgements
        let endAcknowledgements = endAcknowledgements
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await message in acknowledgements {
                        // `{prefix}/{node}/setpoints/ack`
                        let levels = message.topic.split(separator: "/")
                        guard levels.count >= 3 else { continue }
                        do {
                            try await marketplace.acknowledge(node: String(levels[levels.count - 3]), payload: message.payload, now: Timestamp.now())
                        } catch {
                            logger.error("market: recording an acknowledgement failed: \(error)")
                        }
                    }
                }
                group.addTask {
                    // Webhook deliveries in their own loop: a slow receiver does not hold up the scheduler.
                    while !Task.isShuttingDownGracefully {
                        try? await Task.sleep(for: .seconds(1))
                        await marketplace.deliverNotifications(now: Timestamp.now())
                    }
                }
                group.addTask {
                    var lastRealTime = Timestamp.now()
                    while !Task.isShuttingDownGracefully {
                        try? await Task.sleep(for: .seconds(1))
                        let now = Timestamp.now()
                        let due = now.millisecondsSince1970 - lastRealTime.millisecondsSince1970 >= Int64(interval) * 1000
                        if due { lastRealTime = now }
                        await marketplace.tick(now: now, realTimeDue: due)
                    }
                }
            }
        } onGracefulShutdown: {
            client.stop()
            endAcknowledgements.finish()
        }
    }

    /// POSTs a notification to the webhook: the HTTP status it answered.
    package static func post(_ payload: [UInt8], to url: String, headers: [(name: String, value: String)]) async throws -> Int {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        request.body = .bytes(ByteBuffer(bytes: payload))
        return Int(try await HTTPClient.shared.execute(request, timeout: .seconds(10)).status.code)
    }
}
