#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GridCore
import Synchronization

/// The write end of the self-pipe, read by the signal handler (an atomic load and a write(2)
/// are async-signal-safe).
private let signalPipeWrite = Atomic<Int32>(-1)

/// SIGTERM and SIGINT as an event the agent waits for alongside its deadlines: the handler
/// writes the signal number to a pipe, so it works whichever thread the kernel picks.
public final class StopSignal: Sendable {
    private let readEnd: Int32
    private let received = Atomic<Int32>(0)

    public init() {
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0, "cannot create the signal pipe")
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        readEnd = ends[0]
        signalPipeWrite.store(ends[1], ordering: .sequentiallyConsistent)
        for signalNumber in [SIGTERM, SIGINT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(signalPipeWrite.load(ordering: .relaxed), &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(signalNumber, &action, nil)
        }
        unblockTerminationSignals()
    }

    /// The signal that asked us to stop (0: none yet).
    public var signal: Int32 { received.load(ordering: .relaxed) }

    /// Waits until the wall clock reaches `deadline`; false if a stop signal came first.
    public func wait(until deadline: Timestamp) -> Bool {
        while signal == 0 {
            var remaining = deadline.millisecondsSince1970 * 1_000_000 - Self.nowNanoseconds()
            if remaining <= 0 { return true }
            // Linux lets select wake up to 0.1 % of its timeout late (timer slack: 4 ms on a 4 s
            // wait), so a long wait stops 10 ms short and a short final wait hits the deadline.
            if remaining > 20_000_000 { remaining -= 10_000_000 }
            // select: a microsecond timeout (poll's is whole milliseconds), and the pipe wakes it early.
            var timeout = timeval(tv_sec: Int(remaining / 1_000_000_000), tv_usec: Int(remaining % 1_000_000_000) / 1000)
            var descriptors = fd_set()  // zero-filled: the empty set
            Self.add(readEnd, to: &descriptors)
            if select(readEnd + 1, &descriptors, nil, nil, &timeout) > 0 {
                var byte: UInt8 = 0
                if read(readEnd, &byte, 1) == 1 { received.store(Int32(byte), ordering: .relaxed) }
            }
        }
        return false
    }

    /// FD_SET, which Swift cannot import (a macro).
    private static func add(_ descriptor: Int32, to set: inout fd_set) {
        withUnsafeMutableBytes(of: &set) { bytes in
            bytes[Int(descriptor) / 8] |= UInt8(1 << (descriptor % 8))
        }
    }

    /// Nanoseconds of the wall clock (CLOCK_REALTIME), for sub-millisecond deadlines.
    static func nowNanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
