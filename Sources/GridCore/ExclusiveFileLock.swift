#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One process at a time on a resource: an exclusive `flock` on a lock file, released by the
/// kernel when the process ends however it ends (so a kill -9 leaves no stale lock).
public final class ExclusiveFileLock: Sendable {
    /// Why the lock was not taken: the file cannot be opened, or another process holds it.
    public enum Failure: Error, Sendable {
        case cannotOpen(path: String, reason: String)
        case held(path: String)
    }

    private let descriptor: Int32

    public init(path: String) throws(Failure) {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .held(path: path)
        }
    }

    deinit {
        close(descriptor)
    }
}
