import Synchronization

/// How many messages each sender (domain and role) may post: a token bucket of `perSecond`
/// tokens a second holding at most `burst`. Checked once the signature verifies, so a forged
/// sender domain cannot spend another participant's allowance; beyond it the answer is 429,
/// which the sender retries later.
public final class SenderRateLimit: Sendable {
    public let perSecond: Double
    public let burst: Double
    private let buckets = Mutex<[String: (tokens: Double, at: UInt64)]>([:])

    public init(perSecond: Double, burst: Double) {
        self.perSecond = perSecond
        self.burst = burst
    }

    /// Takes a token for `sender` at `now` (monotonic nanoseconds); false when none is left.
    public func admit(_ sender: String, now: UInt64) -> Bool {
        buckets.withLock { buckets in
            var bucket = buckets[sender] ?? (burst, now)
            bucket.tokens = min(burst, bucket.tokens + Double(now &- bucket.at) / 1e9 * perSecond)
            bucket.at = now
            let admitted = bucket.tokens >= 1
            if admitted { bucket.tokens -= 1 }
            buckets[sender] = bucket
            return admitted
        }
    }
}
