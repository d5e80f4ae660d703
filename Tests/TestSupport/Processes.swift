import Foundation
import GridCore

/// What a finished child process did.
public struct ProcessOutcome: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    /// True when it ended by a signal (`status` is then the signal number).
    public let signaled: Bool
}

public enum ProcessError: Error, CustomStringConvertible {
    case timedOut(String, seconds: Int)
    case failed(String)
    public var description: String {
        switch self {
        case .timedOut(let command, let seconds): return "\(command) did not finish within \(seconds) s"
        case .failed(let problem): return problem
        }
    }
}

/// A child started with posix_spawn(3), holding only the standard descriptors it was given,
/// and reaped by a thread of its own.
///
/// Not Foundation's `Process`: on Linux it learns of a child's end from a socket the child
/// inherits, and a child spawned by another thread at the same moment can inherit that socket
/// too. A short command's end then went unnoticed until some server started beside it stopped
/// (CI: `chown` "did not finish within 300 s"). Here the end is `waitpid`'s answer, and every
/// descriptor above stderr is closed in the child.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let ended = NSCondition()
    private var waitStatus: Int32?  // guarded by `ended`

    // glibc has it since 2.34, behind _GNU_SOURCE, which Swift's Glibc module is not built with.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private static let addCloseFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }
    private static let addChdir = dlsym(nil, "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: AddChdir.self) }

    /// `environment`: variables added to the test's own. `stdin`/`stdout`/`stderr`: descriptors
    /// the child gets as 0, 1 and 2 (the caller keeps and closes its own).
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                directory: String? = nil, stdin: Int32, stdout: Int32, stderr: Int32) throws {
        guard let addCloseFrom = Self.addCloseFrom, let addChdir = Self.addChdir else {
            throw ProcessError.failed("posix_spawn_file_actions_addclosefrom_np is missing (glibc 2.34 or later needed)")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (descriptor, target) in [(stdin, STDIN_FILENO), (stdout, STDOUT_FILENO), (stderr, STDERR_FILENO)] {
            posix_spawn_file_actions_adddup2(&actions, descriptor, target)
        }
        _ = addCloseFrom(&actions, 3)
        if let directory { _ = addChdir(&actions, directory) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A process group of its own, as Foundation gave it; no blocked signals whatever the
        // calling thread's mask (test runners may block SIGTERM): it must stop on request.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK))

        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let error = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard error == 0 else { throw ProcessError.failed("\(executable): \(String(cString: strerror(error)))") }
        self.pid = pid
        Thread.detachNewThread { [self, pid] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            ended.lock()
            waitStatus = status
            ended.broadcast()
            ended.unlock()
        }
    }

    /// Waits until the child has ended; false if it has not within `timeoutSeconds`.
    @discardableResult
    public func wait(timeoutSeconds: Double = .infinity) -> Bool {
        let deadline = timeoutSeconds.isFinite ? Date().addingTimeInterval(timeoutSeconds) : nil
        ended.lock()
        defer { ended.unlock() }
        while waitStatus == nil {
            guard let deadline else { ended.wait(); continue }
            if !ended.wait(until: deadline) { return waitStatus != nil }
        }
        return true
    }

    public var isRunning: Bool {
        ended.lock()
        defer { ended.unlock() }
        return waitStatus == nil
    }

    /// The exit status, or the signal's number when it ended by one (`signaled`); nil while it runs.
    public var outcome: (status: Int32, signaled: Bool)? {
        ended.lock()
        defer { ended.unlock() }
        guard let status = waitStatus else { return nil }
        let signal = status & 0x7f
        return signal == 0 ? ((status >> 8) & 0xff, false) : (signal, true)
    }

    public func signal(_ signal: Int32) {
        if isRunning { _ = kill(pid, signal) }
    }
}

/// Runs child processes for the tests, always with a deadline, never leaving one behind.
public enum Processes {
    /// Runs to completion (output captured through files, so a chatty child cannot block on a pipe).
    public static func run(_ executable: String, _ arguments: [String], stdin: String? = nil,
                           environment: [String: String] = [:], directory: String? = nil,
                           timeoutSeconds: Int = 300) throws -> ProcessOutcome {
        let scratch = TemporaryDirectory("proc")
        let outPath = scratch.file("stdout"), errPath = scratch.file("stderr")
        let output = open(outPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let errors = open(errPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { [output, errors].filter { $0 >= 0 }.forEach { close($0) } }
        guard output >= 0, errors >= 0 else { throw ProcessError.failed("\(scratch.path): \(String(cString: strerror(errno)))") }
        var input = try Pipe2()
        let child: ChildProcess
        do {
            child = try ChildProcess(executable, arguments, environment: environment, directory: directory,
                                     stdin: input.read, stdout: output, stderr: errors)
        } catch {
            input.closeWrite()
            throw error
        }
        input.closeRead()
        if let stdin { _ = Array(stdin.utf8).withUnsafeBytes { writeAll(descriptor: input.write, $0) } }
        input.closeWrite()
        guard child.wait(timeoutSeconds: Double(timeoutSeconds)) else {
            child.signal(SIGKILL)
            child.wait()
            throw ProcessError.timedOut(([executable] + arguments).joined(separator: " "), seconds: timeoutSeconds)
        }
        let (status, signaled) = child.outcome!
        return ProcessOutcome(
            status: status,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
            signaled: signaled)
    }
}

/// A pipe whose ends a child gets only as a standard descriptor (`ChildProcess` closes the rest).
struct Pipe2 {
    private(set) var read: Int32
    private(set) var write: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw ProcessError.failed("pipe2: \(String(cString: strerror(errno)))") }
        (read, write) = (ends[0], ends[1])
    }

    mutating func closeRead() {
        if read >= 0 { close(read); read = -1 }
    }

    mutating func closeWrite() {
        if write >= 0 { close(write); write = -1 }
    }
}

/// A long-running child whose stdout is read line by line as it comes (e.g. to kill it mid-work)
/// and whose stdin takes commands.
public final class RunningProcess {
    public let child: ChildProcess
    private var output: Pipe2
    private var input: Pipe2
    private var pending: [UInt8] = []

    /// `stderrPath`: where the child's stderr goes (default: the test's own stderr).
    /// `environment`: variables added to the test's own (e.g. `Faketime.environment`).
    public init(_ executable: String, _ arguments: [String], stderrPath: String? = nil, environment: [String: String] = [:]) throws {
        output = try Pipe2()
        input = try Pipe2()
        var errors = STDERR_FILENO
        if let stderrPath {
            errors = open(stderrPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard errors >= 0 else { throw ProcessError.failed("\(stderrPath): \(String(cString: strerror(errno)))") }
        }
        defer { if errors != STDERR_FILENO { close(errors) } }
        do {
            child = try ChildProcess(executable, arguments, environment: environment,
                                     stdin: input.read, stdout: output.write, stderr: errors)
        } catch {
            output.closeRead(); output.closeWrite(); input.closeRead(); input.closeWrite()
            throw error
        }
        output.closeWrite()  // so that its end is the end of output
        input.closeRead()
    }

    /// The next line of stdout, or nil at end of output. Blocks until a line arrives.
    public func readLine() -> String? {
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { Glibc.read(output.read, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            pending.append(contentsOf: chunk[0..<count])
        }
    }

    /// Writes one line to the child's stdin.
    public func send(_ line: String) {
        _ = Array((line + "\n").utf8).withUnsafeBytes { writeAll(descriptor: input.write, $0) }
    }

    public var isRunning: Bool { child.isRunning }

    public func kill(_ signal: Int32 = SIGKILL) {
        child.signal(signal)
    }

    /// Sends `signal`, then the exit status; -9 (SIGKILL sent) if it has not exited within
    /// `timeoutSeconds`.
    @discardableResult
    public func stop(_ signal: Int32 = SIGTERM, timeoutSeconds: Int = 60) -> Int32 {
        kill(signal)
        guard wait(timeoutSeconds: timeoutSeconds) else {
            kill(SIGKILL)
            _ = wait(timeoutSeconds: timeoutSeconds)
            return -9
        }
        return child.outcome!.status
    }

    /// Waits for the child to end (after a kill, or on its own), with a deadline.
    @discardableResult
    public func wait(timeoutSeconds: Int = 60) -> Bool {
        child.wait(timeoutSeconds: Double(timeoutSeconds))
    }

    deinit {
        if child.isRunning {
            child.signal(SIGKILL)
            child.wait()
        }
        output.closeRead()
        input.closeWrite()
    }
}

/// libfaketime (Debian package `faketime`), preloaded into a child so that its clocks, sleeps
/// and timeouts run from another start and at another speed: hours of a meter's life in minutes.
public enum Faketime {
    public static let library = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"

    public static var available: Bool { FileManager.default.fileExists(atPath: library) }

    /// The variables that start a child's clock at `start` (UTC) and run it `speed` times faster.
    public static func environment(startingAt start: Date, speed: Int) -> [String: String] {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        // Without FAKETIME_SHARED the library setenv()s one at load, which moves `environ`, and
        // Swift on Linux finds argv from `environ`: the child would see no arguments. Names that
        // do not exist keep the variable set and each child on a clock of its own.
        return ["LD_PRELOAD": library, "TZ": "UTC", "FAKETIME": "@\(formatter.string(from: start)) x\(speed)",
                "FAKETIME_SHARED": "/lightnode-tests-no-sem /lightnode-tests-no-shm"]
    }
}
