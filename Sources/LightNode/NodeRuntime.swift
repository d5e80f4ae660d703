import GridCore
import Ledger
import Logging
import MQTT
import Sodium

/// `lightnode run`, wired: the ledger, the acquisition loop on the calling thread, and — with
/// `[mqtt]` — the publisher and (with `[setpoints]`) the set-point controller on their own
/// threads, sharing one platform connection (one client id per node).
public enum NodeRuntime {
    public static func run(config: AgentConfig, logger: Logger, until stop: StopSignal) throws {
        let lock = try DataDirectoryLock(dataDirectory: config.node.dataDirectory)
        let key = try SigningKey(contentsOfFile: config.node.keyFile)
        let ledger = try Ledger(dataDirectory: config.node.dataDirectory, node: config.node.id,
                                pod: config.node.pod, signer: key)
        let acquisition = Acquisition(meters: config.meters)

        var client: MQTTClient?
        var publisher: Publisher?
        var controller: SetPointController?
        if let mqtt = config.mqtt {
            let inbox = SetPointInbox()
            let subscriptions = config.setPoints == nil ? [] : [mqtt.topic(node: config.node.id, "setpoints")]
            let platform = try MQTTClient(options: try Publisher.clientOptions(mqtt, node: config.node),
                                          subscriptions: subscriptions,
                                          onMessage: { inbox.deliver($0.payload) })
            client = platform
            publisher = Publisher(client: platform, mqtt: mqtt, node: config.node, retentionDays: config.retentionDays,
                                  ledger: ledger, logger: logger)
            if config.setPoints != nil {
                let ackTopic = mqtt.topic(node: config.node.id, "setpoints/ack")
                controller = try SetPointController(config: config, acquisition: acquisition, ledger: ledger, inbox: inbox,
                                                    logger: logger) { payload in
                    // Not awaited: libmosquitto queues it while offline; the ledger holds the outcome anyway.
                    do { _ = try platform.publish(topic: ackTopic, payload: payload) } catch {
                        logger.warning("set-point acknowledgement not sent", metadata: ["error": "\(error)"])
                    }
                }
            }
            try platform.start()
            publisher?.start()
            try controller?.start()
        }
        try Agent(config: config, ledger: ledger, acquisition: acquisition, logger: logger,
                  appended: { publisher?.entriesAppended() }).run(until: stop)
        controller?.stop()
        publisher?.stop()
        client?.stop()
        withExtendedLifetime(lock) {}
    }
}
