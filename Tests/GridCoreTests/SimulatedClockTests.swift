import GridCore
import Testing

@Suite(.serialized) struct SimulatedClockTests {
    @Test func mapsRealTimeOntoTheSimulatedDayAtItsSpeed() throws {
        let start = try #require(Timestamp(rfc3339: "2026-11-25T22:15:00.000Z"))
        let real = try #require(Timestamp(rfc3339: "2025-01-01T00:00:00.000Z"))
        let clock = SimulatedClock(start: start, realStart: real, speed: 60)
        #expect(clock.time(atReal: real) == start)
        // One real second is a simulated minute; a real millisecond, 60 simulated ones.
        #expect(clock.time(atReal: real.adding(milliseconds: 1_000)).rfc3339 == "2026-11-25T22:16:00.000Z")
        #expect(clock.time(atReal: real.adding(milliseconds: 1)).rfc3339 == "2026-11-25T22:15:00.060Z")
        #expect(clock.time(atReal: real.adding(milliseconds: 120_000)).rfc3339 == "2026-11-26T00:15:00.000Z")
    }

    @Test func timestampNowReadsTheInstalledClockUntilItIsRemoved() throws {
        let start = try #require(Timestamp(rfc3339: "2030-06-01T12:00:00.000Z"))
        SimulatedClock.install(SimulatedClock(start: start, realStart: .realNow(), speed: 10))
        defer { SimulatedClock.install(nil) }
        let simulated = Timestamp.now()
        #expect(simulated >= start && simulated < start.adding(milliseconds: 60_000), "\(simulated)")
        SimulatedClock.install(nil)
        #expect(abs(Timestamp.now().millisecondsSince1970 - Timestamp.realNow().millisecondsSince1970) < 1_000)
    }
}
