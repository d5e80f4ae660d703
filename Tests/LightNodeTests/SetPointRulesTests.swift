import ConfigFile
import Foundation
import GridCore
import Ledger
@testable import LightNode
import Sodium
import Testing
import TestSupport
import Wire

@Suite struct SetPointRulesTests {
    static let platform = SigningKey.generate()
    static let now = Timestamp(rfc3339: "2026-11-24T10:00:00.000Z")!
    static let rules = SetPointRules(node: "ln-0001", trustedKeys: [SigningKey.generate().publicKey, platform.publicKey],
                                     minW: -20_000, maxW: 20_000, maxAgeSeconds: 300)

    static func text(id: String = "6f1c2a9e-0d1b-4c3e-9a51-2b7f0c1d2e3f", node: String = "ln-0001",
                     issued: String = "2026-11-24T09:59:58.000Z", from: String = "2026-11-24T10:15:00.000Z",
                     until: String = "2026-11-24T10:30:00.000Z", mode: String = "\"max\"", w: String = "5000",
                     extra: String = "") -> String {
        #"{"id":"\#(id)","node":"\#(node)","issued":"\#(issued)","from":"\#(from)","until":"\#(until)","mode":\#(mode),"w":\#(w)\#(extra)}"#
    }

    static func payload(_ sp: String, signer: SigningKey = platform) -> [UInt8] {
        let object = ["sp": sp, "sig": signer.sign(Array(sp.utf8)).base64]
        return Array(try! JSONSerialization.data(withJSONObject: object))
    }

    static func reason(_ payload: [UInt8]) -> String? {
        if case .failure(let rejection) = rules.check(payload, now: now) { return rejection.reason }
        return nil
    }

    @Test func aValidSetPointKeepsItsExactTextAndSignature() throws {
        let sp = Self.text(extra: #","order":"FO-17""#)
        guard case .success(let setPoint) = Self.rules.check(Self.payload(sp), now: Self.now) else {
            Issue.record("rejected")
            return
        }
        #expect(setPoint.text == sp && setPoint.mode == .max && setPoint.w == 5000)
        #expect(setPoint.from == Timestamp(rfc3339: "2026-11-24T10:15:00.000Z"))
        #expect(Self.platform.publicKey.verify(setPoint.signature, of: Array(setPoint.text.utf8)))
    }

    @Test(arguments: [
        (text(w: "5001").replacingOccurrences(of: "5001", with: "5000"), "bad signature"),  // signed text ≠ sent text (below)
        (text(node: "ln-0002"), "wrong node"),
        (text(from: "2026-11-24T10:30:00.000Z"), "invalid window"),
        (text(from: "2026-11-24T09:00:00.000Z", until: "2026-11-24T09:59:59.999Z"), "expired"),
        (text(issued: "2026-11-24T09:54:59.999Z"), "stale"),
        (text(issued: "2026-11-24T10:05:00.001Z"), "stale"),
        (text(w: "20001"), "out of limits"),
        (text(w: "-20001"), "out of limits"),
        (text(w: "5000.5"), "malformed"),
        (text(w: "\"5000\""), "malformed"),
        (text(mode: "\"up\""), "malformed"),
        (text(from: "2026-11-24 10:15"), "malformed"),
        (text(id: ""), "malformed"),
        (text(id: "bad id with spaces"), "malformed"),
        (#"{"id":"x","node":"ln-0001"}"#, "malformed"),
        ("[1,2]", "malformed"),
    ])
    func everyCheckNamesItsReason(sp: String, code: String) {
        // The first case sends one text signed over another: a forgery.
        let payload = code == "bad signature"
            ? Array(try! JSONSerialization.data(withJSONObject: ["sp": sp, "sig": Self.platform.sign(Array(Self.text(w: "5001").utf8)).base64]))
            : Self.payload(sp)
        let reason = Self.reason(payload)
        #expect(reason?.hasPrefix(code + ": ") == true, "\(reason ?? "accepted") for \(sp)")
    }

    /// DESIGN §5 v1.1: a release lifts the constraint over its window; it carries no watts.
    @Test func aReleaseHasNoWattsAndEveryOtherModeHas() throws {
        let release = Self.text(mode: "\"release\"").replacingOccurrences(of: #","w":5000"#, with: "")
        guard case .success(let setPoint) = Self.rules.check(Self.payload(release), now: Self.now) else {
            Issue.record("a release was rejected")
            return
        }
        #expect(setPoint.mode == .release && setPoint.text == release)
        #expect(Self.reason(Self.payload(Self.text(mode: "\"release\""))) == "malformed: sp.w must be absent from a release")
        let capWithoutWatts = Self.text().replacingOccurrences(of: #","w":5000"#, with: "")
        #expect(Self.reason(Self.payload(capWithoutWatts)) == "malformed: sp.w is missing")
    }

    @Test func envelopeProblemsAreRejectedBeforeAnythingIsTrusted() {
        #expect(Self.reason(Self.payload(Self.text(), signer: .generate()))?.hasPrefix("bad signature: ") == true)
        #expect(Self.reason(Array("not json".utf8))?.hasPrefix("malformed: ") == true)
        #expect(Self.reason(Array(#"{"sp":"{}"}"#.utf8)) == "malformed: message.sig is missing")
        #expect(Self.reason(Array(#"{"sp":"{}","sig":"AAAA"}"#.utf8))?.hasPrefix("malformed: sig") == true)
        #expect(Self.reason(Array(repeating: 0x20, count: SetPointRules.maximumPayloadBytes + 1))?.hasPrefix("oversized: ") == true)
    }
}

@Suite struct SetPointReportTests {
    static func record(_ mode: SetPointMode, w: Int64) -> SetPointRecord {
        SetPointRecord(id: "a", issued: Timestamp(millisecondsSince1970: 0), from: Timestamp(millisecondsSince1970: 0),
                       until: Timestamp(millisecondsSince1970: 16_000), mode: mode, w: w)
    }

    @Test func deviationFollowsTheMode() {
        let powers = [1000.0, 3000, 2000, 2000]  // 4 readings at 4 s cover the 16 s window
        let target = SetPointReport(record: Self.record(.target, w: 2500), meter: "main", samples: powers, intervalMs: 4000)
        #expect(target.meanW == 2000 && target.deviationW == -500 && target.coverage == 1)
        #expect(abs(target.energyWh! - 2000 * 16 / 3600) < 0.001)
        let max = SetPointReport(record: Self.record(.max, w: 2500), meter: "main", samples: powers, intervalMs: 4000)
        #expect(max.deviationW == 125, "only the reading above the cap counts: 500 / 4")
        let min = SetPointReport(record: Self.record(.min, w: 2500), meter: "main", samples: powers, intervalMs: 4000)
        #expect(min.deviationW == -625, "(-1500 - 500 - 500) / 4: only readings below the floor count")
        let none = SetPointReport(record: Self.record(.max, w: 2500), meter: "main", samples: [], intervalMs: 4000)
        #expect(none.meanW == nil && none.coverage == 0)
        let body = String(decoding: target.body.bytes, as: UTF8.self)
        #expect(body.contains(#""k":"setpoint-report","id":"a","#) && body.contains(#""deviation_w":-500"#))
    }
}

@Suite struct SetPointConfigTests {
    let folder = TemporaryDirectory("setpoint-config")
    static let sdm630 = Paths.packageRoot.appendingPathComponent("firmware-config/registers/eastron-sdm630.toml").path

    func load(_ setpoints: String) throws(ConfigError) -> AgentConfig {
        let path = folder.file("lightnode-\(UUID().uuidString).toml")
        try! """
            [node]
            id = "ln-0001"
            pod = "IT001E00000001"
            data_dir = "data"
            key_file = "node.key"
            [[meters]]
            name = "main"
            transport = "tcp"
            host = "127.0.0.1"
            register_map = "\(Self.sdm630)"
            [mqtt]
            host = "127.0.0.1"
            \(setpoints)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return try AgentConfig.load(file: path)
    }

    @Test func readsTheContractKeys() throws {
        let key = SigningKey.generate().publicKey
        let config = try load("""
            [setpoints]
            trusted_keys = ["\(key.base64)", "\(key.cs1)"]
            min_w = -20000
            max_w = 20000
            [[setpoints.targets]]
            kind = "modbus"
            transport = "tcp"
            host = "127.0.0.1"
            port = 1502
            address = 100
            type = "int16"
            scale = 10.0
            idle_value = 0
            [[setpoints.targets]]
            kind = "mqtt"
            topic = "home/ems/setpoint"
            """)
        let setPoints = try #require(config.setPoints)
        #expect(setPoints.trustedKeys == [key, key] && setPoints.maxAgeSeconds == 300 && setPoints.meter == "main")
        guard case .modbus(let modbus) = setPoints.targets[0], case .mqtt(let mqtt) = setPoints.targets[1] else {
            Issue.record("targets")
            return
        }
        #expect(modbus.register.encode(5000) == [500], "register value = w / scale")
        #expect(modbus.endpoint == .tcp(host: "127.0.0.1", port: 1502) && mqtt.topic == "home/ems/setpoint" && mqtt.retain)
    }

    @Test func theBrokerUsernameMustBeTheNodeID() {
        #expect(throws: ConfigError.self) { try load("username = \"ln-0002\"") }
        #expect(throws: Never.self) { try load("username = \"ln-0001\"") }
    }

    @Test func namesEveryProblem() {
        #expect {
            try load("""
                [setpoints]
                trusted_keys = ["not-a-key"]
                min_w = 100
                max_w = 100
                meter = "pv"
                [[setpoints.targets]]
                kind = "modbus"
                transport = "tcp"
                host = "127.0.0.1"
                address = 100
                type = "int16"
                idle_value = 40000
                [[setpoints.targets]]
                kind = "zigbee"
                """)
        } throws: { error in
            let text = (error as? ConfigError)?.issues.map(\.description).joined(separator: "\n") ?? ""
            return text.contains("setpoints.trusted_keys") && text.contains("setpoints.max_w")
                && text.contains("setpoints.meter") && text.contains("setpoints.targets[0].idle_value")
                && text.contains("setpoints.targets[1].kind")
        }
    }
}

@Suite struct MessagePacingTests {
    @Test func spacesMessagesAfterABurstOfOneSecond() {
        var pacing = MessagePacing(perSecond: 10)
        let start: UInt64 = 5_000_000_000
        // Ten messages at once are the burst; the eleventh waits its 100 ms slot.
        let pauses = (0..<11).map { _ in pacing.pauseAfterMessage(nowNs: start) }
        #expect(pauses.prefix(9).allSatisfy { $0 == nil })
        #expect(pauses[10] == .nanoseconds(100_000_000))
        var unlimited = MessagePacing(perSecond: 0)
        #expect(unlimited.pauseAfterMessage(nowNs: start) == nil)
    }
}
