import Foundation
import ArgumentParser
import CommandLineSupport
import ConfigFile
import Coordinator
import GridCore
import Logging
import Market
import SCD
import Sodium
import UFTP

/// `coordinator`: the platform service and its admin commands (docs/cli.md).
/// Exit statuses: `ExitPolicy` (0 success, 1 runtime failure, 2 usage or configuration error).
@main
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Coordinator: certified readings into the Shared Customer Database, and its REST API.",
        subcommands: [Serve.self, CheckConfig.self, NodeCommand.self, PODCommand.self, TokenCommand.self, UFTPCommand.self,
                      CROCommand.self, ClearCommand.self]
    )

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exitPolicy.exit(error, of: Self.self)
        }
    }

    /// The shared exit policy; the SCD's errors are runtime failures.
    static let exitPolicy = ExitPolicy(tool: "coordinator") { error in
        (error as? SCDError).map { .runtime($0.message) }
    }
}

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "Coordinator configuration file (TOML).")
    var config: String

    func load() throws -> CoordinatorConfig { try CoordinatorConfig.load(file: config) }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Ingest, certify and serve the SCD (foreground).")
    @OptionGroup var options: ConfigOption
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        let config = try options.load()
        guard let level = Logger.Level(rawValue: logLevel) else { throw CommandFailure.usage("--log-level: unknown level \(logLevel)") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        unblockTerminationSignals()
        try await CoordinatorServer.run(config: config, logger: Logger(label: "coordinator"))
    }
}

/// `coordinator clear --input FILE`: the what-if tool. Clears a scenario (docs/market.md) as the
/// market would, validates it against the scenario's congestion-point limits, and prints the
/// preliminary and final outcomes as JSON; needs no configuration and touches nothing.
struct ClearCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear",
                                                    abstract: "Clear a market scenario (JSON; docs/market.md) and print the outcome.")
    @Option(name: .long, help: "The scenario (JSON); - reads standard input.") var input: String

    func run() async throws {
        let json = input == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: input))
        do {
            StandardStream.output.write(try Scenario(json: json).run().json() + "\n")
        } catch {
            throw CommandFailure.usage("\(input): \(error)")
        }
    }
}

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Validate the configuration.")
    @OptionGroup var options: ConfigOption

    func run() async throws {
        _ = try options.load()
        StandardStream.output.write("configuration is valid\n")
    }
}

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "node", abstract: "Light Node registry.",
                                                    subcommands: [Add.self, Release.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a Light Node, or add a new key to it (rotation: older entries keep verifying).")
        @OptionGroup var options: ConfigOption
        @Option(name: .long, help: "Node id (its MQTT username).") var node: String
        @Option(name: .long, help: "The POD it meters.") var pod: String
        @Option(name: .long, help: "Base64 Ed25519 public key (`lightnode keygen` prints it).") var key: String
        @Option(name: .long, help: "The meter whose readings are the POD's measurements.") var meter: String = "main"
        @Option(name: .long, help: "Congestion point (EAN) of the POD.") var congestionPoint: String?

        func run() async throws {
            let config = try options.load()
            let record: NodeRecord
            do {
                record = try NodeRecord(validatingID: node, pod: pod, meter: meter, key: key)
            } catch {
                throw CommandFailure.usage("--\(error.field): \(error.message)")
            }
            let store = try await openStore(config, logger: Logger(label: "coordinator"), administration: true)
            try await store.addNode(record)
            if let congestionPoint {
                var pod = try await store.pod(record.pod) ?? PODRecord(id: record.pod)
                pod.congestionPoint = congestionPoint
                try await store.upsertPOD(pod)
            }
            StandardStream.error.write("coordinator: node \(record.id) registered for POD \(record.pod)\n")
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift a node's quarantine after investigating it.")
        @OptionGroup var options: ConfigOption
        @Option(name: .long, help: "Node id.") var node: String

        func run() async throws {
            let store = try await openStore(try options.load(), logger: Logger(label: "coordinator"), administration: true)
            guard try await store.node(node) != nil else { throw CommandFailure.usage("no node \(node)") }
            try await store.releaseQuarantine(node: node)
        }
    }
}

struct PODCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pod", abstract: "POD registry.", subcommands: [Set.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a POD or change who is responsible for it.")
        @OptionGroup var options: ConfigOption
        @Option(name: .long, help: "POD id.") var pod: String
        @Option(name: .long) var customer: String?
        @Option(name: .long) var connectionEan: String?
        @Option(name: .long) var congestionPoint: String?
        @Option(name: .long, help: "Aggregator participant id.") var aggregator: String?
        @Option(name: .long, help: "Balance responsible party participant id.") var brp: String?
        @Option(name: .long, help: "Flexibility-resource owner.") var frOwner: String?

        func run() async throws {
            guard Identifier.isValid(pod) else { throw CommandFailure.usage("--pod must be \(Identifier.rule)") }
            let store = try await openStore(try options.load(), logger: Logger(label: "coordinator"), administration: true)
            var record = try await store.pod(pod) ?? PODRecord(id: pod)
            record.customer = customer ?? record.customer
            record.connectionEAN = connectionEan ?? record.connectionEAN
            record.congestionPoint = congestionPoint ?? record.congestionPoint
            record.aggregator = aggregator ?? record.aggregator
            record.brp = brp ?? record.brp
            record.frOwner = frOwner ?? record.frOwner
            try await store.upsertPOD(record)
        }
    }
}

struct CROCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cro", abstract: "The DSOs and aggregators the Common Reference serves in closed mode.", subcommands: [Add.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a DSO or aggregator by its UFTP domain, or rename one.")
        @OptionGroup var options: ConfigOption
        @Option(name: .long, help: "DSO or AGR.") var role: String
        @Option(name: .long, help: "Its UFTP internet domain.") var domain: String
        @Option(name: .long, help: "Its name.") var name: String

        func run() async throws {
            guard let parsed = CROParticipant.Role(rawValue: role) else {
                throw CommandFailure.usage("--role must be DSO or AGR")
            }
            guard (try? InternetDomain(validating: domain)) != nil else {
                throw CommandFailure.usage("--domain must be a lower-case internet domain, not \"\(domain)\"")
            }
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw CommandFailure.usage("--name must not be empty") }
            let store = try await openStore(try options.load(), logger: Logger(label: "coordinator"), administration: true)
            try await store.registerCROParticipant(CROParticipant(role: parsed, domain: domain, name: name))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered DSOs and aggregators (role, domain, name; tab-separated).")
        @OptionGroup var options: ConfigOption

        func run() async throws {
            let store = try await openStore(try options.load(), logger: Logger(label: "coordinator"), administration: true)
            for participant in try await store.croParticipants() {
                StandardStream.output.write("\(participant.role.rawValue)\t\(participant.domain)\t\(participant.name)\n")
            }
        }
    }
}

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "API bearer tokens.", subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a bearer token; it is printed once on stdout and stored only as its SHA-256.")
        @OptionGroup var options: ConfigOption
        @Option(name: .long, help: "DSO, TSO, AGR, BRP, MO or admin.") var role: String
        @Option(name: .long, help: "The participant the token acts for (required for AGR and BRP).") var participant: String?

        func run() async throws {
            guard let parsed = Role(rawValue: role) else {
                throw CommandFailure.usage("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if (parsed == .aggregator || parsed == .brp) && participant == nil {
                throw CommandFailure.usage("--participant is required for role \(parsed.rawValue)")
            }
            let store = try await openStore(try options.load(), logger: Logger(label: "coordinator"), administration: true)
            let token = "scd_" + Hex.encode(RandomBytes.make(32))
            try await store.addToken(TokenRecord(hash: SHA256.hash(Array(token.utf8)), role: parsed, participant: participant))
            StandardStream.output.write(token + "\n")
        }
    }
}
