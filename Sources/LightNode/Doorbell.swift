#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GridCore

/// A self-pipe that wakes a thread waiting for a wall-clock deadline: another thread, or a
/// signal handler (write(2) is async-signal-safe), rings it with one byte.
///
/// The wait is select(2) with a timeout computed from the wall clock, not a semaphore's timed
/// wait: a relative timeout on the clock the deadline is on is what libfaketime speeds up too,
/// so the agent keeps its schedule on a sped-up clock (the demo day, `make run`).
final class Doorbell: Sendable {
    private let readEnd: Int32
    let writeEnd: Int32

    init() {
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0, "cannot create a pipe")
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        readEnd = ends[0]
        writeEnd = ends[1]
    }

    /// Wakes the waiter (a full pipe is already ringing).
    func ring(_ byte: UInt8 = 1) {
        var byte = byte
        _ = write(writeEnd, &byte, 1)
    }

    /// Waits until the wall clock reaches `deadline` or the bell rings; the last byte rung (the
    /// pipe is drained), nil at the deadline.
    func wait(until deadline: Timestamp) -> UInt8? {
        while true {
            var remaining = deadline.millisecondsSince1970 * 1_000_000 - Self.nowNanoseconds()
            if remaining <= 0 { return drain() }
            // Linux lets select wake up to 0.1 % of its timeout late (timer slack: 4 ms on a 4 s
            // wait), so a long wait stops 10 ms short and a short final wait hits the deadline.
            if remaining > 20_000_000 { remaining -= 10_000_000 }
            // select: a microsecond timeout (poll's is whole milliseconds).
            var timeout = timeval(tv_sec: Int(remaining / 1_000_000_000), tv_usec: Int(remaining % 1_000_000_000) / 1000)
            var descriptors = fd_set()  // zero-filled: the empty set
            withUnsafeMutableBytes(of: &descriptors) { bytes in  // FD_SET, a macro Swift cannot import
                bytes[Int(readEnd) / 8] |= UInt8(1 << (readEnd % 8))
            }
            if select(readEnd + 1, &descriptors, nil, nil, &timeout) > 0, let byte = drain() { return byte }
        }
    }

    /// The last byte in the pipe, nil when it is empty.
    private func drain() -> UInt8? {
        var last: UInt8?
        var byte: UInt8 = 0
        while read(readEnd, &byte, 1) == 1 { last = byte }
        return last
    }

    /// Nanoseconds of the wall clock (CLOCK_REALTIME), for sub-millisecond deadlines.
    static func nowNanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
