import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A wall clock that reads `start` at the real instant `realStart` and runs `speed` times
/// faster: a platform playing a market day in minutes for a demonstration or a training
/// (coordinator `[clock]`). Once installed, `Timestamp.now()` reads it. Only the wall clock
/// moves: timers, timeouts and log lines keep real time.
///
/// Why not libfaketime, as for the Light Node: it converts absolute timer deadlines as if they
/// were CLOCK_REALTIME, and Dispatch (under Swift concurrency's sleeps) arms CLOCK_MONOTONIC
/// timerfds with absolute deadlines, so a sped-up coordinator's tasks would never wake.
public struct SimulatedClock: Sendable, Equatable {
    public let start: Timestamp
    public let realStart: Timestamp
    public let speed: Double

    public init(start: Timestamp, realStart: Timestamp, speed: Double) {
        self.start = start
        self.realStart = realStart
        self.speed = speed
    }

    /// The simulated time at the real instant `real`.
    public func time(atReal real: Timestamp) -> Timestamp {
        let elapsed = Double(real.millisecondsSince1970 - realStart.millisecondsSince1970) * speed
        return start.adding(milliseconds: Int64(elapsed.rounded(.down)))
    }

    private static let installed = Mutex<SimulatedClock?>(nil)

    /// Makes `Timestamp.now()` read `clock` from now on (nil: the real clock again).
    public static func install(_ clock: SimulatedClock?) {
        installed.withLock { $0 = clock }
    }

    static var current: SimulatedClock? { installed.withLock { $0 } }
}

extension Timestamp {
    /// The wall clock now, truncated to the millisecond: CLOCK_REALTIME, or the simulated clock
    /// when one is installed.
    public static func now() -> Timestamp {
        let real = realNow()
        guard let clock = SimulatedClock.current else { return real }
        return clock.time(atReal: real)
    }

    /// CLOCK_REALTIME, truncated to the millisecond, whatever clock is installed.
    public static func realNow() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(millisecondsSince1970: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
    }
}
