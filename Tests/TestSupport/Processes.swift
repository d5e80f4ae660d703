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
    public var description: String {
        switch self {
        case .timedOut(let command, let seconds): return "\(command) did not finish within \(seconds) s"
        }
    }
}

/// Runs child processes for the tests, always with a deadline, never leaving one behind.
public enum Processes {
    /// Runs to completion (output captured through files, so a chatty child cannot block on a pipe).
    public static func run(_ executable: String, _ arguments: [String], stdin: String? = nil,
                           environment: [String: String]? = nil, directory: String? = nil,
                           timeoutSeconds: Int = 300) throws -> ProcessOutcome {
        let scratch = TemporaryDirectory("proc")
        let outPath = scratch.file("stdout"), errPath = scratch.file("stderr")
        for path in [outPath, errPath] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = outHandle
        process.standardError = errHandle
        let input = Pipe()
        process.standardInput = input
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        unblockTerminationSignals()  // the child inherits this thread's mask: let SIGTERM reach it
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        if finished.wait(timeout: .now() + .seconds(timeoutSeconds)) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            throw ProcessError.timedOut(([executable] + arguments).joined(separator: " "), seconds: timeoutSeconds)
        }
        try? outHandle.close()
        try? errHandle.close()
        return ProcessOutcome(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "",
            signaled: process.terminationReason == .uncaughtSignal)
    }
}

/// A long-running child whose stdout is read line by line as it comes (e.g. to kill it mid-work)
/// and whose stdin takes commands.
public final class RunningProcess {
    public let process = Process()
    private let output = Pipe()
    private let input = Pipe()
    private var pending: [UInt8] = []
    private let finished = DispatchSemaphore(value: 0)

    /// `stderrPath`: where the child's stderr goes (default: the test's own stderr).
    /// `environment`: variables added to the test's own (e.g. `Faketime.environment`).
    public init(_ executable: String, _ arguments: [String], stderrPath: String? = nil, environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = output
        process.standardInput = input
        if let stderrPath {
            _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        } else {
            process.standardError = FileHandle.standardError
        }
        process.terminationHandler = { [finished] _ in finished.signal() }
        unblockTerminationSignals()  // the child inherits this thread's mask: let SIGTERM reach it
        try process.run()
    }

    /// The next line of stdout, or nil at end of output. Blocks until a line arrives.
    public func readLine() -> String? {
        let descriptor = output.fileHandleForReading.fileDescriptor
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            pending.append(contentsOf: chunk[0..<count])
        }
    }

    /// Writes one line to the child's stdin.
    public func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    public var isRunning: Bool { process.isRunning }

    public func kill(_ signal: Int32 = SIGKILL) {
        Foundation.kill(process.processIdentifier, signal)
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
        return process.terminationStatus
    }

    /// Waits for the child to end (after a kill, or on its own), with a deadline.
    @discardableResult
    public func wait(timeoutSeconds: Int = 60) -> Bool {
        finished.wait(timeout: .now() + .seconds(timeoutSeconds)) == .success
    }

    deinit {
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            finished.wait()
        }
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
