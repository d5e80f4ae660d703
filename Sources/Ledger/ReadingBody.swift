import GridCore

/// The fields of a ledger body the SCD indexes: time and kind for every entry, meter, quality
/// and the quantities the measures need for readings. The body itself is kept verbatim.
public struct ReadingBody: Sendable, Equatable {
    public var time: Timestamp
    public var kind: String
    public var meter: String?
    public var good: Bool
    public var activePower: Double?
    public var energyImport: Double?
    public var energyExport: Double?

    public init(time: Timestamp, kind: String, meter: String? = nil, good: Bool = false,
                activePower: Double? = nil, energyImport: Double? = nil, energyExport: Double? = nil) {
        self.time = time
        self.kind = kind
        self.meter = meter
        self.good = good
        self.activePower = activePower
        self.energyImport = energyImport
        self.energyExport = energyExport
    }

    /// Parses a body (contract v1: a JSON object with `t` and `k`); the error says what is wrong,
    /// and the caller drops the message as `malformed_body`.
    public init(parsing body: [UInt8]) throws(JSONParseError) {
        var time: String?, kind: String?, meter: String?, quality: String?
        var power: Double?, energyImport: Double?, energyExport: Double?
        try body.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var reader = JSONReader(buffer)
            guard try reader.peek() == .object else { throw JSONParseError(reason: "body is not a JSON object", offset: 0) }
            try reader.object { (reader: inout JSONReader, key: String) throws(JSONParseError) in
                switch key {
                case "t": time = try reader.optionalString()
                case "k": kind = try reader.optionalString()
                case "m": meter = try reader.optionalString()
                case "q": quality = try reader.optionalString()
                case "v" where try reader.peek() == .object:
                    try reader.object { (reader: inout JSONReader, name: String) throws(JSONParseError) in
                        switch name {
                        case "active_power": power = try reader.double()
                        case "energy_import": energyImport = try reader.double()
                        case "energy_export": energyExport = try reader.double()
                        default: try reader.skip()
                        }
                    }
                default: try reader.skip()
                }
            }
            try reader.end()
        }
        guard let text = time, let parsed = Timestamp(rfc3339: text) else {
            throw JSONParseError(reason: "body has no valid \"t\"", offset: 0)
        }
        guard let kind else { throw JSONParseError(reason: "body has no \"k\"", offset: 0) }
        self.init(time: parsed, kind: kind)
        guard kind == "reading" else { return }
        self.meter = meter
        good = quality == "good"
        // A value no meter gives (a lying meter, an old agent) is kept in the body but not
        // measured: it is absent here, so no measure, settlement or chart is made from it.
        if good {
            activePower = power.flatMap { Bounds.readingValue.contains($0) ? $0 : nil }
            self.energyImport = energyImport.flatMap { Bounds.energyWh.contains($0) ? $0 : nil }
            self.energyExport = energyExport.flatMap { Bounds.energyWh.contains($0) ? $0 : nil }
        }
    }
}
