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

    @Test func theNodesAcknowledgementIsByteForByteTheContract() {
        let payload = SetPointAcknowledgement.payload(id: "sp-0001", status: "applied", reason: "max -1500 W", seq: 42,
                                                      at: Timestamp(rfc3339: "2026-11-24T10:00:00.120Z")!)
        #expect(String(decoding: payload, as: UTF8.self)
            == #"{"id":"sp-0001","status":"applied","reason":"max -1500 W","seq":42,"t":"2026-11-24T10:00:00.120Z"}"#)
        #expect(SetPointAcknowledgement(payload: payload)?.seq == 42)
    }

    @Test func theNodesStatusIsByteForByteTheContract() {
        let payload = NodeStatus.payload(state: "offline", node: "ln-0001", at: Timestamp(millisecondsSince1970: 0))
        #expect(String(decoding: payload, as: UTF8.self) == #"{"state":"offline","node":"ln-0001","t":"1970-01-01T00:00:00.000Z"}"#)
    }

    /// A chain of `count` readings of `bodyBytes` bytes each, from seq 1.
    static func chain(_ count: Int, bodyBytes: Int = 80) -> [LedgerEntry] {
        var prev = SHA256Digest.zero
        return (1...count).map { seq in
            let head = #"{"t":"2026-11-24T10:00:00.000Z","k":"reading","pad":""#
            let body = Array((head + String(repeating: "x", count: max(0, bodyBytes - head.utf8.count - 2)) + #""}"#).utf8)
            let entry = LedgerEntry.make(seq: UInt64(seq), body: body, prev: prev, signer: platformKey)
            prev = entry.hash
            return entry
        }
    }

    @Test func theReadingsMessageAsWrittenIsReadBackEntryForEntry() throws {
        let entries = Self.chain(3)
        var writer = ReadingsMessage.Writer(node: "ln-0001", pod: "IT001E00000001")
        #expect(writer.finish() == nil, "a message holds at least one entry")
        let taken = entries.map { writer.append($0) }
        #expect(taken == [true, true, true])
        let payload = try #require(writer.finish())
        #expect(String(decoding: payload, as: UTF8.self).hasPrefix(#"{"node":"ln-0001","pod":"IT001E00000001","entries":[{"seq":1,"#))
        let read = try ReadingsMessage(topic: "ln/ln-0001/readings", payload: payload, prefix: "ln", maxBytes: 1 << 20)
        #expect(read.node == "ln-0001" && read.pod == "IT001E00000001" && read.entries == entries && writer.last == 3)
    }

    @Test func aReadingsMessageStopsAtItsBoundsAndTakesOneLargeEntryAlone() {
        var byCount = ReadingsMessage.Writer(node: "n", pod: "p")
        let many = Self.chain(ReadingsMessage.Writer.maximumSentEntries + 1)
        let taken = many.map { byCount.append($0) }.filter { $0 }.count
        #expect(taken == ReadingsMessage.Writer.maximumSentEntries)
        var bySize = ReadingsMessage.Writer(node: "n", pod: "p")
        let large = Self.chain(2, bodyBytes: ReadingsMessage.Writer.maximumSentBytes)
        let first = bySize.append(large[0]), second = bySize.append(large[1])
        #expect(first && !second && bySize.last == 1)
    }
}
