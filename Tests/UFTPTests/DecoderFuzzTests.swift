import Testing
import TestSupport
import UFTP

/// Randomized mutations of valid messages: the decoder either decodes or throws an `XMLError`;
/// it never crashes or hangs, and what it accepts encodes and decodes to the same message.
@Suite struct DecoderFuzzTests {

    static let fragments: [String] = [
        "<", ">", "&", "&amp;", "&#0;", "&#xD800;", "\"", "'", "=", "/>", "</ISP>", "<ISP Start=\"1\"/>", "<!DOCTYPE x>",
        "<![CDATA[x]]>", "<?pi x?>", "<!-- c -->", "xmlns=\"urn:x\"", " Version=\"3.1.0\"", "\u{0}", "\u{FFFF}", "é", "💡",
        String(repeating: "<a>", count: 50), String(repeating: "9", count: 40), "-", "Start=\"-1\"", "Duration=\"0\"",
    ]

    func mutate(_ input: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
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
        var random = SplitMix64(seed: 20261125)
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
        var random = SplitMix64(seed: 7)
        let wrapper = Array(#"<SignedMessage SenderDomain="dso.example.com" SenderRole="DSO" Body="GG9GQF1zkPa5OStHkRBcmsSRbYw27PeQG5BFAV0LhnrE95ye4evwWN2mkv0E0j8V6S6oAVZklrf4UalKfj5kBg=="/>"#.utf8)
        for _ in 0..<5_000 {
            let input = mutate(wrapper, &random)
            if let decoded = try? SignedMessage.decode(input) {
                #expect((try? SignedMessage.decode(decoded.encode())) == decoded)
            }
        }
    }
}
