#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The systemd notification protocol (sd_notify(3)) without libsystemd: one datagram per
/// message to the socket in `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
/// Without that variable every call does nothing, so the programs run the same outside systemd.
public struct SystemdNotifier: Sendable {
    let socketPath: String?
    /// Half of `$WATCHDOG_USEC` when the watchdog is on for this process: how often to pet it.
    public let watchdogIntervalMs: Int?

    public init(socketPath: String?, watchdogIntervalMs: Int?) {
        self.socketPath = socketPath
        self.watchdogIntervalMs = watchdogIntervalMs
    }

    /// The notifier systemd set up for this process, if any.
    public static func fromEnvironment() -> SystemdNotifier {
        func variable(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        var interval: Int?
        // WATCHDOG_PID names the process meant when it is set (a child inherits the variables).
        if let usec = variable("WATCHDOG_USEC").flatMap(Int.init), usec > 0,
           variable("WATCHDOG_PID").flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            interval = max(1, usec / 2_000)
        }
        return SystemdNotifier(socketPath: variable("NOTIFY_SOCKET"), watchdogIntervalMs: interval)
    }

    /// Start-up finished; `status` is what `systemctl status` shows.
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    public func status(_ status: String) { send("STATUS=\(status)") }

    /// Still alive (only when the watchdog is on).
    public func watchdog() {
        if watchdogIntervalMs != nil { send("WATCHDOG=1") }
    }

    public func stopping(status: String) { send("STOPPING=1\nSTATUS=\(status)") }

    /// Sends one notification; false when there is no socket or it was not taken (systemd
    /// treats notifications as best effort, and so does this).
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard let socketPath, !socketPath.isEmpty else { return false }
        let fd = UnixSocketAddress.datagramSocket()
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let message = Array(state.utf8)
        let sent = UnixSocketAddress.with(socketPath) { address, length in
            sendto(fd, message, message.count, Int32(MSG_NOSIGNAL), address, length)
        }
        return sent == message.count
    }
}

/// A Unix-domain socket address: a path, or `@name` in the abstract namespace.
public enum UnixSocketAddress {
    /// Calls `body` with the address of `path` and its length; nil when the path is too long.
    public static func with<Result>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result? {
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        var address = sockaddr_un()
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        // An abstract name is exactly its bytes; a path ends with its NUL.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
    }

    /// A new datagram socket, closed on exec; negative on failure.
    public static func datagramSocket() -> Int32 {
        #if canImport(Glibc)
        socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
    }
}
