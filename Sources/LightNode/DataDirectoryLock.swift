#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One agent per data folder: an exclusive `flock` on `<data_dir>/lightnode.lock`, released by
/// the kernel when the process ends however it ends (so a kill -9 leaves no stale lock).
public final class DataDirectoryLock {
    private let descriptor: Int32

    public init(dataDirectory: String) throws(AgentError) {
        _ = mkdir(dataDirectory, 0o700)
        let path = dataDirectory + "/lightnode.lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw AgentError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw AgentError("another lightnode is already running on \(dataDirectory) (\(path) is locked)")
        }
    }

    deinit {
        close(descriptor)
    }
}

public struct AgentError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
