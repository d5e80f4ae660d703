import Foundation
import GridCore
import Market
import Testing
import TestSupport

/// The market's clock and gates, and the split of an award over PODs.
@Suite struct SessionTests {
    static let amsterdam = MarketCalendar(timeZone: TimeZone(identifier: "Europe/Amsterdam")!)

    @Test func marketDaysFollowTheLocalClockThroughDaylightSavingChanges() throws {
        #expect(Self.amsterdam.ispCount("2026-03-29") == 92)
        #expect(Self.amsterdam.ispCount("2026-10-25") == 100)
        #expect(Self.amsterdam.ispCount("2026-11-26") == 96)
        #expect(Self.amsterdam.ispCount("2026-02-30") == nil && Self.amsterdam.ispCount("26-11-2026") == nil)
        // ISP 1 of a winter day starts at 23:00 UTC the day before; the last at 22:45 UTC.
        let first = try #require(Self.amsterdam.interval(day: "2026-11-26", isp: 1))
        #expect(first.lowerBound.rfc3339 == "2026-11-25T23:00:00.000Z" && first.upperBound.millisecondsSince1970 - first.lowerBound.millisecondsSince1970 == 900_000)
        #expect(Self.amsterdam.interval(day: "2026-11-26", isp: 96)?.lowerBound.rfc3339 == "2026-11-26T22:45:00.000Z")
        #expect(Self.amsterdam.interval(day: "2026-11-26", isp: 97) == nil)
        // After the clocks go back, the ISPs go on counting: ISP 13 is the repeated 02:00 hour.
        #expect(Self.amsterdam.interval(day: "2026-10-25", isp: 13)?.lowerBound.rfc3339 == "2026-10-25T01:00:00.000Z")
        let at = try #require(Timestamp(rfc3339: "2026-11-26T10:07:00Z"))
        #expect(Self.amsterdam.isp(at: at) == ("2026-11-26", 45))
        #expect(MarketCalendar(timeZone: .gmt, ispMinutes: 60).ispCount("2026-03-29") == 24)
    }

    @Test func gatesOfTheDayAheadAndRealTimeSessions() throws {
        let rules = SessionRules(calendar: Self.amsterdam)
        #expect(rules.gateClosure(dayAhead: "2026-11-26")?.rfc3339 == "2026-11-25T11:00:00.000Z", "D−1 12:00 local")
        let before = try #require(Timestamp(rfc3339: "2026-11-25T10:59:59Z"))
        let after = try #require(Timestamp(rfc3339: "2026-11-25T11:00:00Z"))
        #expect(rules.refusal(.dayAhead, day: "2026-11-26", isps: [1, 96], now: before) == nil)
        #expect(rules.refusal(.dayAhead, day: "2026-11-26", isps: [40], now: after)?.contains("gate closure") == true)
        #expect(rules.refusal(.dayAhead, day: "2026-11-26", isps: [97], now: before)?.contains("has 96") == true)
        // Real time at 10:07 local (09:07 UTC): ISP 45 (11:00 local) is 53 minutes ahead.
        let now = try #require(Timestamp(rfc3339: "2026-11-26T09:07:00Z"))
        #expect(rules.refusal(.realTime, day: "2026-11-26", isps: [45, 46], now: now) == nil)
        #expect(rules.refusal(.realTime, day: "2026-11-26", isps: [42], now: now)?.contains("less than 15 minutes ahead") == true)
        #expect(rules.refusal(.realTime, day: "2026-11-26", isps: [58], now: now)?.contains("horizon") == true)
        // A negative lead admits the running ISP (demonstrations, tests).
        let eager = SessionRules(calendar: Self.amsterdam, realTimeLeadMinutes: -15)
        #expect(eager.refusal(.realTime, day: "2026-11-26", isps: [41], now: now) == nil)
    }

    @Test func anAwardSplitsOverPODsExactly() {
        #expect(PODSplit.split(-1000, weights: [1, 1, 1]) == [-334, -333, -333])
        #expect(PODSplit.split(900, weights: [0.5, 0.25, 0.25]) == [450, 225, 225])
        #expect(PODSplit.split(7, weights: [0, 0]) == [4, 3], "equal parts without weights")
        var random = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            let watts = Int(random.next() % 100_001) - 50_000
            let weights = (0..<Int(random.next() % 12 + 1)).map { _ in Double(random.next() % 5000) }
            let parts = PODSplit.split(watts, weights: weights)
            #expect(parts.reduce(0, +) == watts, "energy conserved")
            #expect(parts.allSatisfy { $0 == 0 || ($0 < 0) == (watts < 0) }, "one direction")
            let total = weights.reduce(0, +)
            if total > 0 {
                for (part, weight) in zip(parts, weights) {
                    #expect(abs(Double(abs(part)) - Double(abs(watts)) * weight / total) < 1, "proportional within a watt")
                }
            }
        }
    }
}
