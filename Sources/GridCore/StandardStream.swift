#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Unbuffered writes to stdout/stderr by file descriptor: safe from any thread (C's `stdout`
/// globals are not), and nothing sits in a buffer when the process is killed.
public enum StandardStream: Int32, Sendable {
    case output = 1
    case error = 2

    public func write(_ text: String) {
        var text = text
        text.withUTF8 { _ = write(UnsafeRawBufferPointer($0)) }
    }

    /// Writes all bytes; returns false if the stream is closed or broken.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        writeAll(descriptor: rawValue, bytes)
    }
}

/// Writes every byte to a file descriptor, retrying short writes and EINTR.
public func writeAll(descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        #if canImport(Glibc)
        let count = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        #else
        let count = Darwin.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        #endif
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return false }
        offset += count
    }
    return true
}

/// Unblocks SIGTERM and SIGINT on the calling thread (and so on threads it starts later).
/// A parent may hand down a mask that blocks them (test runners, some supervisors do); a
/// process that must stop on request cannot rely on inheriting an empty mask.
public func unblockTerminationSignals() {
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    sigaddset(&set, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}
