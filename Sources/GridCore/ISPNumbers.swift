/// ISP numbers of a market day, from 1, as entries and messages give them: a start and a count,
/// arbitrary integers until checked.
public enum ISPNumbers {
    /// Whether ISPs `start ..< start + count` lie within a day of `ispCount` ISPs, decided
    /// without computing `start + count` (which numbers from outside could overflow).
    public static func within(start: Int, count: Int, ispCount: Int) -> Bool {
        start >= 1 && count >= 1 && start <= ispCount && count <= ispCount - start + 1
    }

    /// ISPs `start ..< start + count` as far as any day reaches (a range past a day's ISPs is out
    /// of bounds anyway): safe to build and iterate whatever the two numbers are.
    public static func clamped(start: Int, count: Int) -> Range<Int> {
        let first = min(max(start, 0), limit), length = min(max(count, 0), limit)
        return first..<(first + length)
    }

    /// Beyond any day's ISPs (100 at 15 minutes), so that clamping to it changes no valid range.
    static let limit = 10_000
}
