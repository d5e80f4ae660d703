import Foundation

/// The market's clock: the ISPs of a market day, a local date in the market's time zone,
/// numbered from 1; a day when the clocks change has 92 or 100 quarter-hour ISPs. Instants go
/// in and out as `Timestamp`; Foundation's calendar does the local-time work inside.
public struct MarketCalendar: Sendable {
    public let timeZone: TimeZone
    public let ispMinutes: Int
    private let calendar: Calendar

    public init(timeZone: TimeZone, ispMinutes: Int = 15) {
        self.timeZone = timeZone
        self.ispMinutes = ispMinutes
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    /// The local midnight opening `day` (`YYYY-MM-DD`), nil when it is not a date.
    public func start(of day: String) -> Timestamp? {
        let parts = day.split(separator: "-", omittingEmptySubsequences: false)
        guard day.utf8.count == 10, parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let dayNumber = Int(parts[2]),
              let start = start(year: year, month: month, day: dayNumber), self.day(of: start) == day else { return nil }
        return start
    }

    /// The local midnight opening a day given by its numbers (UFTP's Periods).
    public func start(year: Int, month: Int, day: Int) -> Timestamp? {
        calendar.date(from: DateComponents(year: year, month: month, day: day)).map(Timestamp.init)
    }

    /// The local time `minutes` after midnight on `day` (a gate closure), nil when it is not a date.
    public func time(_ minutes: Int, on day: String) -> Timestamp? {
        guard let midnight = start(of: day) else { return nil }
        return calendar.date(bySettingHour: minutes / 60, minute: minutes % 60, second: 0, of: Date(midnight)).map(Timestamp.init)
    }

    /// The market day holding `instant`.
    public func day(of instant: Timestamp) -> String {
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(instant))
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }

    /// The day after (or, with `by: -1`, before) `day`.
    public func day(after day: String, by days: Int = 1) -> String? {
        start(of: day).flatMap { calendar.date(byAdding: .day, value: days, to: Date($0)) }.map { self.day(of: Timestamp($0)) }
    }

    /// The ISO weekday of `day`: 1 Monday … 7 Sunday; nil when it is not a date. Plain
    /// arithmetic: 1970-01-01 was a Thursday.
    public static func weekday(of day: String) -> Int? {
        civil(day).map { Int(Timestamp.floorDivide(Timestamp.days(fromCivilYear: $0.year, month: $0.month, day: $0.day) + 3, 7).remainder) + 1 }
    }

    /// The days of `month` (`YYYY-MM`), none when it is not one.
    public static func days(of month: String) -> [String] {
        guard let (year, number, _) = civil(month + "-01") else { return [] }
        return (1...Timestamp.daysIn(month: number, year: year)).map { month + ($0 < 10 ? "-0\($0)" : "-\($0)") }
    }

    /// Year, month and day of `YYYY-MM-DD`, nil unless it is a date of the Gregorian calendar.
    static func civil(_ day: String) -> (year: Int64, month: Int64, day: Int64)? {
        let parts = day.split(separator: "-", omittingEmptySubsequences: false)
        guard day.utf8.count == 10, parts.count == 3, parts.allSatisfy({ $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }),
              let year = Int64(parts[0]), let month = Int64(parts[1]), let number = Int64(parts[2]),
              (1...12).contains(month), (1...Timestamp.daysIn(month: month, year: year)).contains(number) else { return nil }
        return (year, month, number)
    }

    /// ISPs in `day`: 96 at 15 minutes, 92 or 100 when the clocks change.
    public func ispCount(_ day: String) -> Int? {
        guard let start = start(of: day), let next = calendar.date(byAdding: .day, value: 1, to: Date(start)) else { return nil }
        return Int((Timestamp(next).millisecondsSince1970 - start.millisecondsSince1970) / ispMilliseconds)
    }

    /// When ISP `isp` of `day` runs.
    public func interval(day: String, isp: Int) -> Range<Timestamp>? {
        guard let start = start(of: day), let count = ispCount(day), (1...count).contains(isp) else { return nil }
        let begins = start.adding(milliseconds: Int64(isp - 1) * ispMilliseconds)
        return begins..<begins.adding(milliseconds: ispMilliseconds)
    }

    /// The day and ISP running at `instant`.
    public func isp(at instant: Timestamp) -> (day: String, isp: Int) {
        let day = day(of: instant)
        let start = start(of: day) ?? instant
        return (day, Int((instant.millisecondsSince1970 - start.millisecondsSince1970) / ispMilliseconds) + 1)
    }

    private var ispMilliseconds: Int64 { Int64(ispMinutes) * 60_000 }
}

extension Date {
    /// The instant of a `Timestamp`, for Foundation's calendar work.
    public init(_ timestamp: Timestamp) {
        self.init(timeIntervalSince1970: Double(timestamp.millisecondsSince1970) / 1000)
    }
}

extension Timestamp {
    /// A Foundation date to the millisecond, rounded down (a date no calendar gives, beyond
    /// ±292 million years, to the nearest bound rather than a trap).
    public init(_ date: Date) {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded(.down)
        self.init(millisecondsSince1970: Int64(exactly: milliseconds) ?? (milliseconds < 0 ? .min : .max))
    }
}
