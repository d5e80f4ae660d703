import Foundation
import GridCore
import Market
@testable import OperatorConsole
import Testing

/// What the console shows carries its unit and, on the days the clocks change, its own offset.
@Suite struct ConsoleUnitsTests {
    @Test func timesOnADaylightSavingDayCarryTheirOwnOffset() throws {
        let time = MarketTime(zone: try #require(TimeZone(identifier: "Europe/Amsterdam")))
        let calendar = MarketCalendar(timeZone: time.zone)
        // 2026-10-25 has 100 ISPs: ISP 9 and ISP 13 both begin at 02:00 local, an hour apart.
        let ninth = try #require(calendar.interval(day: "2026-10-25", isp: 9)), thirteenth = try #require(calendar.interval(day: "2026-10-25", isp: 13))
        #expect(time.shown(ninth.lowerBound, seconds: false) == "02:00 UTC+02:00")
        #expect(time.shown(thirteenth.lowerBound, seconds: false) == "02:00 UTC+01:00")
        let ordinary = try #require(calendar.interval(day: "2026-11-26", isp: 9))
        #expect(time.shown(ordinary.lowerBound, seconds: false) == "02:00", "no offset on an ordinary day")
    }

    @Test func pricesSayWhetherTheyAreTotalsOrPerMWh() {
        // The offer: 45.00 for 1.5 kWh is 30,000.00 per MWh, not 45.00 per MWh.
        let perMWh = Money(cents: 4500).perMWh(wattISPs: 6000, ispMinutes: 15)
        #expect(Units.price(Money(cents: 4500), perMWh: perMWh) == "€ 45.00 (€ 30,000.00/MWh)")
        #expect(Units.perMWh(Money(cents: 30_000_000)) == "€ 300,000.00/MWh")
        #expect(Units.euros(Money(cents: -1_234_567)) == "−€ 12,345.67")
    }
}
