import Testing
import UFTP

/// Randomized mutations of valid messages: the decoder either decodes or throws an `XMLError`;
/// it never crashes or hangs, and what it accepts encodes and decodes to the same message.
@Suite struct DecoderFuzzTests {
    /// SplitMix64: the same mutations on every run.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    }

    static let fragments: [String] = [
        "<", ">", "&", "&amp;", "&#0;", "&#xD800;", "\"", "'", "=", "/>", "</ISP>", "<ISP Start=\"1\"/>", "<!DOCTYPE x>",
        "<![CDATA[x]]>", "<?pi x?>", "<!-- c -->", "xmlns=\"urn:x\"", " Version=\"3.1.0\"", "\u{0}", "\u{FFFF}", "é", "💡",
        String(repeating: "<a>", count: 50), String(repeating: "9", count: 40), "-", "Start=\"-1\"", "Duration=\"0\"",
    ]

    func mutate(_ input: [UInt8], _ random: inout Random) -> [UInt8] {
        var bytes = input
        for _ in 0...random.below(4) {
            guard !bytes.isEmpty else { break }
            let at = random.below(bytes.count)
            switch random.below(6) {
            case 0: bytes[at] ^= UInt8(1 << random.below(8))
            case 1: bytes.removeSubrange(at..<min(bytes.count, at + 1 + random.below(20)))
            case 2: bytes.insert(contentsOf: Array(Self.fragments[random.below(Self.fragments.count)].utf8), at: at)
            case 3: bytes = Array(bytes.prefix(at))
            case 4: bytes[at] = UInt8(truncatingIfNeeded: random.next())
            default:
                // Duplicate a stretch (repeated attributes and elements).
                let end = min(bytes.count, at + random.below(60))
                bytes.insert(contentsOf: bytes[at..<end], at: end)
            }
        }
        return bytes
    }

    @Test func mutatedMessagesAreDecodedOrRefusedNeverCrashing() throws {
        var random = Random(state: 20261125)
        let seeds = Examples.payloads.map { UFTPCodec.encode(UFTPMessage(metadata: Examples.metadata(), payload: $0)) }
        var accepted = 0, refused = 0
        for round in 0..<20_000 {
            let input = mutate(seeds[round % seeds.count], &random)
            do {
                let message = try UFTPCodec.decode(input)
                accepted += 1
                // Whatever is accepted is a proper message: it writes and reads back the same.
                #expect(try UFTPCodec.decode(UFTPCodec.encode(message)).hasSameContent(as: message))
            } catch {
                refused += 1
                #expect(!error.description.isEmpty)
            }
        }
        #expect(accepted + refused == 20_000 && refused > 10_000 && accepted > 100)
    }

    @Test func mutatedWrappersAreDecodedOrRefused() {
        var random = Random(state: 7)
        let wrapper = Array(#"<SignedMessage SenderDomain="dso.example.com" SenderRole="DSO" Body="GG9GQF1zkPa5OStHkRBcmsSRbYw27PeQG5BFAV0LhnrE95ye4evwWN2mkv0E0j8V6S6oAVZklrf4UalKfj5kBg=="/>"#.utf8)
        for _ in 0..<5_000 {
            let input = mutate(wrapper, &random)
            if let decoded = try? SignedMessage.decode(input) {
                #expect((try? SignedMessage.decode(decoded.encode())) == decoded)
            }
        }
    }
}
