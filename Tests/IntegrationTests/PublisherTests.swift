import Foundation
import Ledger
import MQTT
import Synchronization
import Testing
import TestSupport

/// The platform side of the readings topic, as the coordinator will see it: a persistent
/// session (the broker queues for it while it is away) collecting every seq per message.
final class ReadingsCollector: Sendable {
    /// What arrived, shared with the client's callback.
    final class Received: Sendable {
        let messages = Mutex<[[UInt64]]>([])
        let statuses = Mutex<[String]>([])
    }

    let client: MQTTClient
    let received = Received()

    init(port: Int) throws {
        var options = MQTTOptions(host: "127.0.0.1", port: port, clientID: "platform-test")
        options.cleanSession = false
        let received = self.received
        client = try MQTTClient(options: options, subscriptions: ["lightnode/v1/+/readings", "lightnode/v1/+/status"],
                                onMessage: { message in
            guard let object = try? JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any] else { return }
            if message.topic.hasSuffix("/status") {
                received.statuses.withLock { $0.append(object["state"] as? String ?? "?") }
            } else if let entries = object["entries"] as? [[String: Any]] {
                received.messages.withLock { $0.append(entries.compactMap { ($0["seq"] as? NSNumber)?.uint64Value }) }
            }
        })
        try client.start()
        guard client.waitForConnection(timeoutMs: 30_000) else { throw ProcessError.timedOut("collector connect", seconds: 30) }
    }

    var seqs: Set<UInt64> { Set(received.messages.withLock { $0.flatMap { $0 } }) }
    var duplicates: Int { received.messages.withLock { $0.flatMap { $0 }.count } - seqs.count }

    /// Every message's entries are consecutive and ascending (the contract).
    var messagesAreConsecutive: Bool {
        received.messages.withLock { $0.allSatisfy { seqs in zip(seqs, seqs.dropFirst()).allSatisfy { $1 == $0 + 1 } } }
    }

    func hasAll(through head: UInt64) -> Bool {
        let seen = seqs
        return (1...max(head, 1)).allSatisfy(seen.contains)
    }
}

@Suite struct PublisherTests {
    static let map = Paths.packageRoot.appendingPathComponent("firmware-config/registers/eastron-sdm630.toml").path

    /// A broker, a simulated meter, the platform's collector, and an agent (not started) reading
    /// the meter every 250 ms and publishing to the broker.
    static func rig() throws -> (MosquittoBroker, MeterSimulatorProcess, ReadingsCollector, AgentProcess) {
        let broker = try MosquittoBroker()
        let simulator = try MeterSimulatorProcess(map: map)
        let collector = try ReadingsCollector(port: broker.port)
        let agent = try AgentProcess(meters: [.init(name: "main", link: .tcp(port: simulator.port!), map: map)],
                                     intervalMs: 250, mqttPort: broker.port)
        return (broker, simulator, collector, agent)
    }

    @Test func everyEntryArrivesAcrossABrokerOutage() throws {
        let outage = Double(ProcessInfo.processInfo.environment["LIGHTNODE_OUTAGE_SECONDS"] ?? "") ?? 60
        let (broker, simulator, collector, agent) = try Self.rig()
        defer { simulator.stop() }
        try agent.start()
        #expect(waitUntil { collector.seqs.count >= 10 })
        #expect(collector.received.statuses.withLock { $0.contains("online") })

        broker.stop()  // SIGTERM: the broker saves the platform's persistent session
        let headAtOutage = try Ledger(readingFile: agent.ledgerPath).head.seq
        Thread.sleep(forTimeInterval: outage)  // the outage itself, not a synchronisation
        try broker.start()

        let head = try Ledger(readingFile: agent.ledgerPath).head.seq
        #expect(head > headAtOutage + UInt64(outage * 3), "the agent kept reading during the outage")
        let complete = waitUntil(timeoutSeconds: 120) { collector.hasAll(through: head) }
        #expect(complete, "missing: \((1...head).filter { !collector.seqs.contains($0) }.prefix(20)); broker log:\n\(broker.log)")
        #expect(collector.messagesAreConsecutive)
        #expect(agent.stop().status == 0)
        print("broker outage of \(Int(outage)) s: \(head) entries delivered, \(collector.duplicates) duplicates")
        collector.client.stop()
    }

    /// A board may boot before the network or the broker: the agent reads meanwhile and
    /// publishes everything once the broker is up.
    @Test func startsBeforeTheBroker() throws {
        let (broker, simulator, collector, agent) = try Self.rig()
        defer { simulator.stop() }
        broker.stop()
        try agent.start()
        #expect(agent.waitFor { $0.count >= 8 }, "the agent reads while the broker is down")
        #expect(agent.process?.isRunning == true)
        try broker.start()
        let head = try Ledger(readingFile: agent.ledgerPath).head.seq
        #expect(waitUntil(timeoutSeconds: 120) { collector.hasAll(through: head) }, "agent log:\n\(agent.stop().log)")
        #expect(agent.stop().status == 0)
        collector.client.stop()
    }

    @Test func resumesFromItsCursorAfterKillNine() throws {
        let (broker, simulator, collector, agent) = try Self.rig()
        defer { simulator.stop() }
        for round in 1...3 {
            try agent.start()
            #expect(waitUntil { collector.received.statuses.withLock { $0.last == "online" } }, "round \(round)")
            let before = collector.seqs.count
            #expect(waitUntil { collector.seqs.count >= before + 8 }, "round \(round)")
            agent.process?.kill(SIGKILL)
            agent.process?.wait()
            // The broker publishes the will when the connection drops without a DISCONNECT.
            #expect(waitUntil { collector.received.statuses.withLock { $0.last == "offline" } }, "round \(round): no will")
        }
        let headBeforeRestart = try Ledger(readingFile: agent.ledgerPath).head.seq
        try agent.start()
        // Running (its start event and first readings are in) before anything is asked of it.
        #expect(agent.waitFor { ($0.last?.seq ?? 0) >= headBeforeRestart + 3 })
        let head = try Ledger(readingFile: agent.ledgerPath).head.seq
        #expect(waitUntil(timeoutSeconds: 120) { collector.hasAll(through: head) },
                "missing: \((1...head).filter { !collector.seqs.contains($0) }.prefix(20))")
        #expect(collector.messagesAreConsecutive)
        #expect(agent.stop().status == 0)
        #expect(try Ledger(readingFile: agent.ledgerPath).verify().fault == nil)
        print("3 kill -9 rounds: \(head) entries delivered, \(collector.duplicates) duplicates")
        collector.client.stop()
        withExtendedLifetime(broker) {}  // the broker (stopped on release) must outlive the test
    }
}
