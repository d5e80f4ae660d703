import Foundation
import GridCore
import Ledger
import MQTT
import Sodium
import Synchronization
import Testing
import TestSupport

/// The DSO platform's side of the set-point topics: signs and sends set-points, collects acks.
final class SetPointPlatform: Sendable {
    let client: MQTTClient
    let key: SigningKey
    let node: String
    /// Raw messages by topic suffix, parsed when read (dictionaries are not Sendable).
    final class Received: Sendable {
        let messages = Mutex<[(topic: String, payload: [UInt8])]>([])
    }

    private let received = Received()

    init(port: Int, key: SigningKey = .generate(), node: String = "ln-test") throws {
        self.key = key
        self.node = node
        var options = MQTTOptions(host: "127.0.0.1", port: port, clientID: "dso-platform")
        options.cleanSession = false
        let received = self.received
        client = try MQTTClient(options: options, subscriptions: [
            "lightnode/v1/\(node)/setpoints/ack", "lightnode/v1/\(node)/status", "home/ems/setpoint",
        ], onMessage: { message in
            received.messages.withLock { $0.append((message.topic, message.payload)) }
        })
        try client.start()
        guard client.waitForConnection(timeoutMs: 30_000) else { throw ProcessError.timedOut("platform connect", seconds: 30) }
    }

    private func objects(on suffix: String) -> [[String: Any]] {
        received.messages.withLock { $0.filter { $0.topic.hasSuffix(suffix) }.map(\.payload) }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]
        }
    }

    var acks: [[String: Any]] { objects(on: "/setpoints/ack") }
    var hemsMessages: [[String: Any]] { objects(on: "home/ems/setpoint") }

    var lastStatus: String? { objects(on: "/status").last?["state"] as? String }

    func waitForOnline() -> Bool {
        waitUntil { objects(on: "/status").contains { $0["state"] as? String == "online" } }
    }

    /// The set-point JSON text, fields in the contract's order.
    static func text(id: String, node: String, issued: Timestamp, from: Timestamp, until: Timestamp,
                     mode: String = "target", w: Int) -> String {
        #"{"id":"\#(id)","node":"\#(node)","issued":"\#(issued.rfc3339)","from":"\#(from.rfc3339)","#
            + #""until":"\#(until.rfc3339)","mode":"\#(mode)","w":\#(w)}"#
    }

    /// `{"sp":…,"sig":…}` with `sp` signed by `signer` (default: the trusted platform key).
    func envelope(_ sp: String, signer: SigningKey? = nil, signedText: String? = nil) -> [UInt8] {
        let signature = (signer ?? key).sign(Array((signedText ?? sp).utf8))
        let object: [String: String] = ["sp": sp, "sig": signature.base64]
        return Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    func send(_ payload: [UInt8]) throws {
        #expect(try client.publish(topic: "lightnode/v1/\(node)/setpoints", payload: payload).wait(timeoutMs: 30_000))
    }

    /// A valid set-point: signs, sends, returns its id.
    @discardableResult
    func send(from: Timestamp, until: Timestamp, w: Int, mode: String = "target", id: String = UUID().uuidString.lowercased()) throws -> String {
        try send(envelope(Self.text(id: id, node: node, issued: .now(), from: from, until: until, mode: mode, w: w)))
        return id
    }

    /// Waits for the ack of `id` with `status`; returns it.
    func ack(_ id: String, _ status: String, timeoutSeconds: Double = 60) -> [String: Any]? {
        var found: [String: Any]?
        _ = waitUntil(timeoutSeconds: timeoutSeconds) {
            found = acks.first { $0["id"] as? String == id && $0["status"] as? String == status }
            return found != nil
        }
        return found
    }
}

@Suite struct SetPointTests {
    static let meterMap = Paths.packageRoot.appendingPathComponent("firmware-config/registers/eastron-sdm630.toml").path

    /// `[setpoints]` trusting `keys` (±20 kW, 300 s), writing each set-point as an int32 to register 100 of a BMS on `bmsPort`.
    static func setPointsSection(trusting keys: [PublicKey], bmsPort: Int) -> String {
        """
        [setpoints]
        trusted_keys = [\(keys.map { "\"\($0.base64)\"" }.joined(separator: ", "))]
        min_w = -20000
        max_w = 20000
        max_age_s = 300

        [[setpoints.targets]]
        kind = "modbus"
        transport = "tcp"
        host = "127.0.0.1"
        port = \(bmsPort)
        unit_id = 1
        address = 100
        type = "int32"
        word_order = "big"
        scale = 1.0
        idle_value = 0
        timeout_ms = 300
        retries = 1
        """
    }

    /// Broker, meter (1500 W), BMS (holding 100–101), the platform, and an agent (not started)
    /// whose set-points go to the BMS's register 100 (int32) and to `home/ems/setpoint`.
    static func rig(bmsPort: Int? = nil) throws -> (MosquittoBroker, MeterSimulatorProcess, BMSSimulatorProcess, SetPointPlatform, AgentProcess) {
        let broker = try MosquittoBroker()
        let meter = try MeterSimulatorProcess(map: meterMap)
        let bms = try BMSSimulatorProcess(map: meterMap, holding: 100...101)
        let platform = try SetPointPlatform(port: broker.port)
        let setpoints = Self.setPointsSection(trusting: [SigningKey.generate().publicKey, platform.key.publicKey], bmsPort: bmsPort ?? bms.port)
            + """

            [[setpoints.targets]]
            kind = "mqtt"
            host = "127.0.0.1"
            port = \(broker.port)
            topic = "home/ems/setpoint"
            """
        let agent = try AgentProcess(meters: [.init(name: "main", link: .tcp(port: meter.port!), map: meterMap)],
                                     intervalMs: 250, mqttPort: broker.port, extraConfig: setpoints)
        return (broker, meter, bms, platform, agent)
    }

    @Test func aValidSetPointReachesTheBMSAtFromAndTheIdleValueReturnsAtUntil() throws {
        let (broker, meter, bms, platform, agent) = try Self.rig()
        defer { meter.stop(); bms.stop(); _ = broker }
        try agent.start()
        #expect(platform.waitForOnline())
        #expect(waitUntil { bms.int32Writes(at: 100) == [0] }, "idle value written at start")

        let from = Timestamp.now().adding(milliseconds: 2000)
        let until = from.adding(milliseconds: 2000)
        let id = try platform.send(from: from, until: until, w: 4200)
        let accepted = try #require(platform.ack(id, "accepted"))
        #expect((accepted["seq"] as? Int ?? 0) > 0)
        let applied = try #require(platform.ack(id, "applied"))
        #expect(Timestamp(rfc3339: applied["t"] as? String ?? "")! >= from, "applied at from, not before")
        #expect(bms.int32Writes(at: 100) == [0, 4200])
        let expired = try #require(platform.ack(id, "expired"))
        #expect(Timestamp(rfc3339: expired["t"] as? String ?? "")! >= until)
        #expect(waitUntil { bms.int32Writes(at: 100) == [0, 4200, 0] }, "idle value restored at until")
        #expect(waitUntil { platform.hemsMessages.contains { $0["id"] as? String == id && $0["w"] as? Int == 4200 } })
        #expect(waitUntil { platform.hemsMessages.last?["active"] as? Bool == false })
        agent.stop()
        // A clean stop publishes what is left (the stop event) and says offline itself.
        let summary = try Ledger(readingFile: agent.ledgerPath).summary()
        #expect(summary.published == summary.head.seq)
        #expect(waitUntil { platform.lastStatus == "offline" })

        let entries = try agent.entries()
        let recorded = try #require(entries.first { $0.kind == "setpoint" })
        #expect(recorded.body["id"] as? String == id)
        #expect(recorded.body["sp"] as? String == SetPointPlatform.text(id: id, node: "ln-test",
            issued: Timestamp(rfc3339: ((try JSONSerialization.jsonObject(with: Data((recorded.body["sp"] as! String).utf8)) as! [String: Any])["issued"] as! String))!,
            from: from, until: until, w: 4200), "the exact sp text is recorded")
        let appliedEvent = try #require(entries.first { $0.body["e"] as? String == "setpoint-applied" })
        #expect(recorded.seq < appliedEvent.seq, "recorded in the ledger before it was applied")
        let report = try #require(entries.first { $0.kind == "setpoint-report" })
        #expect(report.body["id"] as? String == id)
        #expect((report.body["n"] as? Int ?? 0) >= 4)
        #expect(report.body["mean_w"] as? Double == 1500)
        #expect(report.body["deviation_w"] as? Double == -2700)
        #expect(abs((report.body["energy_wh"] as? Double ?? 0) - 1500 * 2.0 / 3600) < 0.001)
        #expect(Ledger.Verification.self == Ledger.Verification.self)
        #expect(try Ledger(readingFile: agent.ledgerPath).verify().fault == nil)
    }

    @Test func invalidSetPointsAreRejectedWithTheReasonAndNeverReachTheBMS() throws {
        let (broker, meter, bms, platform, agent) = try Self.rig()
        defer { meter.stop(); bms.stop(); _ = broker }
        try agent.start()
        #expect(platform.waitForOnline())
        #expect(waitUntil { bms.int32Writes(at: 100) == [0] })

        let now = Timestamp.now()
        let from = now.adding(milliseconds: 1000), until = now.adding(milliseconds: 600_000)
        func text(_ id: String, node: String = "ln-test", issued: Timestamp = .now(), w: Int = 1000) -> String {
            SetPointPlatform.text(id: id, node: node, issued: issued, from: from, until: until, w: w)
        }
        let replayed = platform.envelope(text("sp-replayed", w: 1000).replacingOccurrences(of: "\(from.rfc3339)", with: now.adding(milliseconds: 3_600_000).rfc3339)
            .replacingOccurrences(of: "\(until.rfc3339)", with: now.adding(milliseconds: 3_700_000).rfc3339))
        let cases: [(id: String, payload: [UInt8], reason: String)] = [
            ("", platform.envelope(text("sp-forged", w: 9000), signedText: text("sp-forged", w: 1000)), "bad signature"),
            ("", platform.envelope(text("sp-unknown-key"), signer: .generate()), "bad signature"),
            ("sp-wrong-node", platform.envelope(text("sp-wrong-node", node: "ln-other")), "wrong node"),
            ("sp-stale", platform.envelope(text("sp-stale", issued: now.adding(milliseconds: -600_000))), "stale"),
            ("sp-limits", platform.envelope(text("sp-limits", w: 50_000)), "out of limits"),
            ("", platform.envelope("{\"id\":\"sp-malformed\",\"w\":"), "malformed"),
            ("", Array("this is not JSON".utf8), "malformed"),
            ("", Array(repeating: 0x20, count: 5000), "oversized"),
        ]
        for item in cases { try platform.send(item.payload) }
        // A replay: the same signed message twice (its window is an hour ahead: accepted, not applied).
        try platform.send(replayed)
        try platform.send(replayed)
        #expect(waitUntil { platform.acks.filter { $0["status"] as? String == "rejected" }.count == cases.count + 1 })

        let rejected = platform.acks.filter { $0["status"] as? String == "rejected" }
        for (item, ack) in zip(cases, rejected) {
            #expect(ack["id"] as? String == item.id)
            #expect((ack["reason"] as? String ?? "").hasPrefix(item.reason + ":"), "\(ack) for \(item.reason)")
            #expect((ack["seq"] as? Int ?? 0) > 0, "recorded as an event")
        }
        let lastReason = rejected.last?["reason"] as? String ?? ""
        #expect(lastReason.hasPrefix("replay:"))
        #expect(platform.acks.filter { $0["status"] as? String == "accepted" }.count == 1, "only the first of the replayed pair")

        // Nothing reached the BMS: the next write after the idle value is the next valid set-point's.
        let marker = try platform.send(from: .now().adding(milliseconds: 500), until: .now().adding(milliseconds: 30_000), w: 777)
        #expect(platform.ack(marker, "applied") != nil)
        #expect(bms.int32Writes(at: 100) == [0, 777])
        agent.stop()

        let events = try agent.entries().filter { $0.body["e"] as? String == "setpoint-rejected" }
        #expect(events.count == cases.count + 1)
        #expect(Set(events.compactMap { ($0.body["d"] as? String)?.split(separator: ":").first.map(String.init) })
            == ["bad signature", "wrong node", "stale", "out of limits", "malformed", "oversized", "replay"])
        #expect(events.allSatisfy { ($0.body["sha256"] as? String)?.count == 64 })
    }

    @Test func aNewerOverlappingSetPointCutsTheOlderOneShort() throws {
        let (broker, meter, bms, platform, agent) = try Self.rig()
        defer { meter.stop(); bms.stop(); _ = broker }
        try agent.start()
        #expect(platform.waitForOnline())
        let start = Timestamp.now()
        let older = try platform.send(from: start.adding(milliseconds: 500), until: start.adding(milliseconds: 600_000), w: 1000)
        #expect(platform.ack(older, "applied") != nil)
        let newerFrom = Timestamp.now().adding(milliseconds: 1000)
        let newer = try platform.send(from: newerFrom, until: newerFrom.adding(milliseconds: 2000), w: 2000)
        let accepted = try #require(platform.ack(newer, "accepted"))
        #expect(accepted["reason"] as? String == "recorded; supersedes \(older)")
        let ended = try #require(platform.ack(older, "expired"))
        #expect((ended["reason"] as? String ?? "").hasSuffix("(superseded by \(newer))"))
        #expect(platform.ack(newer, "expired") != nil)
        #expect(waitUntil { bms.int32Writes(at: 100) == [0, 1000, 2000, 0] }, "the older one does not come back")

        // One issued before the newer one, overlapping it, is refused whatever order they arrive in.
        let stale = SetPointPlatform.text(id: "sp-issued-earlier", node: "ln-test", issued: start, from: Timestamp.now().adding(milliseconds: 60_000),
                                          until: Timestamp.now().adding(milliseconds: 120_000), w: 500)
        let late = try platform.send(from: Timestamp.now().adding(milliseconds: 90_000), until: Timestamp.now().adding(milliseconds: 180_000), w: 600)
        #expect(platform.ack(late, "accepted") != nil)
        try platform.send(platform.envelope(stale))
        let refused = try #require(platform.ack("sp-issued-earlier", "rejected"))
        #expect((refused["reason"] as? String ?? "").hasPrefix("superseded: overlaps \(late)"))
        agent.stop()
        let reports = try agent.entries().filter { $0.kind == "setpoint-report" }
        #expect(reports.map { $0.body["id"] as? String } == [older, newer])
        #expect(reports.first?.body["until"] as? String == reports.last?.body["from"] as? String,
                "the older one's window ends where the newer one's begins")
    }

    /// DESIGN §5 v1.1: the platform withdraws a set-point in force with a newer `release` over its
    /// window: the node writes the idle value from the release's start, and nothing else after it.
    @Test func aReleaseLiftsASetPointInForceAndTheIdleValueIsWritten() throws {
        let (broker, meter, bms, platform, agent) = try Self.rig()
        defer { meter.stop(); bms.stop(); _ = broker }
        try agent.start()
        #expect(platform.waitForOnline())
        let start = Timestamp.now()
        let held = try platform.send(from: start.adding(milliseconds: 500), until: start.adding(milliseconds: 600_000), w: 1000, mode: "max")
        #expect(platform.ack(held, "applied") != nil)
        let from = Timestamp.now().adding(milliseconds: 1000)
        let release = SetPointPlatform.text(id: "sp-release", node: "ln-test", issued: .now(), from: from, until: from.adding(milliseconds: 600_000),
                                            mode: "release", w: 0).replacingOccurrences(of: #","w":0"#, with: "")
        try platform.send(platform.envelope(release))
        let accepted = try #require(platform.ack("sp-release", "accepted"), "\(platform.acks.filter { $0["id"] as? String == "sp-release" })")
        #expect(accepted["reason"] as? String == "recorded; supersedes \(held)")
        #expect(platform.ack("sp-release", "applied") != nil)
        #expect(waitUntil { bms.int32Writes(at: 100).prefix(3) == [0, 1000, 0] }, "\(bms.int32Writes(at: 100))")
        agent.stop()
        #expect(bms.int32Writes(at: 100).dropFirst(2).allSatisfy { $0 == 0 }, "nothing but idle after the release")
        let recorded = try agent.entries().filter { $0.kind == "setpoint" }.compactMap { $0.body["sp"] as? String }
        #expect(recorded.contains(release), "recorded verbatim, as signed")
    }

    @Test func anUnreachableBMSIsReportedAsFailedWhileReadingsContinue() throws {
        let deadPort = FreePort.allocate()
        let (broker, meter, bms, platform, agent) = try Self.rig(bmsPort: deadPort)
        defer { meter.stop(); bms.stop(); _ = broker }
        try agent.start()
        #expect(platform.waitForOnline())
        let id = try platform.send(from: .now().adding(milliseconds: 500), until: .now().adding(milliseconds: 60_000), w: 3000)
        #expect(platform.ack(id, "accepted") != nil)
        let failed = try #require(platform.ack(id, "failed"))
        #expect((failed["reason"] as? String ?? "").contains("modbus tcp://127.0.0.1:\(deadPort)"))
        let readingsAtFailure = try agent.readings(of: "main").count
        #expect(agent.waitFor { $0.filter { $0.kind == "reading" && $0.quality == "good" }.count >= readingsAtFailure + 8 },
                "readings go on")
        agent.stop()
        #expect(try agent.entries().contains { $0.body["e"] as? String == "setpoint-failed" && $0.body["id"] as? String == id })
    }

    @Test func aSetPointInForceIsAppliedAgainAfterAKill() throws {
        let (broker, meter, bms, platform, agent) = try Self.rig()
        defer { meter.stop(); bms.stop(); _ = broker }
        try agent.start()
        #expect(platform.waitForOnline())
        let id = try platform.send(from: .now().adding(milliseconds: 500), until: .now().adding(milliseconds: 120_000), w: -2500)
        #expect(platform.ack(id, "applied") != nil)
        #expect(bms.int32Writes(at: 100) == [0, -2500])

        agent.process?.kill(SIGKILL)
        agent.process?.wait()
        try agent.start()
        #expect(waitUntil { platform.acks.filter { $0["id"] as? String == id && $0["status"] as? String == "applied" }.count == 2 })
        #expect(platform.acks.last { $0["status"] as? String == "applied" }?["reason"] as? String == "re-applied after restart")
        #expect(bms.int32Writes(at: 100) == [0, -2500, -2500], "re-applied, with no idle write in between")
        let stopped = agent.stop()
        #expect(stopped.status == 0)
        #expect(waitUntil { bms.int32Writes(at: 100).last == 0 }, "a clean stop restores the idle value")
    }
}
