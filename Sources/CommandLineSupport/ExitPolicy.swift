import ArgumentParser
import ConfigFile
import GridCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The exit statuses both tools keep (docs/cli.md): scripts and systemd tell a wrong invocation
/// or configuration, which a restart will not mend, from a failure at run time.
public enum ExitStatus: Int32, Sendable {
    case success = 0
    /// A runtime failure: a broker, a database, a meter, a full disk.
    case runtime = 1
    /// A usage or configuration error: the command line, the configuration file, a key file.
    case usage = 2
}

/// A failure a command reports with its own message and status.
public struct CommandFailure: Error, Sendable {
    public let message: String
    public let status: ExitStatus

    public init(_ message: String, status: ExitStatus) {
        self.message = message
        self.status = status
    }

    public static func runtime(_ message: String) -> CommandFailure { CommandFailure(message, status: .runtime) }
    public static func usage(_ message: String) -> CommandFailure { CommandFailure(message, status: .usage) }
}

/// How a tool reports an error and exits, the same for both: one message on stderr after the
/// tool's name (a configuration's problems one per line beneath), and the status of the contract.
/// The tool maps the errors of its own libraries with `classify`; ArgumentParser's are its own
/// (`--help` and `--version` on stdout with 0, usage errors 2); anything else is a runtime failure.
public struct ExitPolicy: Sendable {
    public let tool: String
    private let classify: @Sendable (any Error) -> CommandFailure?

    public init(tool: String, classify: @escaping @Sendable (any Error) -> CommandFailure? = { _ in nil }) {
        self.tool = tool
        self.classify = classify
    }

    /// A line on stderr after the tool's name.
    public func complain(_ message: String) {
        StandardStream.error.write("\(tool): \(message)\n")
    }

    /// Reports `error` as `command`'s and exits with its status.
    public func exit<Command: ParsableCommand>(_ error: any Error, of command: Command.Type) -> Never {
        Glibc.exit(report(error, of: command).rawValue)
    }

    /// Prints the error once and picks its status.
    public func report<Command: ParsableCommand>(_ error: any Error, of command: Command.Type) -> ExitStatus {
        switch error {
        case let failure as CommandFailure:
            complain(failure.message)
            return failure.status
        case let error as ConfigError:
            complain("configuration is not valid:")
            for issue in error.issues { StandardStream.error.write("  \(issue)\n") }
            return .usage
        default:
            if let failure = classify(error) { return report(failure, of: command) }
            let code = command.exitCode(for: error)
            let message = command.fullMessage(for: error)
            if code == .success {
                StandardStream.output.write(message + "\n")
                return .success
            }
            complain(message.isEmpty ? String(describing: error) : message)
            return code == .validationFailure ? .usage : .runtime
        }
    }
}
