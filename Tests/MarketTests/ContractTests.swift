import Foundation
import GridCore
import Market
import Testing
import TestSupport

/// Availability contracts (FlexOptions): service windows, availability fees and obligations.
@Suite struct ContractTests {
    static let calendar = MarketCalendar(timeZone: TimeZone(identifier: "Europe/Amsterdam")!)

    /// 2 MW of reduction on weekday evenings (17:00–20:00, ISPs 69–80) in December 2026.
    static func evenings(fee: AvailabilityContract.Fee = .perMWPerISP(Money("1.50")!)) -> AvailabilityContract {
        AvailabilityContract(id: "fo-1", buyer: "dso-1", aggregator: "agr-1", congestionPoint: "cp-1", first: "2026-12-01",
                             last: "2026-12-31", weekdays: [1, 2, 3, 4, 5], firstISP: 69, lastISP: 80, power: -2_000_000,
                             fee: fee, priceCapPerMWh: Money("300")!, penaltyPerMiss: Money("250")!)
    }

    static func request(_ isps: [RequestEntry.ISP], area: [String] = ["cp-1"]) -> RequestEntry {
        RequestEntry(id: "r-1", buyer: "DSO", area: area, isps: isps, priceLimit: nil)
    }

    static func offer(_ power: Int, isps: ClosedRange<Int> = 69...80, price: Money = Money("100")!, location: String = "cp-1") -> OfferEntry {
        OfferEntry(id: "o-\(power)", aggregator: "agr-1", location: location, price: price, minActivationFactor: nil,
                   isps: [.init(start: isps.lowerBound, duration: isps.count, power: power)])
    }

    @Test func serviceWindowsFollowTheDaysWeekdaysAndISPs() {
        let contract = Self.evenings()
        #expect(MarketCalendar.weekday(of: "2026-12-07") == 1 && MarketCalendar.weekday(of: "2026-12-13") == 7 && MarketCalendar.weekday(of: "2026-02-30") == nil)
        #expect(contract.serviceISPs(on: "2026-12-07", calendar: Self.calendar) == Array(69...80), "a Monday")
        #expect(contract.serviceISPs(on: "2026-12-12", calendar: Self.calendar).isEmpty, "a Saturday")
        #expect(contract.serviceISPs(on: "2027-01-04", calendar: Self.calendar).isEmpty, "after its last day")
        // A window reaching past a short day's ISPs ends with the day.
        var late = contract
        (late.first, late.last, late.weekdays, late.firstISP, late.lastISP) = ("2026-03-01", "2026-03-31", [7], 90, 96)
        #expect(late.serviceISPs(on: "2026-03-29", calendar: Self.calendar) == Array(90...92))
        #expect(contract.problem(calendar: Self.calendar) == nil)
        late.last = "2036-01-01"
        #expect(late.problem(calendar: Self.calendar)?.field == "last_day")
        // Numbers no contract has are refused, not fatal.
        for (first, last) in [(Int.min, Int.max), (Int.max, Int.min), (0, 10), (80, 69), (1, 101)] {
            var odd = contract
            (odd.firstISP, odd.lastISP) = (first, last)
            #expect(odd.problem(calendar: Self.calendar)?.field == "first_isp")
        }
        var huge = contract
        huge.power = Int.min
        #expect(huge.problem(calendar: Self.calendar)?.field == "power_w")
    }

    @Test func aFeePerMWAndISPPaysTheServiceISPsNotReleased() {
        let contract = Self.evenings()
        // December 2026 has 23 weekdays: 23 × 12 ISPs × 2 MW × 1.50 = 828.00.
        #expect(contract.availabilityFees(released: [:], calendar: Self.calendar) == ["2026-12": Money("828")!])
        // Released: a whole Monday, and two ISPs of a Tuesday (and a Saturday, which is not in service).
        let released: [String: Set<Int>] = ["2026-12-07": Set(69...80), "2026-12-08": [79, 80], "2026-12-12": [70]]
        #expect(contract.availabilityFees(released: released, calendar: Self.calendar)["2026-12"] == Money("786")!)
    }

    @Test func aFeeForThePeriodIsSpreadOverItsMonthsAndAddsUpExactly() {
        var random = SplitMix64(seed: 28)
        for _ in 0..<200 {
            let start = Int.random(in: 0..<700, using: &random), length = Int.random(in: 0..<500, using: &random)
            var contract = Self.evenings(fee: .perPeriod(Money(cents: Int64.random(in: 0...10_000_000_00, using: &random))))
            contract.first = Self.calendar.day(after: "2026-01-01", by: start)!
            contract.last = Self.calendar.day(after: contract.first, by: length)!
            contract.weekdays = Array(Set((0..<3).map { _ in Int.random(in: 1...7, using: &random) }))
            contract.firstISP = Int.random(in: 1...96, using: &random)
            contract.lastISP = Int.random(in: contract.firstISP...96, using: &random)
            guard case .perPeriod(let sum) = contract.fee else { continue }
            let months = contract.months(calendar: Self.calendar)
            let byMonth = contract.availabilityFees(released: [:], calendar: Self.calendar)
            let fees = months.map { byMonth[$0] ?? Money(cents: -1) }
            let serviceISPs = Set(months.flatMap { month in
                MarketCalendar.days(of: month).filter { !contract.serviceISPs(on: $0, calendar: Self.calendar).isEmpty }
            })
            #expect(fees.reduce(.zero, +) == sum, "the months add up to the period's fee")
            #expect(fees.allSatisfy { $0 >= .zero })
            #expect(serviceISPs.isEmpty || zip(months, fees).allSatisfy { month, fee in
                fee == .zero || serviceISPs.contains { $0.hasPrefix(month) }
            }, "a month without service is not charged")
            #expect(Set(months).count == months.count && months == months.sorted())
        }
    }

    @Test func anAggregatorOfferingLessThanContractedMissesTheRequest() throws {
        let contract = Self.evenings()
        let ask = Self.request([.init(start: 72, duration: 4, minPower: -3_000_000, maxPower: -1_000_000)])
        #expect(contract.obligation(day: "2026-12-07", request: ask, released: [], calendar: Self.calendar)
            == Dictionary(uniqueKeysWithValues: (72...75).map { ($0, 2_000_000) }))
        let short = try #require(contract.assess(request: "dso-1/r-1", day: "2026-12-07", ask, offers: [Self.offer(-1_500_000)], released: [],
                                                 calendar: Self.calendar))
        #expect(short.isps == Array(72...75) && short.requiredW == 2_000_000 && short.offeredW == 1_500_000)
        #expect(short.reason == "offered 1500000 W of the 2000000 W contracted at ISP 72")
        // Two offers together give it; a request asking less needs only what it asks.
        #expect(contract.assess(request: "r", day: "2026-12-07", ask, offers: [Self.offer(-1_500_000), Self.offer(-500_000)], released: [],
                                calendar: Self.calendar) == nil)
        let small = Self.request([.init(start: 72, minPower: -400_000, maxPower: 0)])
        #expect(contract.assess(request: "r", day: "2026-12-07", small, offers: [Self.offer(-500_000)], released: [], calendar: Self.calendar) == nil)
    }

    @Test func noObligationWhenReleasedOutOfServiceElsewhereOrTheOtherWay() {
        let contract = Self.evenings()
        let ask = Self.request([.init(start: 72, duration: 4, minPower: -3_000_000, maxPower: -1_000_000)])
        let none = [OfferEntry]()
        #expect(contract.assess(request: "r", day: "2026-12-07", ask, offers: none, released: Set(69...80), calendar: Self.calendar) == nil)
        #expect(contract.assess(request: "r", day: "2026-12-12", ask, offers: none, released: [], calendar: Self.calendar) == nil, "a Saturday")
        #expect(contract.assess(request: "r", day: "2026-12-07", Self.request(ask.isps, area: ["cp-2"]), offers: none, released: [],
                                calendar: Self.calendar) == nil)
        let up = Self.request([.init(start: 72, minPower: 1_000_000, maxPower: 3_000_000)])
        #expect(contract.assess(request: "r", day: "2026-12-07", up, offers: none, released: [], calendar: Self.calendar) == nil)
        // Partly released: only the ISPs still in service are owed.
        let miss = contract.assess(request: "r", day: "2026-12-07", ask, offers: none, released: [72, 73], calendar: Self.calendar)
        #expect(miss?.isps == [74, 75] && miss?.reason == "no offer at cp-1")
    }

    @Test func anOfferOverThePriceCapDoesNotCount() {
        let contract = Self.evenings()
        let ask = Self.request([.init(start: 72, minPower: -2_000_000, maxPower: -2_000_000)])
        // 12 ISPs × 2 MW × 0.25 h = 6 MWh: 1,800 is the cap's 300 per MWh, 1,800.06 is 300.01.
        #expect(contract.assess(request: "r", day: "2026-12-07", ask, offers: [Self.offer(-2_000_000, price: Money("1800")!)], released: [],
                                calendar: Self.calendar) == nil)
        let over = contract.assess(request: "r", day: "2026-12-07", ask, offers: [Self.offer(-2_000_000, price: Money("1800.06")!)],
                                   released: [], calendar: Self.calendar)
        #expect(over?.reason == "every offer at cp-1 is over the price cap of 300.00 per MWh")
    }
}
