import Dispatch

/// A connection used from a dispatch queue of its own: its blocking SQLite calls (disk reads,
/// fsync, busy waits) run on that queue's thread, never on Swift's cooperative thread pool,
/// whose few threads (one per core) would otherwise sit waiting on the disk while other tasks
/// starve. Calls run one at a time, in the order made.
public final class SerialConnection: @unchecked Sendable {
    // Only touched on `queue`.
    private let connection: Connection
    private let queue: DispatchQueue

    public init(_ connection: Connection, label: String) {
        self.connection = connection
        queue = DispatchQueue(label: label)
    }

    /// Runs `body` with the connection on its queue and returns what it returns.
    public func run<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body(self.connection) }) }
        }
    }
}
