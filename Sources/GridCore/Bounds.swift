/// The plausible range of every number the programs take from outside (REST bodies and queries,
/// console forms, MQTT payloads, UFTP messages, Modbus registers, files). A value outside is
/// refused naming its field; inside, no sum or product the programs make of it can overflow
/// (docs/coordinator.md, "Bounds").
public enum Bounds {
    /// Power of a POD, an offer, a request, a prognosis or a set-point, either way: 1 GW, beyond
    /// any congestion point of a distribution grid.
    public static let powerW: ClosedRange<Int> = -1_000_000_000...1_000_000_000
    /// A reading's instantaneous quantities (W, var, V, A, Hz, power factor): the same gigawatt.
    public static let readingValue: ClosedRange<Double> = -1e9...1e9
    /// A meter's energy registers (Wh, varh): a petawatt-hour, far above any meter's counter.
    public static let energyWh: ClosedRange<Double> = -1e15...1e15
    /// A ledger's sequence numbers: far beyond any chain's life (one entry a microsecond for
    /// 146,000 years), and leaving room for `seq + 1` in a signed 64-bit column.
    public static let seq: ClosedRange<UInt64> = 1...(1 << 62)
    /// Currency amounts: an offer's price, a price limit per MWh, a penalty rate (10⁹ units).
    public static let price: ClosedRange<Money> = .zero...Money(cents: 100_000_000_000)
    /// Page numbers of listings (0-based).
    public static let page: ClosedRange<Int> = 0...1_000_000
    /// Grid locations a request names, PODs an offer names.
    public static let areaLocations = 100
    public static let offerPODs = 10_000
    /// Any other list in one request body (PODs of a customer list, awards a DSO rejects).
    public static let listItems = 100_000
    /// Grid location names (congestion points, entity addresses).
    public static let locationBytes = 256

    /// `value` as a signed 64-bit integer when it is a sequence number within `seq`.
    public static func seq(_ value: UInt64) -> Int64? {
        seq.contains(value) ? Int64(value) : nil
    }

    /// An average power as whole watts; nil when it is no plausible reading.
    public static func watts(_ value: Double) -> Int? {
        readingValue.contains(value) ? Int(value.rounded()) : nil
    }

    /// "-1000000000…1000000000": a range as the refusals name it.
    public static func text(_ range: ClosedRange<Int>) -> String {
        "\(range.lowerBound)…\(range.upperBound)"
    }
}
