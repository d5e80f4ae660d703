/// How late cycles start after their deadline: 0.1 ms buckets up to 1 s, in fixed memory
/// however long the agent runs.
public struct LatenessHistogram: Sendable {
    static let bucketMicroseconds = 100
    private var buckets = [UInt64](repeating: 0, count: 10_001)  // the last bucket: ≥ 1 s
    public private(set) var count: UInt64 = 0
    public private(set) var maximumMicroseconds: Int64 = 0

    public init() {}

    public mutating func record(microseconds: Int64) {
        let value = max(0, microseconds)
        buckets[min(Int(value) / Self.bucketMicroseconds, buckets.count - 1)] += 1
        count += 1
        maximumMicroseconds = max(maximumMicroseconds, value)
    }

    /// The upper edge of the bucket holding the `fraction` quantile, in milliseconds.
    public func quantileMilliseconds(_ fraction: Double) -> Double {
        guard count > 0 else { return 0 }
        let rank = UInt64((Double(count) * fraction).rounded(.up))
        var seen: UInt64 = 0
        for (index, bucketCount) in buckets.enumerated() {
            seen += bucketCount
            if seen >= max(rank, 1) { return Double((index + 1) * Self.bucketMicroseconds) / 1000 }
        }
        return Double(maximumMicroseconds) / 1000
    }
}
