import GridCore
import Ledger
@testable import SCD
import Sodium
import Testing

@Suite struct RawBlockTests {
    /// Bodies as the Light Node writes them for a three-phase meter every 4 s.
    static func bodies(_ count: Int, start: Int64 = 1_795_000_000_000) -> [[UInt8]] {
        var state: UInt64 = 42
        func noise() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 40) / Double(1 << 24) - 0.5
        }
        var energy = 1_234_567.0
        return (0..<count).map { index in
            let power = 1500 + 400 * noise()
            energy += power * 4 / 3600
            let time = Timestamp(millisecondsSince1970: start + Int64(index) * 4000).rfc3339
            func fixed(_ value: Double, _ places: Int) -> String {
                var scale = 1.0
                for _ in 0..<places { scale *= 10 }
                let rounded = (value * scale).rounded() / scale
                return "\(rounded)"
            }
            return Array("""
            {"t":"\(time)","k":"reading","m":"main","q":"good","v":{"energy_import":\(fixed(energy, 1)),"energy_export":100000,\
            "voltage_l1":\(fixed(230 + noise() * 2, 1)),"voltage_l2":\(fixed(230 + noise() * 2, 1)),"voltage_l3":\(fixed(230 + noise() * 2, 1)),\
            "current_l1":\(fixed(power / 690, 2)),"current_l2":\(fixed(power / 690, 2)),"current_l3":\(fixed(power / 690, 2)),\
            "active_power":\(fixed(power, 2)),"reactive_power":\(fixed(power * 0.2, 2)),"frequency":\(fixed(50 + noise() * 0.05, 2)),"power_factor":0.98}}
            """.utf8)
        }
    }

    @Test func realisticReadingsRoundTripByteExactWithinTheStorageTarget() {
        let bodies = Self.bodies(Int(blockSize))
        let data = BodyCodec.encode(bodies)
        #expect(data.first == BodyCodec.columnar)
        #expect(BodyCodec.decode(data, count: bodies.count) == bodies)
        // Per reading: compressed bodies plus the block's hashes, signature and keys (≈ 170 B / block).
        let perReading = Double(data.count + 170) / Double(bodies.count)
        let bodyBytes = bodies.map(\.count).reduce(0, +) / bodies.count
        print("raw block of \(bodies.count) readings (\(bodyBytes) B bodies): \(data.count) B data, \(perReading) B per reading")
        #expect(perReading <= 32, "\(perReading) bytes per reading")
    }

    @Test func oddLiteralsStayExact() {
        let bodies: [[UInt8]] = [
            #"{"t":"2026-11-24T10:00:00.000Z","k":"event","e":"x","d":"-0 and 1e5 \"quoted\" \u00e9"}"#,
            #"{"t":"2026-11-24T10:00:04Z","k":"reading","m":"main","q":"good","v":{"a":-0,"b":1e5,"c":1.50,"d":-0.05,"e":0,"f":00.5,"g":-0.0,"h":007,"i":10,"j":0.0}}"#,
            #"{"t":"2026-11-24T10:00:08.000Z","k":"reading","m":"main","q":"timeout"}"#,
            #"{ "t" : "2026-11-24T10:00:12.000Z" , "k":"reading", "v":{"x":123456789012345678901234}}"#,
        ].map { Array($0.utf8) }
        let data = BodyCodec.encode(bodies)
        // Columnar, so every literal was judged rightly: a wrong "canonical" would not decode
        // back to the same bytes, and the encoder would fall back to storing the bodies verbatim.
        #expect(data.first == BodyCodec.columnar)
        #expect(BodyCodec.decode(data, count: bodies.count) == bodies)
    }

    /// Random number literals (canonical or not), times and templates: every block decodes to
    /// exactly its bodies, whichever form the encoder chose.
    @Test func randomBodiesRoundTrip() {
        var state: UInt64 = 7
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 33) % bound
        }
        let literals = ["0", "-0", "7", "-12", "00.5", "0.50", "-0.05", "1e3", "12345678901234567890", "3.", ".5", "-",
                        "999999999999999999", "-999999999999999999", "1.000000000000000001", "42.0"]
        for _ in 0..<300 {
            let bodies: [[UInt8]] = (0..<(1 + next(64))).map { _ in
                var text = #"{"t":"\#(Timestamp(millisecondsSince1970: 1_795_000_000_000 + Int64(next(1 << 30))).rfc3339)","v":{"#
                for field in 0..<next(4) {
                    text += #""f\#(field)":\#(literals[next(literals.count)]),"#
                }
                text += next(3) == 0 ? #""s":"2026-11-24T10:00:00Z"}}"# : #""a":\#(next(100_000))}}"#
                return Array(text.utf8)
            }
            #expect(BodyCodec.decode(BodyCodec.encode(bodies), count: bodies.count) == bodies)
        }
    }

    @Test func aBlockReprovesItsEntriesAndRefusesDamage() throws {
        let key = SigningKey.generate()
        var prev = SHA256Digest.zero
        let entries = Self.bodies(10).enumerated().map { offset, body in
            let entry = LedgerEntry.make(seq: UInt64(offset + 1), body: body, prev: prev, signer: key)
            prev = entry.hash
            return entry
        }
        let times = (0..<10).map { Timestamp(millisecondsSince1970: Int64($0) * 4000) }
        let block = RawBlock(node: "ln-1", entries: entries, times: times)
        let restored = try block.entries()
        #expect(restored.map(\.hash) == entries.map(\.hash))
        #expect(restored.map(\.body) == entries.map(\.body))
        #expect(key.publicKey.verify(block.lastSignature, of: block.lastHash.bytes))
        var damaged = block
        damaged.lastHash = entries[8].hash
        #expect(throws: RawBlockError.brokenChain(node: "ln-1", firstSeq: 1)) { try damaged.entries() }
        var garbage = block
        garbage.data = [2, 0xFF, 0x00]
        #expect(throws: RawBlockError.undecodable(node: "ln-1", firstSeq: 1)) { try garbage.entries() }
    }
}

@Suite struct JSONValueTests {
    @Test func strictParsing() throws {
        let value = try JSONValue.parse(Array(#"{"a":[1,-2.5e3,"x\n\u00e9\ud83d\ude00"],"b":{"c":null,"d":true}}"#.utf8))
        #expect(value["a"]?.array?.count == 3)
        #expect(value["a"]?.array?[2].string == "x\né😀")
        #expect(value["b"]?["d"] == .bool(true))
        for bad in [#"{"a":1,"a":2}"#, #"{"a":01}"#, #"[1,]"#, #"{"a":"\ud800"}"#, #"{} x"#, "\"\u{01}\"", String(repeating: "[", count: 40)] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(bad.utf8)) }
        }
    }
}
