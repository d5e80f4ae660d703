import ArgumentParser
import CommandLineSupport
import ConfigFile
import LightNode
import Ledger
import GridCore
import Sodium

/// `lightnode`: the Light Node agent and its tools (command-line contract: docs/cli.md).
/// Exit statuses: `ExitPolicy` (0 success, 1 runtime failure, 2 usage or configuration error).
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
            exitPolicy.exit(error, of: Self.self)
        }
    }

    /// The shared exit policy, with the agent's own errors: a missing or foreign key or ledger is
    /// the installer's to mend (2); the rest is a runtime failure.
    static let exitPolicy = ExitPolicy(tool: "lightnode") { error in
        switch error {
        case let error as SodiumError:
            switch error {
            case .keyFile, .secretFile: return .usage(error.description)
            default: return .runtime(error.description)
            }
        case let error as AgentError:
            return .runtime(error.description)
        case let error as LedgerError:
            switch error {
            case .missing, .identityMismatch, .invalidArgument: return .usage(error.description)
            default: return .runtime(error.description)
            }
        default:
            return nil
        }
    }
}
