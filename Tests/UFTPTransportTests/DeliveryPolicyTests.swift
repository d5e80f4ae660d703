import GridCore
import Testing
@testable import UFTPTransport

/// UFTP's delivery rules (Appendix 4 §6.4): what ends a delivery, and the back-off between tries.
@Suite struct DeliveryPolicyTests {
    @Test func onlySuccessAndUnambiguousRefusalsAreFinal() {
        for status in [200, 204, 400, 401, 403, 405, 410, 411, 413, 415] { #expect(DeliveryPolicy.isFinal(status: status), "\(status)") }
        for status in [0, 100, 301, 404, 408, 419, 425, 429, 500, 502, 503, 504, 599] { #expect(!DeliveryPolicy.isFinal(status: status), "\(status)") }
    }

    @Test func retriesBackOffExponentiallyUpToACapAndStopAfterADay() {
        let policy = DeliveryPolicy()
        let queued = Timestamp(millisecondsSince1970: 1_795_000_000_000)
        func delay(after attempts: Int) -> Int64? {
            guard case .retry(let at, _) = policy.outcome(status: 503, problem: "HTTP 503", attempts: attempts, queued: queued, now: queued)
            else { return nil }
            return at.millisecondsSince1970 - queued.millisecondsSince1970
        }
        #expect([1, 2, 3, 5, 10, 11, 40].map(delay(after:)) == [1_000, 2_000, 4_000, 16_000, 512_000, 900_000, 900_000])
        #expect(policy.outcome(status: nil, problem: "connection refused", attempts: 1, queued: queued, now: queued)
            == .retry(at: queued.adding(milliseconds: 1_000), problem: "connection refused"))
        #expect(policy.outcome(status: 200, problem: "", attempts: 7, queued: queued, now: queued) == .delivered)
        #expect(policy.outcome(status: 401, problem: "HTTP 401", attempts: 1, queued: queued, now: queued) == .failed(problem: "HTTP 401"))
        let late = queued.adding(milliseconds: 24 * 3_600_000 - 500)
        guard case .failed(let problem) = policy.outcome(status: 404, problem: "HTTP 404", attempts: 60, queued: queued, now: late) else {
            Issue.record("a delivery still failing after a day must stop")
            return
        }
        #expect(problem.contains("no success within 24 h"))
    }
}
