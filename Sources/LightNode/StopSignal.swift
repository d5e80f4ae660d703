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
/// rings a doorbell with the signal number, so it works whichever thread the kernel picks.
public final class StopSignal: Sendable {
    private let doorbell = Doorbell()
    private let received = Atomic<Int32>(0)

    public init() {
        signalPipeWrite.store(doorbell.writeEnd, ordering: .sequentiallyConsistent)
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
            guard let number = doorbell.wait(until: deadline) else { return true }
            received.store(Int32(number), ordering: .relaxed)
        }
        return false
    }
}
