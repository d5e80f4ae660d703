import GridCore
import Ledger
import Sodium

/// Why ingest dropped a message or an entry (the `reason` label of `coordinator_ingest_dropped_total`).
public enum DropReason: String, Sendable, CaseIterable {
    case oversized
    case malformedJSON = "malformed_json"
    case malformedEntry = "malformed_entry"
    case malformedBody = "malformed_body"
    case wrongTopic = "wrong_topic"
    case unknownNode = "unknown_node"
    case quarantined
    case badHash = "bad_hash"
    case fork
    case badSignature = "bad_signature"
}

/// A failure to accept a message, with what to count and what to log.
public struct Rejection: Error, Sendable, Equatable {
    public let reason: DropReason
    public let detail: String
}

/// A `{prefix}/{node}/readings` payload (MQTT contract v1), checked field by field.
public struct ReadingsMessage: Sendable, Equatable {
    public let node: String
    public let pod: String
    public let entries: [LedgerEntry]

    /// At most this many entries in one message (the Light Node sends up to 200).
    public static let maximumEntries = 1000

    public init(topic: String, payload: [UInt8], prefix: String, maxBytes: Int) throws(Rejection) {
        guard payload.count <= maxBytes else {
            throw Rejection(reason: .oversized, detail: "\(payload.count) bytes, limit \(maxBytes)")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(payload)
        } catch {
            throw Rejection(reason: .malformedJSON, detail: error.description)
        }
        guard let node = value["node"]?.string, let pod = value["pod"]?.string, let list = value["entries"]?.array else {
            throw Rejection(reason: .malformedJSON, detail: "needs string \"node\", string \"pod\" and array \"entries\"")
        }
        // The topic is what the broker's ACL vouches for; the payload must agree with it.
        guard topic == "\(prefix)/\(node)/readings" else {
            throw Rejection(reason: .wrongTopic, detail: "node \"\(node)\" published on \(topic)")
        }
        guard !list.isEmpty, list.count <= Self.maximumEntries else {
            throw Rejection(reason: .malformedEntry, detail: "entries must hold 1–\(Self.maximumEntries) entries, not \(list.count)")
        }
        var entries: [LedgerEntry] = []
        entries.reserveCapacity(list.count)
        for (index, item) in list.enumerated() {
            let entry = try Self.entry(item, index: index)
            if let previous = entries.last, entry.seq != previous.seq + 1 {
                throw Rejection(reason: .malformedEntry, detail: "entries[\(index)].seq \(entry.seq) does not follow \(previous.seq)")
            }
            entries.append(entry)
        }
        self.node = node
        self.pod = pod
        self.entries = entries
    }

    private static func entry(_ item: JSONValue, index: Int) throws(Rejection) -> LedgerEntry {
        func fail(_ field: String, _ problem: String) -> Rejection {
            Rejection(reason: .malformedEntry, detail: "entries[\(index)].\(field): \(problem)")
        }
        guard let seq = item["seq"]?.uint64, seq >= 1 else { throw fail("seq", "must be an integer ≥ 1") }
        guard let body = item["body"]?.string else { throw fail("body", "must be a string") }
        guard let prevText = item["prev"]?.string, prevText.utf8.count == 64, let prev = try? SHA256Digest(hex: prevText) else {
            throw fail("prev", "must be 64 hex digits")
        }
        guard let hashText = item["hash"]?.string, hashText.utf8.count == 64, let hash = try? SHA256Digest(hex: hashText) else {
            throw fail("hash", "must be 64 hex digits")
        }
        guard let sigText = item["sig"]?.string, let signature = try? Signature(base64: sigText) else {
            throw fail("sig", "must be the base64 of 64 bytes")
        }
        return LedgerEntry(seq: seq, body: Array(body.utf8), prev: prev, hash: hash, signature: signature)
    }
}
