import GridCore
import Ledger
import Sodium

/// A sealed run of consecutive, certified entries of one node, stored as one row: the bodies
/// compressed, plus just what re-proves every entry to a stranger — the `prev` of the first entry
/// (every hash is recomputed from it), and the hash and node signature of the last one (which
/// certifies all the others through the chain). Layout: docs/scd.md "Raw storage".
public struct RawBlock: Sendable, Equatable {
    public var node: String
    public var firstSeq: UInt64
    public var count: Int
    public var firstTime: Timestamp
    public var lastTime: Timestamp
    public var firstPrev: SHA256Digest
    public var lastHash: SHA256Digest
    public var lastSignature: Signature
    /// Format byte, then raw DEFLATE of the encoded bodies.
    public var data: [UInt8]

    public init(node: String, firstSeq: UInt64, count: Int, firstTime: Timestamp, lastTime: Timestamp,
                firstPrev: SHA256Digest, lastHash: SHA256Digest, lastSignature: Signature, data: [UInt8]) {
        self.node = node
        self.firstSeq = firstSeq
        self.count = count
        self.firstTime = firstTime
        self.lastTime = lastTime
        self.firstPrev = firstPrev
        self.lastHash = lastHash
        self.lastSignature = lastSignature
        self.data = data
    }

    public var lastSeq: UInt64 { firstSeq + UInt64(count) - 1 }

    /// Seals consecutive entries (ascending, linked); the caller has checked the chain.
    public init(node: String, entries: [LedgerEntry], times: [Timestamp]) {
        precondition(!entries.isEmpty && entries.count == times.count)
        let bodies = entries.map(\.body)
        self.init(node: node, firstSeq: entries[0].seq, count: entries.count, firstTime: times.min()!,
                  lastTime: times.max()!, firstPrev: entries[0].prev, lastHash: entries[entries.count - 1].hash,
                  lastSignature: entries[entries.count - 1].signature, data: BodyCodec.encode(bodies))
    }

    /// The entries again, every hash recomputed from `firstPrev`; fails unless the chain ends at
    /// `lastHash` (a damaged or altered block is never served as certified data).
    public func entries() throws(RawBlockError) -> [LedgerEntry] {
        guard let bodies = BodyCodec.decode(data, count: count) else { throw .undecodable(node: node, firstSeq: firstSeq) }
        var hasher = EntryHasher()
        var prev = firstPrev
        var entries: [LedgerEntry] = []
        entries.reserveCapacity(count)
        for (offset, body) in bodies.enumerated() {
            let seq = firstSeq + UInt64(offset)
            let hash = hasher.hash(seq: seq, prev: prev, body: body)
            // Only the last signature is kept; the others are covered by it through the chain.
            let signature = offset == count - 1 ? lastSignature : Signature(unchecked: [UInt8](repeating: 0, count: 64))
            entries.append(LedgerEntry(seq: seq, body: body, prev: prev, hash: hash, signature: signature))
            prev = hash
        }
        guard prev == lastHash else { throw .brokenChain(node: node, firstSeq: firstSeq) }
        return entries
    }
}

public enum RawBlockError: Error, Sendable, Equatable, CustomStringConvertible {
    case undecodable(node: String, firstSeq: UInt64)
    case brokenChain(node: String, firstSeq: UInt64)

    public var description: String {
        switch self {
        case .undecodable(let node, let seq): "raw block \(node)@\(seq) cannot be decoded"
        case .brokenChain(let node, let seq): "raw block \(node)@\(seq) does not hash to its stored last hash"
        }
    }
}

/// Encodes a run of ledger bodies compactly and byte-exactly.
///
/// Format 2 (columnar): each body becomes a template — its bytes with every canonical number
/// replaced by 0x01 and every canonical RFC 3339 millisecond timestamp string by 0x02 — plus the
/// values. Templates repeat from one reading to the next, and values go in columns (per template,
/// per slot) as zigzag varint deltas, which DEFLATE then squeezes. A literal that would not
/// render back identically stays in the template, so decoding always gives the exact bytes.
/// Format 1 (verbatim): length-prefixed bodies, deflated; used when a body contains 0x01/0x02.
package enum BodyCodec {
    package static let verbatim: UInt8 = 1
    static let columnar: UInt8 = 2
    private static let numberMark: UInt8 = 0x01
    private static let timeMark: UInt8 = 0x02
    /// A decoded block never inflates beyond this (a block holds at most a few hundred bodies).
    static let maximumDecodedBytes = 16 << 20

    package static func encode(_ bodies: [[UInt8]]) -> [UInt8] {
        if !bodies.contains(where: { $0.contains(numberMark) || $0.contains(timeMark) }),
           let columnarBytes = columnarBytes(bodies) {
            return [columnar] + Deflate.compress(columnarBytes)
        }
        var plain: [UInt8] = []
        for body in bodies {
            appendVarint(UInt64(body.count), to: &plain)
            plain.append(contentsOf: body)
        }
        return [verbatim] + Deflate.compress(plain)
    }

    package static func decode(_ data: [UInt8], count: Int) -> [[UInt8]]? {
        guard let format = data.first else { return nil }
        guard let plain = data.withUnsafeBytes({ Deflate.decompress(UnsafeRawBufferPointer(rebasing: $0[1...]),
                                                                     limit: maximumDecodedBytes) }) else { return nil }
        var reader = ByteReader(bytes: plain)
        switch format {
        case verbatim:
            var bodies: [[UInt8]] = []
            for _ in 0..<count {
                guard let length = reader.varint(), let body = reader.take(Int(length)) else { return nil }
                bodies.append(body)
            }
            return reader.atEnd ? bodies : nil
        case columnar:
            return decodeColumnar(&reader, count: count)
        default:
            return nil
        }
    }

    // MARK: Columnar

    private struct Tokenized {
        var template: [UInt8] = []
        var numbers: [(mantissa: Int64, decimals: UInt8)] = []
        var times: [Int64] = []
    }

    /// The columnar form, or nil when a body would not render back byte for byte from its
    /// template and values (then the bodies are stored verbatim: storage is never lossy).
    private static func columnarBytes(_ bodies: [[UInt8]]) -> [UInt8]? {
        var templates: [[UInt8]] = []
        var rows: [(template: Int, tokens: Tokenized)] = []
        var scratch: [UInt8] = []
        for body in bodies {
            let tokens = tokenize(body, scratch: &scratch)
            scratch.removeAll(keepingCapacity: true)
            render(tokens.template, tokens, to: &scratch)
            guard scratch == body else { return nil }
            // A node's bodies share one or a few templates: a scan beats hashing them.
            let index = templates.firstIndex(of: tokens.template) ?? templates.count
            if index == templates.count { templates.append(tokens.template) }
            rows.append((index, tokens))
        }
        var out: [UInt8] = []
        appendVarint(UInt64(templates.count), to: &out)
        for template in templates {
            appendVarint(UInt64(template.count), to: &out)
            out.append(contentsOf: template)
        }
        for row in rows { appendVarint(UInt64(row.template), to: &out) }
        // Columns: per template, each number slot (decimals, then mantissa deltas), each time slot.
        for template in templates.indices {
            let members = rows.filter { $0.template == template }.map(\.tokens)
            guard let first = members.first else { continue }
            for slot in first.numbers.indices {
                for member in members { appendVarint(UInt64(member.numbers[slot].decimals), to: &out) }
                var previous: Int64 = 0
                for member in members {
                    appendVarint(zigzag(member.numbers[slot].mantissa &- previous), to: &out)
                    previous = member.numbers[slot].mantissa
                }
            }
            for slot in first.times.indices {
                var previous: Int64 = 0
                var previousDelta: Int64 = 0
                for member in members {
                    // Delta of deltas: a steady cadence encodes as zeros.
                    let delta = member.times[slot] &- previous
                    appendVarint(zigzag(delta &- previousDelta), to: &out)
                    previousDelta = delta
                    previous = member.times[slot]
                }
            }
        }
        return out
    }

    private static func decodeColumnar(_ reader: inout ByteReader, count: Int) -> [[UInt8]]? {
        guard let templateCount = reader.varint(), templateCount <= UInt64(count) else { return nil }
        var templates: [[UInt8]] = []
        for _ in 0..<templateCount {
            guard let length = reader.varint(), let template = reader.take(Int(length)) else { return nil }
            templates.append(template)
        }
        var rowTemplates: [Int] = []
        for _ in 0..<count {
            guard let index = reader.varint(), index < templateCount else { return nil }
            rowTemplates.append(Int(index))
        }
        var tokens = [Tokenized](repeating: Tokenized(), count: count)
        for template in templates.indices {
            let members = rowTemplates.indices.filter { rowTemplates[$0] == template }
            let numberSlots = templates[template].count { $0 == numberMark }
            let timeSlots = templates[template].count { $0 == timeMark }
            for _ in 0..<numberSlots {
                var decimals: [UInt8] = []
                for _ in members {
                    guard let value = reader.varint(), value <= 18 else { return nil }
                    decimals.append(UInt8(value))
                }
                var previous: Int64 = 0
                for (position, member) in members.enumerated() {
                    guard let delta = reader.varint() else { return nil }
                    previous = previous &+ unzigzag(delta)
                    tokens[member].numbers.append((previous, decimals[position]))
                }
            }
            for _ in 0..<timeSlots {
                var previous: Int64 = 0
                var previousDelta: Int64 = 0
                for member in members {
                    guard let value = reader.varint() else { return nil }
                    previousDelta = previousDelta &+ unzigzag(value)
                    previous = previous &+ previousDelta
                    tokens[member].times.append(previous)
                }
            }
        }
        guard reader.atEnd else { return nil }
        return rowTemplates.indices.map { row in
            let template = templates[rowTemplates[row]]
            var body: [UInt8] = []
            body.reserveCapacity(template.count + tokens[row].numbers.count * 8 + tokens[row].times.count * 24)
            render(template, tokens[row], to: &body)
            return body
        }
    }

    private static func render(_ template: [UInt8], _ tokens: Tokenized, to body: inout [UInt8]) {
        var number = 0
        var time = 0
        for byte in template {
            switch byte {
            case numberMark:
                appendNumber(tokens.numbers[number].mantissa, decimals: tokens.numbers[number].decimals, to: &body)
                number += 1
            case timeMark:
                Timestamp(millisecondsSince1970: tokens.times[time]).appendRFC3339(to: &body)
                time += 1
            default:
                body.append(byte)
            }
        }
    }

    /// Splits a body into template and values. Strings are copied as they are, except a whole
    /// string that is a canonical millisecond timestamp; numbers become values when they render
    /// back to the same text.
    private static func tokenize(_ body: [UInt8], scratch rendered: inout [UInt8]) -> Tokenized {
        var tokens = Tokenized()
        tokens.template.reserveCapacity(body.count)
        var index = 0
        while index < body.count {
            let byte = body[index]
            if byte == UInt8(ascii: "\"") {
                var end = index + 1
                while end < body.count, body[end] != UInt8(ascii: "\"") {
                    end += body[end] == UInt8(ascii: "\\") ? 2 : 1
                }
                end = min(end, body.count - 1)
                let content = body[(index + 1)..<end]
                if content.count == 24, let time = Timestamp(rfc3339UTF8: content) {
                    rendered.removeAll(keepingCapacity: true)
                    time.appendRFC3339(to: &rendered)
                    if rendered.elementsEqual(content) {
                        tokens.template.append(UInt8(ascii: "\""))
                        tokens.template.append(timeMark)
                        tokens.template.append(UInt8(ascii: "\""))
                        tokens.times.append(time.millisecondsSince1970)
                        index = end + 1
                        continue
                    }
                }
                tokens.template.append(contentsOf: body[index...end])
                index = end + 1
            } else if byte == UInt8(ascii: "-") || (byte >= 0x30 && byte <= 0x39) {
                var end = index + 1
                while end < body.count, isNumberByte(body[end]) { end += 1 }
                let literal = body[index..<end]
                if let value = canonicalDecimal(literal) {
                    tokens.template.append(numberMark)
                    tokens.numbers.append(value)
                } else {
                    tokens.template.append(contentsOf: literal)
                }
                index = end
            } else {
                tokens.template.append(byte)
                index += 1
            }
        }
        return tokens
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-"): true
        default: false
        }
    }

    /// `-?digits(.digits)?` with at most 18 digits, in the form `appendNumber` renders (no
    /// leading zero but a lone one, no `-0`); else nil.
    private static func canonicalDecimal(_ literal: ArraySlice<UInt8>) -> (mantissa: Int64, decimals: UInt8)? {
        var mantissa: Int64 = 0
        var digits = 0
        var decimals = -1
        var index = literal.startIndex
        let negative = literal.first == UInt8(ascii: "-")
        if negative { index += 1 }
        let integerStart = index
        while index < literal.endIndex {
            let byte = literal[index]
            index += 1
            if byte == UInt8(ascii: ".") {
                guard decimals < 0 else { return nil }
                decimals = 0
                continue
            }
            guard byte >= 0x30 && byte <= 0x39, digits < 18 else { return nil }
            mantissa = mantissa * 10 + Int64(byte - 0x30)
            digits += 1
            if decimals >= 0 { decimals += 1 }
        }
        let integerDigits = digits - max(decimals, 0)
        guard digits > 0, decimals != 0, integerDigits > 0, !(negative && mantissa == 0),
              integerDigits == 1 || literal[integerStart] != UInt8(ascii: "0")
        else { return nil }
        return (negative ? -mantissa : mantissa, UInt8(max(decimals, 0)))
    }

    private static func appendNumber(_ mantissa: Int64, decimals: UInt8, to out: inout [UInt8]) {
        if mantissa < 0 { out.append(UInt8(ascii: "-")) }
        // Digits right to left into a fixed buffer: at least one before the point.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { buffer in
            var rest = mantissa.magnitude
            var end = buffer.count
            var written = 0
            while rest > 0 || written <= Int(decimals) {
                if decimals > 0 && written == Int(decimals) {
                    end -= 1
                    buffer[end] = UInt8(ascii: ".")
                }
                end -= 1
                buffer[end] = UInt8(truncatingIfNeeded: 0x30 + rest % 10)
                rest /= 10
                written += 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[end...]))
        }
    }

    // MARK: Varints

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    private static func zigzag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }
    private static func unzigzag(_ value: UInt64) -> Int64 { Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }
}

private struct ByteReader {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < bytes.count, shift < 64 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }

    mutating func take(_ count: Int) -> [UInt8]? {
        guard count >= 0, count <= bytes.count - index else { return nil }
        defer { index += count }
        return Array(bytes[index..<(index + count)])
    }
}
