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
        let value = try JSONValue.parse(body)
        guard case .object(let members) = value else { throw JSONParseError(reason: "body is not a JSON object", offset: 0) }
        guard let text = members["t"]?.string, let time = Timestamp(rfc3339: text) else {
            throw JSONParseError(reason: "body has no valid \"t\"", offset: 0)
        }
        guard let kind = members["k"]?.string else { throw JSONParseError(reason: "body has no \"k\"", offset: 0) }
        self.init(time: time, kind: kind)
        guard kind == "reading" else { return }
        meter = members["m"]?.string
        good = members["q"]?.string == "good"
        if good, let values = members["v"]?.object {
            activePower = values["active_power"]?.double
            energyImport = values["energy_import"]?.double
            energyExport = values["energy_export"]?.double
        }
    }
}
