import Foundation
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
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard fd >= 0, bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "no socket at \(path)"])
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "bind \(path): errno \(errno)"]) }
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
