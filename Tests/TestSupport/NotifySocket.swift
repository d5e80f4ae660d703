import Foundation
import GridCore
#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's notification socket (`$NOTIFY_SOCKET`): the
/// notifications a program under test sends, one datagram each.
public final class NotifySocket {
    public let path: String
    private let fd: Int32

    public init(in folder: TemporaryDirectory) throws {
        path = folder.file("notify.sock")
        fd = UnixSocketAddress.datagramSocket()
        let socketFD = fd
        guard fd >= 0, UnixSocketAddress.with(path, { bind(socketFD, $0, $1) }) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "bind \(path): errno \(errno)"])
        }
    }

    deinit { close(fd) }

    /// The next notification, or nil when none comes within `timeoutSeconds`.
    public func receive(timeoutSeconds: Double) -> String? {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, Int32(timeoutSeconds * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
    }

    /// Notifications until one satisfies `predicate` (all of them, that one last), or nil on a
    /// silence of `timeoutSeconds`.
    public func until(timeoutSeconds: Double, _ predicate: (String) -> Bool) -> [String]? {
        var seen: [String] = []
        while let message = receive(timeoutSeconds: timeoutSeconds) {
            seen.append(message)
            if predicate(message) { return seen }
        }
        return nil
    }
}
