import ArgumentParser
import ConfigFile
import LightNode
import Ledger
import GridCore
import Sodium

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `lightnode`: the Light Node agent and its tools (command-line contract: docs/cli.md).
/// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
@main
struct Lightnode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lightnode",
        abstract: "Light Node: certified meter readings and signed set-points at the point of delivery.",
        subcommands: [RunCommand.self, CheckConfigCommand.self, ProbeCommand.self, StatusCommand.self,
                      KeygenCommand.self, PubkeyCommand.self, LedgerCommand.self]
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            Glibc.exit(report(error))
        }
    }

    /// Prints the error once, on stderr, and picks the exit code of the contract.
    static func report(_ error: any Error) -> Int32 {
        switch error {
        case let failure as CommandFailure:
            Console.error(failure.message)
            return failure.exitCode
        case let error as SodiumError:
            Console.error(error.description)
            switch error {
            case .keyFile, .secretFile: return 2
            default: break
            }
            return 1
        case let error as ConfigError:
            Console.error("configuration is not valid:")
            for issue in error.issues { StandardStream.error.write("  \(issue)\n") }
            return 2
        case let error as AgentError:
            Console.error(error.description)
            return 1
        case let error as LedgerError:
            Console.error(error.description)
            switch error {
            case .missing, .identityMismatch, .invalidArgument: return 2
            default: return 1
            }
        default:
            // Argument parsing: --help and --version exit 0 on stdout; usage errors exit 2.
            let code = exitCode(for: error)
            if code == .success {
                Console.output(fullMessage(for: error))
                return 0
            }
            Console.error(fullMessage(for: error))
            return code == .validationFailure ? 2 : code.rawValue
        }
    }
}

/// A failure a subcommand reports with its own message and exit code.
struct CommandFailure: Error {
    let message: String
    let exitCode: Int32

    static func runtime(_ message: String) -> CommandFailure { CommandFailure(message: message, exitCode: 1) }
    static func usage(_ message: String) -> CommandFailure { CommandFailure(message: message, exitCode: 2) }
}
