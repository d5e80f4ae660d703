#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GridCore
import Ledger
import Sodium

/// A set-point from the DSO platform, as received on `{prefix}/{node}/setpoints` and checked:
/// `{"sp":"<exact JSON text>","sig":"<base64 Ed25519 signature of the UTF-8 bytes of sp>"}`.
public struct SetPoint: Sendable, Equatable {
    public let id: String
    public let node: String
    public let issued: Timestamp
    public let from: Timestamp
    public let until: Timestamp
    public let mode: SetPointMode
    /// Watts; positive = consumption/import, negative = production/export (0 for a release).
    public let w: Int64
    /// The exact `sp` text the signature covers, recorded verbatim in the ledger.
    public let text: String
    public let signature: Signature

    public var record: SetPointRecord {
        SetPointRecord(id: id, issued: issued, from: from, until: until, mode: mode, w: w)
    }
}

/// Why a set-point was refused: a short code first (`malformed`, `bad signature`, …), then the detail.
public struct SetPointRejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// The set-point's id when it could be read (it is echoed in the acknowledgement).
    public let id: String?
    public let reason: String

    public init(id: String?, _ code: String, _ detail: String) {
        self.id = id
        self.reason = "\(code): \(detail)"
    }

    public var description: String { reason }
}

/// The checks a set-point must pass on its own (docs/setpoints.md); replays and overlaps are
/// judged by the controller against the ledger's records.
public struct SetPointRules: Sendable {
    /// Larger payloads are refused before parsing: a set-point is ~250 bytes.
    public static let maximumPayloadBytes = 4096
    static let maximumIDLength = 64

    public let node: String
    public let trustedKeys: [PublicKey]
    public let minW: Int64
    public let maxW: Int64
    public let maxAgeMs: Int64

    public init(node: String, trustedKeys: [PublicKey], minW: Int64, maxW: Int64, maxAgeSeconds: Int) {
        self.node = node
        self.trustedKeys = trustedKeys
        self.minW = minW
        self.maxW = maxW
        self.maxAgeMs = Int64(maxAgeSeconds) * 1000
    }

    private struct Envelope: Decodable {
        let sp: String
        let sig: String
    }

    private struct Fields: Decodable {
        let id: String
        let node: String
        let issued: String
        let from: String
        let until: String
        let mode: String
        let w: Int64?
    }

    private struct IDOnly: Decodable {
        let id: String?
    }

    /// Checks a message in this order: size, envelope, signature (before anything in `sp` is
    /// trusted), fields, node, window, age, limits.
    public func check(_ payload: [UInt8], now: Timestamp) -> Result<SetPoint, SetPointRejection> {
        guard payload.count <= Self.maximumPayloadBytes else {
            return .failure(.init(id: nil, "oversized", "\(payload.count) bytes, more than \(Self.maximumPayloadBytes)"))
        }
        let decoder = JSONDecoder()
        let envelope: Envelope
        do {
            envelope = try decoder.decode(Envelope.self, from: Data(payload))
        } catch {
            return .failure(.init(id: nil, "malformed", Self.explain(error, in: "message")))
        }
        let signature: Signature
        do {
            signature = try Signature(base64: envelope.sig)
        } catch {
            return .failure(.init(id: nil, "malformed", "sig is not a base64 Ed25519 signature"))
        }
        let text = Array(envelope.sp.utf8)
        guard trustedKeys.contains(where: { $0.verify(signature, of: text) }) else {
            return .failure(.init(id: nil, "bad signature", "sp is not signed by any trusted key"))
        }
        let fields: Fields
        do {
            fields = try decoder.decode(Fields.self, from: Data(text))
        } catch {
            let id = (try? decoder.decode(IDOnly.self, from: Data(text)))?.id
            return .failure(.init(id: id.flatMap(Self.validID), "malformed", Self.explain(error, in: "sp")))
        }
        guard let id = Self.validID(fields.id) else {
            return .failure(.init(id: nil, "malformed", "sp.id must be 1–\(Self.maximumIDLength) characters of A–Z, a–z, 0–9, '-', '_', '.', ':'"))
        }
        func reject(_ code: String, _ detail: String) -> Result<SetPoint, SetPointRejection> {
            .failure(.init(id: id, code, detail))
        }
        var times: [Timestamp] = []
        for (name, value) in [("issued", fields.issued), ("from", fields.from), ("until", fields.until)] {
            guard let time = Timestamp(rfc3339: value) else {
                return reject("malformed", "sp.\(name) is not an RFC 3339 UTC time: \"\(value.prefix(40))\"")
            }
            times.append(time)
        }
        let (issued, from, until) = (times[0], times[1], times[2])
        guard let mode = SetPointMode(rawValue: fields.mode) else {
            return reject("malformed", "sp.mode must be target, max, min or release, not \"\(fields.mode.prefix(20))\"")
        }
        // A release carries no watts; every other mode does.
        guard (mode == .release) == (fields.w == nil) else {
            return reject("malformed", mode == .release ? "sp.w must be absent from a release" : "sp.w is missing")
        }
        let w = fields.w ?? 0
        guard fields.node == node else { return reject("wrong node", "for \"\(fields.node.prefix(64))\", this is \(node)") }
        guard from < until else { return reject("invalid window", "from \(from) is not before until \(until)") }
        guard until > now else { return reject("expired", "until \(until) has passed") }
        guard issued.millisecondsSince1970 >= now.millisecondsSince1970 - maxAgeMs else {
            return reject("stale", "issued \(issued), more than max_age_s = \(maxAgeMs / 1000) ago")
        }
        guard issued.millisecondsSince1970 <= now.millisecondsSince1970 + maxAgeMs else {
            return reject("stale", "issued \(issued), more than max_age_s = \(maxAgeMs / 1000) in the future (clock?)")
        }
        guard mode == .release || (minW...maxW).contains(w) else {
            return reject("out of limits", "w = \(w) W is outside [\(minW), \(maxW)]")
        }
        return .success(SetPoint(id: id, node: fields.node, issued: issued, from: from, until: until, mode: mode,
                                 w: w, text: envelope.sp, signature: signature))
    }

    private static let idCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")

    static func validID(_ id: String) -> String? {
        !id.isEmpty && id.utf8.count <= maximumIDLength && id.allSatisfy(idCharacters.contains) ? id : nil
    }

    /// A decoding error in a few words, naming the field.
    static func explain(_ error: any Error, in what: String) -> String {
        guard let error = error as? DecodingError else { return "\(what) is not valid JSON" }
        func path(_ context: DecodingError.Context, _ key: (any CodingKey)? = nil) -> String {
            ([what] + (context.codingPath + (key.map { [$0] } ?? [])).map(\.stringValue)).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context, key)) is missing"
        case .typeMismatch(let type, let context): return "\(path(context)) must be \(type == Int64.self ? "an integer" : "a \(type)")"
        case .valueNotFound(let type, let context): return "\(path(context)) must be \(type == Int64.self ? "an integer" : "a \(type)"), not null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "\(what) is not a JSON object" : "\(path(context)) is invalid"
        @unknown default: return "\(what) is not valid JSON"
        }
    }
}

extension SetPoint {
    /// The message the platform publishes on `{prefix}/{node}/setpoints` (DESIGN §5, v1.1):
    /// `sp` the JSON text of the fields (no `w` in a release; `order` when one order alone
    /// stands behind it, `orders` always) and `sig` the base64 Ed25519 signature of its bytes.
    public static func message(id: String, node: String, issued: Timestamp, from: Timestamp, until: Timestamp, mode: SetPointMode,
                               w: Int64?, orders: [String], signedBy key: SigningKey) -> [UInt8] {
        var body = JSONObjectWriter()
        body.string("id", id)
        body.string("node", node)
        body.string("issued", issued.rfc3339)
        body.string("from", from.rfc3339)
        body.string("until", until.rfc3339)
        body.string("mode", mode.rawValue)
        if let w { body.integer("w", w) }
        if orders.count == 1 { body.string("order", orders[0]) }
        body.stringArray("orders", orders)
        let text = body.finish()
        var envelope = JSONObjectWriter()
        envelope.string("sp", String(decoding: text, as: UTF8.self))
        envelope.string("sig", Base64.encode(key.sign(text).bytes))
        return envelope.finish()
    }
}
