import Foundation
import Synchronization

/// Waits for `condition` with a deadline, checking every `pollMilliseconds`: a readiness check,
/// never a fixed sleep. Returns whether it became true in time.
@discardableResult
public func waitUntil(timeoutSeconds: Double = 60, pollMilliseconds: UInt32 = 50, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeoutSeconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(pollMilliseconds * 1000)
    }
    return try condition()
}

public enum FreePort {
    /// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
    public static func allocate() -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func isListening(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

/// The project's meter simulator (`meter-sim`), on loopback TCP or on a serial device.
public final class MeterSimulatorProcess {
    public let process: RunningProcess
    /// The TCP port it listens on (nil in RTU mode).
    public let port: Int?

    public init(map: String, arguments: [String] = [], port: Int = 0, environment: [String: String] = [:]) throws {
        process = try RunningProcess(Paths.executable("meter-sim"), ["--map", map] + arguments
            + (arguments.contains("--rtu") ? [] : ["--listen", "127.0.0.1:\(port)"]), environment: environment)
        guard let ready = process.readLine(), ready.hasPrefix("listening ") else {
            throw ProcessError.failed("meter-sim did not start")
        }
        self.port = ready.hasPrefix("listening tcp") ? Int(ready.split(separator: ":").last!) : nil
    }

    /// Changes the injected fault (`none`, `timeout`, `exception 2`, `drop`, `garbage`, `delay 900`)
    /// and waits for the simulator to confirm it.
    public func fault(_ command: String) {
        process.send("fault \(command)")
        while let line = process.readLine(), line != "fault \(command)" {}
    }

    /// Reads lines until one starts with `prefix` (e.g. a `write` report).
    public func nextLine(startingWith prefix: String) -> String? {
        while let line = process.readLine() {
            if line.hasPrefix(prefix) { return line }
        }
        return nil
    }

    public func stop() {
        process.stop()
    }
}

/// A BMS/HMS stand-in: meter-sim with a block of writable holding registers, every write it
/// receives collected in order (read on a thread of its own, so waiting never blocks on a pipe).
public final class BMSSimulatorProcess: @unchecked Sendable {
    public let process: RunningProcess
    public let port: Int
    private final class Log: Sendable {
        let writes = Mutex<[(address: Int, words: [UInt16])]>([])
    }

    private let received = Log()
    private let reader: Thread

    public init(map: String, holding: ClosedRange<Int>) throws {
        process = try RunningProcess(Paths.executable("meter-sim"),
                                     ["--map", map, "--holding", "\(holding.lowerBound)-\(holding.upperBound)", "--listen", "127.0.0.1:0"])
        guard let ready = process.readLine(), ready.hasPrefix("listening tcp"), let port = Int(ready.split(separator: ":").last!) else {
            throw ProcessError.failed("meter-sim (BMS) did not start")
        }
        self.port = port
        nonisolated(unsafe) let process = self.process  // read only by this thread from now on
        let received = self.received
        reader = Thread {
            while let line = process.readLine() {
                let fields = line.split(separator: " ")
                guard fields.first == "write", fields.count >= 3, let address = Int(fields[1]) else { continue }
                let words = fields.dropFirst(2).compactMap { UInt16($0) }
                received.writes.withLock { $0.append((address, words)) }
            }
        }
        reader.start()
    }

    /// Every write so far, oldest first.
    public var writes: [(address: Int, words: [UInt16])] { received.writes.withLock { $0 } }

    /// The writes to `address`, decoded as big-endian signed 32-bit values.
    public func int32Writes(at address: Int) -> [Int32] {
        writes.filter { $0.address == address && $0.words.count == 2 }
            .map { Int32(bitPattern: UInt32($0.words[0]) << 16 | UInt32($0.words[1])) }
    }

    public func stop() {
        process.stop()
    }
}

/// pymodbus (PyPI), an independent Modbus implementation, serving registers that Python encodes
/// itself from a JSON list of {function, address, type, word_order, scale, offset, value}.
public final class PyModbusServer {
    public let process: RunningProcess
    public let port: Int

    public init(registers: [[String: Any]], unit: Int = 1) throws {
        let python = try Paths.python ?? { throw ProcessError.failed("no Python venv for pymodbus") }()
        port = FreePort.allocate()
        let spec = try JSONSerialization.data(withJSONObject: registers)
        process = try RunningProcess(python, [Paths.pythonScript("modbus_peer.py"), "--port", String(port),
                                              "--unit", String(unit), "--registers", String(decoding: spec, as: UTF8.self)])
        guard waitUntil(timeoutSeconds: 60, { FreePort.isListening(port) }) else {
            throw ProcessError.timedOut("pymodbus server on port \(port)", seconds: 60)
        }
    }

    /// SIGKILL: a third-party peer may have inherited a mask that blocks SIGTERM from the test runner.
    public func stop() {
        process.stop(SIGKILL)
    }
}

/// A pair of connected pseudo-terminals (socat), standing in for an RS-485 line.
public final class SerialLine {
    public let process: RunningProcess
    public let deviceA: String
    public let deviceB: String

    public init(in folder: TemporaryDirectory) throws {
        deviceA = folder.file("ttyA")
        deviceB = folder.file("ttyB")
        process = try RunningProcess("/usr/bin/socat", ["-d", "-d", "pty,raw,echo=0,link=\(deviceA)",
                                                         "pty,raw,echo=0,link=\(deviceB)"],
                                     stderrPath: folder.file("socat.log"))
        guard waitUntil(timeoutSeconds: 30, { [deviceA, deviceB] in
            FileManager.default.fileExists(atPath: deviceA) && FileManager.default.fileExists(atPath: deviceB)
        }) else { throw ProcessError.timedOut("socat pty pair", seconds: 30) }
    }

    /// SIGKILL, as for every third-party peer (SIGTERM may be blocked in the inherited mask).
    public func stop() {
        process.stop(SIGKILL)
    }
}

/// A real Mosquitto broker (Debian's `mosquitto`) on a loopback port of its own, with the
/// project's settings or a test's; stopped and restarted on the same port for outage tests.
public final class MosquittoBroker {
    public let port: Int
    public let folder: TemporaryDirectory
    private let configPath: String
    public private(set) var process: RunningProcess?

    /// `settings`: extra mosquitto.conf lines (ACL, passwords, persistence, …).
    public init(settings: String = "allow_anonymous true\n", port: Int = FreePort.allocate()) throws {
        self.port = port
        folder = TemporaryDirectory("mosquitto")
        configPath = folder.file("mosquitto.conf")
        let config = """
            listener \(port) 127.0.0.1
            persistence true
            persistence_location \(folder.path)/
            autosave_interval 1
            # Started as root, mosquitto would switch to user "mosquitto", which cannot write the
            # persistence file in this test's private folder (then sessions vanish on restart).
            user root
            log_dest stderr
            \(settings)
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        try start()
    }

    public func start() throws {
        process = try RunningProcess("/usr/sbin/mosquitto", ["-c", configPath], stderrPath: folder.file("mosquitto.log"))
        guard waitUntil(timeoutSeconds: 60, { [port] in FreePort.isListening(port) }) else {
            throw ProcessError.timedOut("mosquitto on port \(port)", seconds: 60)
        }
    }

    /// Stops the broker: SIGTERM (it saves its persistent sessions), or SIGKILL to simulate a crash.
    public func stop(signal: Int32 = SIGTERM) {
        process?.kill(signal)
        process?.wait()
        process = nil
    }

    public var log: String { (try? String(contentsOfFile: folder.file("mosquitto.log"), encoding: .utf8)) ?? "" }

    deinit {
        stop(signal: SIGKILL)
    }
}

/// dnsmasq (Debian `dnsmasq-base`) serving DNS records on loopback, on a free port: the TXT and
/// CNAME records UFTP discovery reads. Nothing else: no upstream, no hosts file, no DHCP.
public final class DNSServer {
    public let port: Int
    private let folder = TemporaryDirectory("dnsmasq")
    private let process: RunningProcess

    /// `txt`: name → the record's text; `cname`: alias → target; `hosts`: name → IPv4 address
    /// (a CNAME's target must be one of them).
    /// `port`: a server's port again, to stand in for one stopped (its records changed).
    public init(txt: [(String, String)] = [], cname: [(String, String)] = [], hosts: [(String, String)] = [],
                port: Int = FreePort.allocate()) throws {
        self.port = port
        let log = folder.file("dnsmasq.log")
        let arguments = [
            "--keep-in-foreground", "--port=\(port)", "--listen-address=127.0.0.1", "--bind-interfaces",
            "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file", "--log-facility=-", "--log-queries",
        ] + txt.map { "--txt-record=\($0.0),\($0.1)" } + hosts.map { "--host-record=\($0.0),\($0.1)" }
          + cname.map { "--cname=\($0.0),\($0.1)" }
        process = try RunningProcess("/usr/sbin/dnsmasq", arguments, stderrPath: log)
        // It logs "started" once its sockets are bound.
        guard waitUntil(timeoutSeconds: 60, { (try? String(contentsOfFile: log, encoding: .utf8))?.contains("started") == true }) else {
            throw ProcessError.timedOut("dnsmasq on port \(port): \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")", seconds: 60)
        }
    }

    public var log: String { (try? String(contentsOfFile: folder.file("dnsmasq.log"), encoding: .utf8)) ?? "" }

    public func stop() {
        if process.isRunning { process.stop() }
    }

    deinit {
        stop()
    }
}

/// A reference-implementation peer (a script of Tests/python run from the test venv) and the
/// JSON lines it prints. Killed after `limit` seconds, which ends its output: a test fails
/// instead of waiting forever on a hung peer.
public final class ReferencePeer {
    private let process: RunningProcess
    private let watchdog: DispatchWorkItem
    private let logPath: String
    private var lines: [[String: Any]] = []

    public init(script: String, _ arguments: [String], log logPath: String, limit: Double) throws {
        guard let python = Paths.python else { throw ProcessError.failed("no Python venv for \(script)") }
        self.logPath = logPath
        process = try RunningProcess(python, [Paths.pythonScript(script)] + arguments, stderrPath: logPath)
        let pid = process.child.pid
        watchdog = DispatchWorkItem {
            _ = kill(pid, SIGUSR1)  // its threads' stacks, in its log
            Thread.sleep(forTimeInterval: 1)
            _ = kill(pid, SIGKILL)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: watchdog)
    }

    deinit {
        watchdog.cancel()
        process.stop()
    }

    /// The first line matching `predicate`, read as far as needed (lines come in any order).
    public func line(_ predicate: ([String: Any]) -> Bool) -> [String: Any]? {
        if let seen = lines.first(where: predicate) { return seen }
        while let text = process.readLine() {
            guard let json = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { continue }
            lines.append(json)
            if predicate(json) { return json }
        }
        return nil
    }

    /// The lines it printed, as far as they were read.
    public var printed: [[String: Any]] { lines }

    /// Its log, and the lines it printed as far as they were read.
    public var log: String {
        let printed = lines.compactMap { try? JSONSerialization.data(withJSONObject: $0) }.map { String(decoding: $0, as: UTF8.self) }
        return ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "") + "\nprinted:\n" + printed.joined(separator: "\n")
    }
}
