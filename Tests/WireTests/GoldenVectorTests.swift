import Foundation
import GridCore
import Ledger
import Sodium
import Testing
import Wire

/// The MQTT contract's messages as bytes (docs/mqtt.md): what the platform makes and the node
/// checks, and what the node sends and the platform reads. A change that alters a byte breaks
/// the other program in the field, so each vector is pinned here.
@Suite struct GoldenVectorTests {
    /// Ed25519 from the seed 00 01 02 … 1f: signatures are deterministic. The vector below was
    /// signed independently with PyNaCl (`SigningKey(bytes(range(32)))`, compact JSON of `sp`).
    static let platformKey = try! SigningKey(seed: Array(0..<32))

    static let setPoint = """
        {"sp":"{\\"id\\":\\"sp-0001\\",\\"node\\":\\"ln-0001\\",\\"issued\\":\\"2026-11-24T09:59:58.000Z\\",\\"from\\":\\"2026-11-24T10:15:00.000Z\\",\\"until\\":\\"2026-11-24T10:30:00.000Z\\",\\"mode\\":\\"max\\",\\"w\\":-1500,\\"order\\":\\"da-1.0\\",\\"orders\\":[\\"da-1.0\\"]}","sig":"TPs/WeDQGGH1T/r/k4GDTXMkR14Ve9h5QOSjjYyGTXW3nZv2YQCEqDzwJNeD15YC45DbQ1s4T3lt+kOU6AJnCA=="}
        """

    static func made() -> [UInt8] {
        SetPoint.message(id: "sp-0001", node: "ln-0001", issued: Timestamp(rfc3339: "2026-11-24T09:59:58.000Z")!,
                         from: Timestamp(rfc3339: "2026-11-24T10:15:00.000Z")!, until: Timestamp(rfc3339: "2026-11-24T10:30:00.000Z")!,
                         mode: .max, w: -1500, orders: ["da-1.0"], signedBy: platformKey)
    }

    @Test func theSignedSetPointIsByteForByteTheContract() {
        #expect(String(decoding: Self.made(), as: UTF8.self) == Self.setPoint)
    }

    @Test func theNodeAcceptsWhatThePlatformMakes() throws {
        let rules = SetPointRules(node: "ln-0001", trustedKeys: [Self.platformKey.publicKey], minW: -20_000, maxW: 20_000, maxAgeSeconds: 300)
        let checked = try rules.check(Array(Self.setPoint.utf8), now: Timestamp(rfc3339: "2026-11-24T10:00:00.000Z")!).get()
        #expect(checked.id == "sp-0001" && checked.mode == .max && checked.w == -1500)
        #expect(checked.from == Timestamp(rfc3339: "2026-11-24T10:15:00.000Z")!)
        // The signature covers `sp` as sent: one byte changed and it is refused.
        let forged = Self.setPoint.replacingOccurrences(of: "-1500", with: "-1501")
        #expect(throws: SetPointRejection.self) { try rules.check(Array(forged.utf8), now: Timestamp(rfc3339: "2026-11-24T10:00:00.000Z")!).get() }
    }

    @Test func aReleaseCarriesNoWatts() {
        let release = SetPoint.message(id: "sp-0002", node: "ln-0001", issued: Timestamp(millisecondsSince1970: 0),
                                       from: Timestamp(millisecondsSince1970: 900_000), until: Timestamp(millisecondsSince1970: 1_800_000),
                                       mode: .release, w: nil, orders: [], signedBy: Self.platformKey)
        let text = String(decoding: release, as: UTF8.self)
        #expect(text.hasPrefix(#"{"sp":"{\"id\":\"sp-0002\",\"node\":\"ln-0001\",\"issued\":\"1970-01-01T00:00:00.000Z\",\"from\":\"1970-01-01T00:15:00.000Z\",\"until\":\"1970-01-01T00:30:00.000Z\",\"mode\":\"release\",\"orders\":[]}","sig":""#))
    }

    @Test func theNodesAcknowledgementAsThePlatformReadsIt() {
        let ack = SetPointAcknowledgement(payload: Array(#"{"id":"sp-0001","status":"rejected","reason":"out of limits: w = 29400 W is outside [-20000, 20000]","seq":42,"t":"2026-11-24T10:00:00.120Z"}"#.utf8))
        #expect(ack == SetPointAcknowledgement(payload: Array(#"{"id":"sp-0001","status":"rejected","reason":"out of limits: w = 29400 W is outside [-20000, 20000]","seq":42}"#.utf8)))
        #expect(ack?.status == "rejected" && ack?.seq == 42)
        #expect(SetPointAcknowledgement(payload: Array(#"{"id":"sp-0001","status":"applied","seq":0}"#.utf8))?.seq == nil)
    }
}
