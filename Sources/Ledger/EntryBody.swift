import GridCore

/// The JSON body of a ledger entry: `{"t":…,"k":…, kind fields…}` as exact bytes.
/// Bodies are only built here, so every stored body is valid UTF-8 JSON with `t` and `k` first.
public struct EntryBody: Sendable, Equatable {
    public let time: Timestamp
    public let kind: String
    public let bytes: [UInt8]

    public init(time: Timestamp, kind: String, fields: (inout JSONObjectWriter) -> Void = { _ in }) {
        var writer = JSONObjectWriter()
        writer.timestamp("t", time)
        writer.string("k", kind)
        fields(&writer)
        self.time = time
        self.kind = kind
        self.bytes = writer.finish()
    }

    /// A good reading: `{"t":…,"k":"reading","m":meter,"q":"good","v":{quantity: value, …}}`.
    public static func reading(time: Timestamp, meter: String, values: [(quantity: String, value: Double)]) -> EntryBody {
        EntryBody(time: time, kind: "reading") { body in
            body.string("m", meter)
            body.string("q", "good")
            body.object("v") { object in
                for (quantity, value) in values { object.number(quantity, value) }
            }
        }
    }

    /// A failed reading: `q` names the failure (e.g. "timeout", "exception 2") and there is no `v`,
    /// so a stale value can never pass for a fresh one.
    public static func failedReading(time: Timestamp, meter: String, failure: String) -> EntryBody {
        EntryBody(time: time, kind: "reading") { body in
            body.string("m", meter)
            body.string("q", failure)
        }
    }

    /// Something that happened to the node: start, stop, a missed cycle, a set-point applied
    /// (`id`: the set-point it concerns).
    public static func event(time: Timestamp, name: String, id: String? = nil, detail: String? = nil) -> EntryBody {
        EntryBody(time: time, kind: "event") { body in
            body.string("e", name)
            if let id { body.string("id", id) }
            if let detail { body.string("d", detail) }
        }
    }
}
