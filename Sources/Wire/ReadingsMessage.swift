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
    /// An entry that would open a run beyond `NodeChain.maximumRuns`.
    case tooFragmented = "too_fragmented"
}

/// A failure to accept a message, with what to count and what to log.
public struct Rejection: Error, Sendable, Equatable {
    public let reason: DropReason
    public let detail: String

    public init(reason: DropReason, detail: String) {
        self.reason = reason
        self.detail = detail
    }
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
        // One pass over the JSON collecting the members; checking them comes after.
        var node: String?, pod: String?
        var list: [Fields]?
        var count = 0
        do {
            try payload.withUnsafeBufferPointer { buffer throws(JSONParseError) in
                var reader = JSONReader(buffer)
                try reader.object { (reader: inout JSONReader, key: String) throws(JSONParseError) in
                    switch key {
                    case "node": node = try reader.optionalString()
                    case "pod": pod = try reader.optionalString()
                    case "entries":
                        guard try reader.peek() == .array else { return try reader.skip() }
                        var items: [Fields] = []
                        try reader.array { (reader: inout JSONReader) throws(JSONParseError) in
                            count += 1
                            // Past the limit the rest is only checked to be JSON; the count refuses it.
                            guard count <= Self.maximumEntries else { return try reader.skip() }
                            items.append(try Fields(&reader))
                        }
                        list = items
                    default: try reader.skip()
                    }
                }
                try reader.end()
            }
        } catch {
            throw Rejection(reason: .malformedJSON, detail: error.description)
        }
        guard let node, let pod, let list else {
            throw Rejection(reason: .malformedJSON, detail: "needs string \"node\", string \"pod\" and array \"entries\"")
        }
        // The topic is what the broker's ACL vouches for; the payload must agree with it.
        guard topic == "\(prefix)/\(node)/readings" else {
            throw Rejection(reason: .wrongTopic, detail: "node \"\(node)\" published on \(topic)")
        }
        guard count >= 1, count <= Self.maximumEntries else {
            throw Rejection(reason: .malformedEntry, detail: "entries must hold 1–\(Self.maximumEntries) entries, not \(count)")
        }
        var entries: [LedgerEntry] = []
        entries.reserveCapacity(list.count)
        for (index, item) in list.enumerated() {
            let entry = try item.entry(index: index)
            if let previous = entries.last, entry.seq != previous.seq + 1 {
                throw Rejection(reason: .malformedEntry, detail: "entries[\(index)].seq \(entry.seq) does not follow \(previous.seq)")
            }
            entries.append(entry)
        }
        self.node = node
        self.pod = pod
        self.entries = entries
    }

    /// An entry's members as read, before they are checked.
    private struct Fields {
        var seq: UInt64?
        var body: [UInt8]?
        var prev: SHA256Digest?
        var hash: SHA256Digest?
        var sig: Signature?
        var isObject = true

        init(_ reader: inout JSONReader) throws(JSONParseError) {
            guard try reader.peek() == .object else {
                isObject = false
                try reader.skip()
                return
            }
            try reader.object { (reader: inout JSONReader, key: String) throws(JSONParseError) in
                switch key {
                case "seq": seq = try reader.uint64()
                case "body":
                    if try reader.peek() == .string { body = try reader.stringBytes() } else { try reader.skip() }
                // Decoded from the message's bytes: no String for the 64 hex digits or the base64.
                case "prev": prev = try reader.optionalString { try? SHA256Digest(hexUTF8: $0) } ?? nil
                case "hash": hash = try reader.optionalString { try? SHA256Digest(hexUTF8: $0) } ?? nil
                case "sig": sig = try reader.optionalString { try? Signature(base64UTF8: $0) } ?? nil
                default: try reader.skip()
                }
            }
        }

        func entry(index: Int) throws(Rejection) -> LedgerEntry {
            func fail(_ field: String, _ problem: String) -> Rejection {
                Rejection(reason: .malformedEntry, detail: "entries[\(index)]\(field.isEmpty ? "" : ".")\(field): \(problem)")
            }
            guard isObject else { throw fail("", "must be an object") }
            guard let seq, Bounds.seq.contains(seq) else { throw fail("seq", "must be an integer from 1 to \(Bounds.seq.upperBound)") }
            guard let body else { throw fail("body", "must be a string") }
            guard let prev else { throw fail("prev", "must be 64 hex digits") }
            guard let hash else { throw fail("hash", "must be 64 hex digits") }
            guard let sig else { throw fail("sig", "must be the base64 of 64 bytes") }
            return LedgerEntry(seq: seq, body: body, prev: prev, hash: hash, signature: sig)
        }
    }
}
