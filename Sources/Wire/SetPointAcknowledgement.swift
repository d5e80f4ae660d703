import GridCore

/// A Light Node's answer to a set-point on `{prefix}/{node}/setpoints/ack` (MQTT contract v1,
/// docs/mqtt.md): `{"id":…,"status":…,"reason":…,"seq":…,"t":…}`, as the platform reads it.
public struct SetPointAcknowledgement: Sendable, Equatable {
    public var id: String
    public var status: String
    public var reason: String?
    /// The node's ledger seq recording it.
    public var seq: UInt64?

    public static let maximumBytes = 4096

    /// Nil unless `payload` is one: at most 4 KiB of JSON with a string `id` and `status`, a
    /// string `reason` if any, and a `seq` up to `Bounds.seq`'s if any (0: the node could not record it).
    public init?(payload: [UInt8]) {
        guard payload.count <= Self.maximumBytes, let object = try? JSONValue.parse(payload),
              let id = object["id"]?.string, let status = object["status"]?.string else { return nil }
        self.id = id
        self.status = status
        if let value = object["reason"] {
            guard let text = value.string else { return nil }
            reason = text
        }
        if let value = object["seq"] {
            guard let number = value.uint64, number <= Bounds.seq.upperBound else { return nil }
            seq = number == 0 ? nil : number
        }
    }

    /// The payload a node sends: `reason` says why (or what was applied), `seq` is the ledger
    /// entry recording it (0: the node could not record it).
    public static func payload(id: String, status: String, reason: String, seq: UInt64, at time: Timestamp) -> [UInt8] {
        var message = JSONObjectWriter(capacity: 192)
        message.string("id", id)
        message.string("status", status)
        message.string("reason", reason)
        message.integer("seq", Int64(clamping: seq))
        message.timestamp("t", time)
        return message.finish()
    }
}
