import Foundation

/// The market's clock: the ISPs of a market day, a local date in the market's time zone,
/// numbered from 1; a day when the clocks change has 92 or 100 quarter-hour ISPs.
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
    public func start(of day: String) -> Date? {
        let parts = day.split(separator: "-", omittingEmptySubsequences: false)
        guard day.utf8.count == 10, parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let dayNumber = Int(parts[2]),
              let date = start(year: year, month: month, day: dayNumber), self.day(of: date) == day else { return nil }
        return date
    }

    /// The local midnight opening a day given by its numbers (UFTP's Periods).
    public func start(year: Int, month: Int, day: Int) -> Date? {
        calendar.date(from: DateComponents(year: year, month: month, day: day))
    }

    /// The market day holding `date`.
    public func day(of date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
    }

    /// The day after (or, with `by: -1`, before) `day`.
    public func day(after day: String, by days: Int = 1) -> String? {
        start(of: day).flatMap { calendar.date(byAdding: .day, value: days, to: $0) }.map(self.day(of:))
    }

    /// ISPs in `day`: 96 at 15 minutes, 92 or 100 when the clocks change.
    public func ispCount(_ day: String) -> Int? {
        guard let start = start(of: day), let next = calendar.date(byAdding: .day, value: 1, to: start) else { return nil }
        return Int(next.timeIntervalSince(start)) / (ispMinutes * 60)
    }

    /// When ISP `isp` of `day` runs.
    public func interval(day: String, isp: Int) -> DateInterval? {
        guard let start = start(of: day), let count = ispCount(day), (1...count).contains(isp) else { return nil }
        return DateInterval(start: start.addingTimeInterval(Double((isp - 1) * ispMinutes * 60)), duration: Double(ispMinutes * 60))
    }

    /// The day and ISP running at `date`.
    public func isp(at date: Date) -> (day: String, isp: Int) {
        let day = day(of: date)
        let start = start(of: day) ?? date
        return (day, Int(date.timeIntervalSince(start)) / (ispMinutes * 60) + 1)
    }
}
