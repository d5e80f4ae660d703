import GridCore
import Ledger

extension ReadingsMessage {
    /// A node's readings message as it is written (MQTT contract v1): `{"node":…,"pod":…,
    /// "entries":[…]}` with consecutive entries in ledger export form, at most
    /// `maximumSentEntries` of them or `maximumSentBytes` (one larger entry goes alone).
    public struct Writer: Sendable {
        public static let maximumSentEntries = 200
        public static let maximumSentBytes = 128 * 1024

        private var payload: [UInt8] = []
        /// The seq of the last entry taken, nil while none is.
        public private(set) var last: UInt64?
        private var count = 0

        public init(node: String, pod: String) {
            payload.reserveCapacity(16 * 1024)
            payload.append(contentsOf: #"{"node":"#.utf8)
            JSONText.appendQuoted(node, to: &payload)
            payload.append(contentsOf: #","pod":"#.utf8)
            JSONText.appendQuoted(pod, to: &payload)
            payload.append(contentsOf: #","entries":["#.utf8)
        }

        /// Takes the next entry if it fits, and says whether it did: the first always does, and
        /// the first that does not ends the message, so entries stay consecutive.
        public mutating func append(_ entry: LedgerEntry) -> Bool {
            guard count == 0 || (count < Self.maximumSentEntries && payload.count + entry.body.count + 300 <= Self.maximumSentBytes) else {
                return false
            }
            if count > 0 { payload.append(0x2C) }
            LedgerExport.appendObject(entry, to: &payload)
            last = entry.seq
            count += 1
            return true
        }

        /// The payload; nil when no entry was taken (a message holds at least one).
        public func finish() -> [UInt8]? {
            guard count > 0 else { return nil }
            return payload + Array("]}".utf8)
        }
    }
}

/// A node's retained `{prefix}/{node}/status` (MQTT contract v1): `{"state":…,"node":…,"t":…}`,
/// `online` on every connect and `offline` as its will.
public enum NodeStatus {
    public static func payload(state: String, node: String, at time: Timestamp) -> [UInt8] {
        var writer = JSONObjectWriter(capacity: 96)
        writer.string("state", state)
        writer.string("node", node)
        writer.timestamp("t", time)
        return writer.finish()
    }
}
