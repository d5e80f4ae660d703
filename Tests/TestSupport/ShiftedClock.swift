import Foundation

/// A wall clock at real speed from another instant, shared by a coordinator (`[clock]`) and the
/// programs tested with it (libfaketime): a test begins a few minutes before an ISP boundary
/// instead of waiting for one, so that orders placed in it are ahead of `dispatch_lead_s`.
public struct ShiftedClock: Sendable {
    public let realStart: Date
    public let start: Date

    /// `lead` seconds before the next quarter-hour boundary at least `lead` seconds from now.
    public init(secondsBeforeQuarterHour lead: Double) {
        let now = Date().timeIntervalSince1970.rounded(.up)  // libfaketime takes whole seconds
        let boundary = ((now + lead) / 900).rounded(.up) * 900
        realStart = Date(timeIntervalSince1970: now)
        start = Date(timeIntervalSince1970: boundary - lead)
    }

    public var now: Date { start.addingTimeInterval(Date().timeIntervalSince(realStart)) }

    /// The coordinator's `[clock]` section.
    public var coordinatorSection: String {
        "[clock]\nstart = \"\(start.ISO8601Format())\"\nreal_start = \"\(realStart.ISO8601Format())\"\nspeed = 1\n"
    }

    /// libfaketime for a program started now.
    public var environment: [String: String] { Faketime.environment(startingAt: now, speed: 1) }
}
