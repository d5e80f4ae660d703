import GridCore
import Ledger
import Sodium
import Testing
import Wire

/// A readings payload is checked field by field; each fault is refused with its reason and a
/// detail naming the place.
@Suite struct ReadingsMessageTests {
    static let key = try! SigningKey(seed: [UInt8](repeating: 7, count: 32))
    static let topic = "\(IngestTests.prefix)/ln-1/readings"

    static func parse(_ payload: [UInt8], topic: String = topic) throws(Rejection) -> ReadingsMessage {
        try ReadingsMessage(topic: topic, payload: payload, prefix: IngestTests.prefix, maxBytes: 1 << 20)
    }

    static func payload(_ entries: [String]) -> [UInt8] {
        Array(#"{"node":"ln-1","pod":"POD-1","entries":[\#(entries.joined(separator: ","))]}"#.utf8)
    }

    /// The JSON of entry `index` of a valid chain, with `member` replaced by `value` when given.
    static func entry(_ seq: UInt64, replacing member: String? = nil, with value: String = "") -> String {
        let valid = IngestTests.chain(Int(seq), key: key)[Int(seq) - 1]
        var members = [
            ("seq", "\(valid.seq)"), ("body", "\"x\""), ("prev", "\"\(Hex.encode(valid.prev.bytes))\""),
            ("hash", "\"\(Hex.encode(valid.hash.bytes))\""), ("sig", "\"\(Base64.encode(valid.signature.bytes))\""),
        ]
        if let member, let index = members.firstIndex(where: { $0.0 == member }) { members[index].1 = value }
        return "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    @Test func aValidMessageYieldsItsEntries() throws {
        let message = try Self.parse(IngestTests.payload(node: "ln-1", pod: "POD-1", IngestTests.chain(3, key: Self.key)[...]))
        #expect(message.node == "ln-1" && message.pod == "POD-1")
        #expect(message.entries == IngestTests.chain(3, key: Self.key))
    }

    @Test(arguments: [
        (Self.payload([Self.entry(1)]), "lightnode/v1/ln-2/readings", DropReason.wrongTopic, "published on"),
        (Array("not json".utf8), topic, .malformedJSON, "at byte 0"),
        (Array(#"{"node":"ln-1","entries":[]}"#.utf8), topic, .malformedJSON, "\"pod\""),
        (Array(#"{"node":"ln-1","node":"ln-2","pod":"P","entries":[]}"#.utf8), topic, .malformedJSON, "node"),
        (Self.payload([]), topic, .malformedEntry, "not 0"),
        (Self.payload(Array(repeating: "1", count: ReadingsMessage.maximumEntries + 1)), topic, .malformedEntry, "not 1001"),
        (Self.payload(["1"]), topic, .malformedEntry, "entries[0]: must be an object"),
        (Self.payload([Self.entry(1, replacing: "seq", with: "0")]), topic, .malformedEntry, "entries[0].seq"),
        (Self.payload([Self.entry(1), Self.entry(3)]), topic, .malformedEntry, "entries[1].seq 3 does not follow 1"),
        (Self.payload([Self.entry(1, replacing: "body", with: "{}")]), topic, .malformedEntry, "entries[0].body"),
        (Self.payload([Self.entry(1, replacing: "prev", with: "\"zz\"")]), topic, .malformedEntry, "entries[0].prev"),
        (Self.payload([Self.entry(1, replacing: "hash", with: "\"\(String(repeating: "g", count: 64))\"")]), topic,
         .malformedEntry, "entries[0].hash"),
        (Self.payload([Self.entry(1, replacing: "sig", with: "\"AAAA\"")]), topic, .malformedEntry, "entries[0].sig"),
    ] as [([UInt8], String, DropReason, String)])
    func faultsAreRefusedWithTheirReason(payload: [UInt8], topic: String, reason: DropReason, detail: String) {
        do {
            _ = try Self.parse(payload, topic: topic)
            Issue.record("accepted \(String(decoding: payload.prefix(200), as: UTF8.self))")
        } catch {
            #expect(error.reason == reason, "\(error.detail)")
            #expect(error.detail.contains(detail), "\(error.detail)")
        }
    }

    @Test func anOversizedPayloadIsRefusedBeforeParsing() {
        #expect(throws: Rejection(reason: .oversized, detail: "11 bytes, limit 10")) {
            try ReadingsMessage(topic: Self.topic, payload: Array("not json at".utf8), prefix: IngestTests.prefix, maxBytes: 10)
        }
    }

    /// Sequence numbers at and past the bounds, refused naming the field: beyond 2^62 a `seq + 1`
    /// or a signed 64-bit column would overflow somewhere downstream.
    @Test func extremeSeqsAreRefused() {
        for seq in ["0", "-1", "4611686018427387905", "9223372036854775807", "9223372036854775808", "18446744073709551615",
                    "18446744073709551616", "1e3", "1.0", "-0", "\"1\""] {
            #expect(throws: Rejection.self, "\(seq)") { try Self.parse(Self.payload([Self.entry(1, replacing: "seq", with: seq)])) }
        }
        // The bound itself is in (the hash does not match, which the chain checks later, not the parser).
        #expect((try? Self.parse(Self.payload([Self.entry(1, replacing: "seq", with: "4611686018427387904")])))?.entries[0].seq == 1 << 62)
    }

    /// A set-point acknowledgement as the market reads it: extremes are refused, not trusted.
    @Test(arguments: [
        (#"{"id":"a","status":"applied","seq":42}"#, 42 as UInt64?, true),
        (#"{"id":"a","status":"applied","seq":0,"reason":"not recorded"}"#, nil, true),
        (#"{"id":"a","status":"applied"}"#, nil, true),
        (#"{"id":"a","status":"applied","seq":4611686018427387905}"#, nil, false),
        (#"{"id":"a","status":"applied","seq":18446744073709551616}"#, nil, false),
        (#"{"id":"a","status":"applied","seq":-1}"#, nil, false),
        (#"{"id":"a","status":"applied","seq":1e308}"#, nil, false),
        (#"{"id":"a","status":"applied","reason":7}"#, nil, false),
        (#"{"id":1,"status":"applied"}"#, nil, false),
        (#"[]"#, nil, false),
    ] as [(String, UInt64?, Bool)])
    func acknowledgements(text: String, seq: UInt64?, read: Bool) {
        let ack = SetPointAcknowledgement(payload: Array(text.utf8))
        #expect((ack != nil) == read && ack?.seq == seq)
        #expect(SetPointAcknowledgement(payload: Array(repeating: UInt8(ascii: " "), count: 4097)) == nil)
    }

    /// A reading's values beyond any meter's are kept in the body but not measured.
    @Test func implausibleReadingValuesAreNotMeasured() throws {
        func power(_ value: String) throws -> Double? {
            try ReadingBody(parsing: Array(#"{"t":"2026-11-24T10:00:00Z","k":"reading","m":"main","q":"good","v":{"active_power":\#(value)}}"#.utf8)).activePower
        }
        #expect(try power("1534.2") == 1534.2)
        #expect(try power("-0") == 0)
        #expect(try power("1e9") == 1e9)
        for value in ["1e999", "-1e999", "1e308", "1000000000.5", "-9223372036854775808", "\"1\"", "null"] {
            #expect(try power(value) == nil, "\(value)")
        }
        #expect(throws: JSONParseError.self) { try power("NaN") }
    }
}
