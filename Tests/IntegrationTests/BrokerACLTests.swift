import Foundation
import MQTT
import Synchronization
import Testing
import TestSupport

/// The broker and its password tool (Debian's `mosquitto` package): without them the suite is skipped.
let mosquittoToolsInstalled = FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/mosquitto_passwd")

/// One identity on the test broker: a single connection (client id = username unless told) that
/// subscribes, records everything it receives in arrival order, and publishes.
final class ACLPeer: Sendable {
    struct Received: Sendable, Equatable {
        let topic: String
        let payload: String
    }

    /// What arrived, shared with the client's callback (libmosquitto's thread).
    final class Inbox: Sendable {
        let messages = Mutex<[Received]>([])
    }

    let client: MQTTClient
    let inbox = Inbox()

    init(port: Int, username: String?, password: String?, clientID: String, subscriptions: [String] = []) throws {
        var options = MQTTOptions(host: "127.0.0.1", port: port, clientID: clientID)
        options.username = username
        options.password = password
        let inbox = self.inbox
        client = try MQTTClient(options: options, subscriptions: subscriptions, onMessage: { message in
            inbox.messages.withLock { $0.append(Received(topic: message.topic, payload: String(decoding: message.payload, as: UTF8.self))) }
        })
        try client.start()
        guard client.waitForConnection(timeoutMs: 30_000) else {
            throw ProcessError.timedOut("\(clientID) connect as \(username ?? "anonymous")", seconds: 30)
        }
    }

    deinit {
        client.stop()
    }

    var received: [Received] { inbox.messages.withLock { $0 } }
    var topics: Set<String> { Set(received.map(\.topic)) }

    func hasReceived(_ payload: String) -> Bool { received.contains { $0.payload == payload } }

    /// Waits (generously: arrival is the signal, not the deadline) for `payload` on `topic`.
    func waitFor(_ topic: String, _ payload: String) -> Bool {
        waitUntil(timeoutSeconds: 60) { received.contains(Received(topic: topic, payload: payload)) }
    }

    /// Publishes at QoS 1 and waits for the PUBACK. Mosquitto 2 acknowledges a publish that the
    /// ACL denies as well (and drops it): the PUBACK only says the broker has dealt with it.
    func publish(_ topic: String, _ payload: String, retain: Bool = false) {
        let acknowledged = try? client.publish(topic: topic, payload: Array(payload.utf8), retain: retain).wait(timeoutMs: 30_000)
        #expect(acknowledged == true, "no PUBACK for \(topic)")
    }
}

/// The project's broker ACL (firmware-config/mosquitto/lightnode.acl) on a real Mosquitto with a
/// password file: a node may write only its own readings, status and set-point acks and read only
/// its own set-points; the coordinator reads every node's traffic and writes set-points.
///
/// Mosquitto 2 never refuses a subscription and acknowledges a denied publish before dropping it,
/// so a denial is proven by absence: the denied message is sent first and an allowed marker
/// after it, such that the marker reaches the observer only after the denied message would have.
/// Either the marker comes from the same connection (the broker handles one connection's packets
/// in order and queues to each subscriber in order), or it is published only after the denied
/// message's PUBACK (Mosquitto queues a QoS 1 message to its subscribers before acknowledging
/// it). The broker's log ("Denied PUBLISH", debug level) is checked as well.
@Suite(.enabled(if: mosquittoToolsInstalled, "Mosquitto is not installed (/usr/sbin/mosquitto, /usr/bin/mosquitto_passwd)"))
struct BrokerACLTests {
    static let aclFile = Paths.packageRoot.appendingPathComponent("firmware-config/mosquitto/lightnode.acl").path
    static let passwords = ["ln-a": "secret-a", "ln-b": "secret-b", "coordinator": "secret-coordinator"]

    static func topic(_ node: String, _ leaf: String) -> String { "lightnode/v1/\(node)/\(leaf)" }

    /// A payload that cannot be confused with any other message of the test.
    static func tag(_ label: String) -> String { "\(label) \(UUID().uuidString)" }

    /// Runs `body` against a broker with the project's ACL, a password file for ln-a, ln-b and
    /// coordinator, no anonymous access, and debug logging (for the "Denied PUBLISH" lines).
    static func withBroker(_ body: (MosquittoBroker) throws -> Void) throws {
        let folder = TemporaryDirectory("mosquitto-passwd")
        let passwordFile = folder.file("lightnode.passwd")
        for (index, user) in passwords.keys.sorted().enumerated() {
            let outcome = try Processes.run("/usr/bin/mosquitto_passwd",
                                            ["-b"] + (index == 0 ? ["-c"] : []) + [passwordFile, user, passwords[user]!],
                                            timeoutSeconds: 60)
            try #require(outcome.status == 0, "mosquitto_passwd \(user): \(outcome.stderr)")
        }
        let broker = try MosquittoBroker(settings: """
            allow_anonymous false
            password_file \(passwordFile)
            acl_file \(aclFile)
            log_type all
            """)
        try withExtendedLifetime((broker, folder)) { try body(broker) }
    }

    static func connect(_ broker: MosquittoBroker, as user: String, clientID: String? = nil, subscriptions: [String] = []) throws -> ACLPeer {
        try ACLPeer(port: broker.port, username: user, password: passwords[user], clientID: clientID ?? user, subscriptions: subscriptions)
    }

    /// Whether the broker logged that it dropped `clientID`'s publish on `topic`.
    /// (Mosquitto writes the line before its PUBACK, so this is immediate once the publish was acknowledged.)
    static func logsDenial(_ broker: MosquittoBroker, from clientID: String, on topic: String) -> Bool {
        waitUntil(timeoutSeconds: 10) {
            broker.log.split(separator: "\n").contains { $0.contains("Denied PUBLISH from \(clientID) (") && $0.contains("'\(topic)'") }
        }
    }

    static let platformFilters = ["lightnode/v1/+/readings", "lightnode/v1/+/status", "lightnode/v1/+/setpoints/ack"]

    @Test func aNodeCannotPublishOnAnotherNodesTopics() throws {
        try Self.withBroker { broker in
            let coordinator = try Self.connect(broker, as: "coordinator", subscriptions: Self.platformFilters)
            // The ACL governs shared subscriptions by the messages' topics, like plain ones.
            let sharedMember = try Self.connect(broker, as: "coordinator", clientID: "coordinator-shared",
                                                subscriptions: Self.platformFilters.map { "$share/platform/\($0)" })
            let lnA = try Self.connect(broker, as: "ln-a")

            // ln-a's own topics reach the platform (also: every subscription above is active).
            // Its status is retained, as the contract has it, and so is one ack (used below).
            for leaf in ["readings", "status", "setpoints/ack"] {
                let payload = Self.tag("ln-a own \(leaf)")
                lnA.publish(Self.topic("ln-a", leaf), payload, retain: leaf != "readings")
                for observer in [coordinator, sharedMember] {
                    #expect(observer.waitFor(Self.topic("ln-a", leaf), payload), "ln-a's own \(leaf)")
                }
            }

            // ln-a impersonates ln-b (retained status too: it must not poison the retained store),
            // then sends a marker of its own on the same connection.
            let forged = ["readings", "status", "setpoints/ack"].map { (topic: Self.topic("ln-b", $0), payload: Self.tag("forged by ln-a")) }
            for message in forged {
                lnA.publish(message.topic, message.payload, retain: message.topic.hasSuffix("/status"))
            }
            let marker = Self.tag("ln-a marker")
            lnA.publish(Self.topic("ln-a", "readings"), marker)
            for observer in [coordinator, sharedMember] {
                #expect(observer.waitFor(Self.topic("ln-a", "readings"), marker))
                #expect(!observer.topics.contains { $0.contains("/ln-b/") }, "received: \(observer.received)")
                #expect(!forged.contains { observer.hasReceived($0.payload) })
            }
            for message in forged {
                #expect(Self.logsDenial(broker, from: "ln-a", on: message.topic))
            }

            // A platform client arriving later gets the retained status of ln-a and none for ln-b.
            // Its second subscription's retained ack is queued only after every retained message
            // of the first (the broker handles one connection's SUBSCRIBEs in order).
            let latecomer = try Self.connect(broker, as: "coordinator", clientID: "coordinator-late",
                                             subscriptions: ["lightnode/v1/+/status", Self.topic("ln-a", "setpoints/ack")])
            #expect(waitUntil(timeoutSeconds: 60) { latecomer.topics.contains(Self.topic("ln-a", "setpoints/ack")) })
            #expect(latecomer.topics == [Self.topic("ln-a", "status"), Self.topic("ln-a", "setpoints/ack")],
                    "received: \(latecomer.received)")
        }
    }

    @Test func aNodeReceivesOnlyItsOwnSetPoints() throws {
        try Self.withBroker { broker in
            let coordinator = try Self.connect(broker, as: "coordinator", subscriptions: Self.platformFilters)
            // Subscriptions are made in this order; the first can only ever carry ln-b's set-points,
            // so the later ones delivering ln-a's own set-point proves it is active too.
            let lnA = try Self.connect(broker, as: "ln-a",
                                       subscriptions: [Self.topic("ln-b", "setpoints"), "lightnode/v1/+/setpoints", "#"])
            let lnB = try Self.connect(broker, as: "ln-b", subscriptions: [Self.topic("ln-b", "setpoints")])
            for (node, peer) in [("ln-a", lnA), ("ln-b", lnB)] {
                let ready = Self.tag("ready \(node)")
                coordinator.publish(Self.topic(node, "setpoints"), ready)
                #expect(peer.waitFor(Self.topic(node, "setpoints"), ready), "\(node) is not subscribed")
            }

            // ln-b's own traffic, which ln-a's "#" must not see. Once the coordinator has it, the
            // broker has also queued it (or not) for ln-a, ahead of the set-points below.
            for leaf in ["readings", "status", "setpoints/ack"] {
                let payload = Self.tag("ln-b own \(leaf)")
                lnB.publish(Self.topic("ln-b", leaf), payload)
                #expect(coordinator.waitFor(Self.topic("ln-b", leaf), payload))
            }

            // Set-points for ln-b, then for ln-a, from one connection.
            let forB = Self.tag("set-point for ln-b"), forA = Self.tag("set-point for ln-a")
            coordinator.publish(Self.topic("ln-b", "setpoints"), forB)
            coordinator.publish(Self.topic("ln-a", "setpoints"), forA)
            #expect(lnB.waitFor(Self.topic("ln-b", "setpoints"), forB))
            #expect(lnA.waitFor(Self.topic("ln-a", "setpoints"), forA))
            #expect(!lnA.hasReceived(forB))
            #expect(lnA.topics == [Self.topic("ln-a", "setpoints")], "received: \(lnA.received)")
            #expect(lnB.topics == [Self.topic("ln-b", "setpoints")], "received: \(lnB.received)")
        }
    }

    @Test func aNodeCannotPublishSetPoints() throws {
        try Self.withBroker { broker in
            let coordinator = try Self.connect(broker, as: "coordinator")
            let lnA = try Self.connect(broker, as: "ln-a", subscriptions: [Self.topic("ln-a", "setpoints")])
            let lnB = try Self.connect(broker, as: "ln-b", subscriptions: [Self.topic("ln-b", "setpoints")])
            for (node, peer) in [("ln-a", lnA), ("ln-b", lnB)] {
                let ready = Self.tag("ready \(node)")
                coordinator.publish(Self.topic(node, "setpoints"), ready)
                #expect(peer.waitFor(Self.topic(node, "setpoints"), ready), "\(node) is not subscribed")
            }

            // ln-a forges set-points for ln-b and for itself; each is acknowledged (and dropped)
            // before the coordinator's markers are published.
            let forgedForB = Self.tag("forged for ln-b"), forgedForA = Self.tag("forged for ln-a")
            lnA.publish(Self.topic("ln-b", "setpoints"), forgedForB)
            lnA.publish(Self.topic("ln-a", "setpoints"), forgedForA)
            let markerB = Self.tag("marker ln-b"), markerA = Self.tag("marker ln-a")
            coordinator.publish(Self.topic("ln-b", "setpoints"), markerB)
            coordinator.publish(Self.topic("ln-a", "setpoints"), markerA)
            #expect(lnB.waitFor(Self.topic("ln-b", "setpoints"), markerB))
            #expect(lnA.waitFor(Self.topic("ln-a", "setpoints"), markerA))
            #expect(!lnB.hasReceived(forgedForB) && !lnB.hasReceived(forgedForA), "received: \(lnB.received)")
            #expect(!lnA.hasReceived(forgedForA) && !lnA.hasReceived(forgedForB), "received: \(lnA.received)")
            #expect(Self.logsDenial(broker, from: "ln-a", on: Self.topic("ln-b", "setpoints")))
            #expect(Self.logsDenial(broker, from: "ln-a", on: Self.topic("ln-a", "setpoints")))
        }
    }

    @Test func theCoordinatorCannotForgeNodeTraffic() throws {
        try Self.withBroker { broker in
            let coordinator = try Self.connect(broker, as: "coordinator", subscriptions: Self.platformFilters)
            let lnA = try Self.connect(broker, as: "ln-a")
            let ready = Self.tag("ready")
            lnA.publish(Self.topic("ln-a", "readings"), ready)
            #expect(coordinator.waitFor(Self.topic("ln-a", "readings"), ready))

            let forged = ["readings", "status", "setpoints/ack"].map { (topic: Self.topic("ln-a", $0), payload: Self.tag("forged by the coordinator")) }
            for message in forged { coordinator.publish(message.topic, message.payload) }
            // Published after the forgeries were acknowledged, so queued after them had they passed.
            let marker = Self.tag("ln-a marker")
            lnA.publish(Self.topic("ln-a", "readings"), marker)
            #expect(coordinator.waitFor(Self.topic("ln-a", "readings"), marker))
            #expect(!forged.contains { coordinator.hasReceived($0.payload) }, "received: \(coordinator.received)")
            for message in forged {
                #expect(Self.logsDenial(broker, from: "coordinator", on: message.topic))
            }
        }
    }

    @Test func connectionsWithoutValidCredentialsAreRefused() throws {
        try Self.withBroker { broker in
            func refusals() -> Int { broker.log.components(separatedBy: "disconnected, not authorised.").count - 1 }
            let attempts: [(label: String, username: String?, password: String?)] = [
                ("wrong password", "ln-a", "secret-b"),
                ("unknown user", "ln-c", "secret-a"),
                ("anonymous", nil, nil),
            ]
            for (index, attempt) in attempts.enumerated() {
                let before = refusals()
                var options = MQTTOptions(host: "127.0.0.1", port: broker.port, clientID: "intruder-\(index)")
                options.username = attempt.username
                options.password = attempt.password
                let client = try MQTTClient(options: options)
                try client.start()
                // The refusal is observed in the broker's log (CONNACK 5, "not authorised") as it
                // happens, rather than inferred from a connection that failed to appear in time.
                #expect(waitUntil(timeoutSeconds: 30) { refusals() > before }, "\(attempt.label): no refusal logged")
                #expect(!client.waitForConnection(timeoutMs: 2_000), "\(attempt.label): connected")
                #expect(client.connectionCount == 0, "\(attempt.label)")
                client.stop()
            }
            // The same broker admits valid credentials: the refusals were about the credentials.
            let lnA = try Self.connect(broker, as: "ln-a")
            #expect(lnA.client.isConnected)
        }
    }
}
