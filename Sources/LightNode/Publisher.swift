import Dispatch
import GridCore
import Ledger
import Logging
import MQTT
import Sodium
import Synchronization

/// The outbox: publishes ledger entries after the `published` cursor on
/// `{prefix}/{node}/readings` (QoS 1), in order, in batches bounded by entries and bytes, and
/// advances the cursor only once the broker acknowledged a batch. After a restart or an outage it
/// resumes exactly where the cursor stands: at-least-once, duplicates harmless ((node, seq) is
/// idempotent at the platform). Also keeps the retained `status` topic: `online` on every
/// connect, `offline` as the will.
public final class Publisher: Sendable {
    public static let maximumEntriesPerMessage = 200
    public static let maximumBytesPerMessage = 128 * 1024
    static let acknowledgementTimeoutMs = 30_000

    private let ledger: Ledger
    private let client: MQTTClient
    private let node: AgentConfig.Node
    private let readingsTopic: String
    private let statusTopic: String
    private let logger: Logger
    private let wake = DispatchSemaphore(value: 0)
    private let stopping = Atomic(false)
    private let finished = DispatchSemaphore(value: 0)

    public init(mqtt: AgentConfig.MQTT, node: AgentConfig.Node, ledger: Ledger, logger: Logger) throws {
        self.ledger = ledger
        self.node = node
        self.logger = logger
        readingsTopic = "\(mqtt.topicPrefix)/\(node.id)/readings"
        statusTopic = "\(mqtt.topicPrefix)/\(node.id)/status"
        var options = MQTTOptions(host: mqtt.host, port: mqtt.port, clientID: node.id)
        options.keepaliveSeconds = mqtt.keepaliveSeconds
        options.username = mqtt.username
        options.password = try mqtt.passwordFile.map { String(decoding: try SecretFile.readLine($0), as: UTF8.self) }
        options.tlsCAFile = mqtt.tlsCAFile
        options.tlsCertFile = mqtt.tlsCertFile
        options.tlsKeyFile = mqtt.tlsKeyFile
        options.will = .init(topic: statusTopic, payload: Self.status("offline", node: node.id), retain: true)
        client = try MQTTClient(options: options)
    }

    static func status(_ state: String, node: String) -> [UInt8] {
        var writer = JSONObjectWriter(capacity: 96)
        writer.string("state", state)
        writer.string("node", node)
        writer.timestamp("t", .now())
        return writer.finish()
    }

    public func start() throws {
        try client.start()
        DispatchQueue(label: "lightnode.publisher").async { [self] in
            run()
            finished.signal()
        }
    }

    /// New entries were appended: publish them now rather than at the next poll.
    public func entriesAppended() {
        wake.signal()
    }

    /// Stops after the message in flight (if any) is acknowledged or times out.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        wake.signal()
        finished.wait()
        client.stop()
    }

    private func run() {
        var statusPublishedFor = 0
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
                }
                if try !publishNextBatch() {
                    _ = wake.wait(timeout: .now() + .seconds(1))
                }
            } catch {
                logger.warning("publishing failed", metadata: ["error": "\(error)"])
                _ = wake.wait(timeout: .now() + .seconds(1))
            }
        }
    }

    /// Publishes the entries after the cursor; false if there was nothing to publish.
    private func publishNextBatch() throws -> Bool {
        let published = try ledger.cursor(Ledger.publishedCursor)
        let first = max(published + 1, try ledger.firstKeptSeq)
        var payload: [UInt8] = []
        payload.reserveCapacity(16 * 1024)
        payload.append(contentsOf: #"{"node":"#.utf8)
        JSONText.appendQuoted(node.id, to: &payload)
        payload.append(contentsOf: #","pod":"#.utf8)
        JSONText.appendQuoted(node.pod, to: &payload)
        payload.append(contentsOf: #","entries":["#.utf8)
        var last: UInt64?
        var count = 0
        try ledger.forEachEntry(from: first, through: first + UInt64(Self.maximumEntriesPerMessage) - 1) { entry in
            guard count == 0 || payload.count + entry.body.count + 300 <= Self.maximumBytesPerMessage else { return }
            if count > 0 { payload.append(0x2C) }
            LedgerExport.appendObject(entry, to: &payload)
            last = entry.seq
            count += 1
        }
        guard let last else { return false }
        payload.append(contentsOf: "]}".utf8)
        let acknowledgement = try client.publish(topic: readingsTopic, payload: payload)
        guard acknowledgement.wait(timeoutMs: Self.acknowledgementTimeoutMs) else {
            logger.warning("no acknowledgement from the broker; will publish again", metadata: ["from": "\(first)", "to": "\(last)"])
            return true
        }
        try ledger.advanceCursor(Ledger.publishedCursor, to: last)
        return true
    }
}
