import ArgumentParser
import CommandLineSupport
import Coordinator
import Foundation
import GridCore
import Logging
import SCD
import Sodium
import UFTP
import UFTPGateway

/// `coordinator uftp …`: the platform's UFTP identity, and the DSO's actions.
struct UFTPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "uftp", abstract: "UFTP (Shapeshifter) identity, and the DSO's and aggregator's actions.",
                                                    subcommands: [Key.self, DraftCommand<Request>.self, DraftCommand<Order>.self,
                                                                   DraftCommand<Settle>.self, DraftCommand<Reserve>.self,
                                                                   DraftCommand<Declare>.self, DraftCommand<Query>.self,
                                                                   DraftCommand<Prognose>.self, DraftCommand<Offer>.self,
                                                                   DraftCommand<Revoke>.self])

    enum Request: DraftKind { static let action = UFTPAction.flexRequest }
    enum Order: DraftKind { static let action = UFTPAction.flexOrder }
    enum Settle: DraftKind { static let action = UFTPAction.flexSettlement }
    enum Reserve: DraftKind { static let action = UFTPAction.flexReservationUpdate }
    enum Declare: DraftKind { static let action = UFTPAction.portfolioUpdate }
    enum Query: DraftKind { static let action = UFTPAction.portfolioQuery }
    enum Prognose: DraftKind { static let action = UFTPAction.dPrognosis }
    enum Offer: DraftKind { static let action = UFTPAction.flexOffer }
    enum Revoke: DraftKind { static let action = UFTPAction.flexOfferRevocation }

    /// Queues the draft in the SCD (the serving coordinator delivers it) and prints the receipt.
    static func queue(_ action: UFTPAction, draft file: String, options: ConfigOption) async throws {
        let config = try options.load()
        let draft = file == "-" ? Array(FileHandle.standardInput.readDataToEndOfFile())
            : try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        do {
            StandardStream.output.write(try await action.queue(draft: draft, config: config, logger: Logger(label: "coordinator")) + "\n")
        } catch let error as SCDError {
            throw error
        } catch {
            throw CommandFailure.usage("\(action.rawValue) not sent: \(error)")
        }
    }

    /// One action's subcommand (`request`, `order`, …, `offer`, `revoke`): reads the draft and
    /// queues it for the serving coordinator.
    struct DraftCommand<Kind: DraftKind>: AsyncParsableCommand {
        static var configuration: CommandConfiguration {
            CommandConfiguration(commandName: Kind.action.commandName,
                                 abstract: "\(Kind.action.summary) (draft as for POST /api/v1/uftp/\(Kind.action.resource); docs/uftp.md).")
        }
        @OptionGroup var options: ConfigOption
        @Option(name: .long, help: "The draft (JSON); - reads standard input.") var file: String

        func run() async throws { try await queue(Kind.action, draft: file, options: options) }
    }

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a UFTP signing key (mode 0600) and print its cs1 string and the DNS records that publish it.")

        @Option(name: .long, help: "The key file to create; an existing file is never overwritten.")
        var out: String

        @Option(name: .long, help: "This participant's internet domain, e.g. dso.example.com.")
        var domain: String

        @Option(name: .long, help: "The role the key signs for: AGR, CRO or DSO.")
        var role: String

        @Option(name: .long, help: "The host serving /shapeshifter/api/v3/message (for the CNAME record).")
        var endpointHost: String?

        @Option(name: .long, help: "The key being replaced: listed beside the new one while peers switch over.")
        var previous: String?

        func validate() throws {
            guard (try? InternetDomain(validating: domain)) != nil else {
                throw ValidationError("--domain must be a lower-case internet domain such as dso.example.com")
            }
            guard USEFRole(rawValue: role) != nil else { throw ValidationError("--role must be AGR, CRO or DSO") }
        }

        func run() async throws {
            let old = try previous.map { try SigningKey(contentsOfFile: $0).publicKey }
            let key = SigningKey.generate()
            try key.write(toNewFile: out)
            let label = "_\(role.lowercased())._usef.\(domain)."
            let keys = ([key.publicKey.cs1] + (old.map { [$0.cs1] } ?? [])).joined(separator: " ")
            var lines = [
                key.publicKey.cs1,
                "",
                "; DNS records (in a DNSSEC-signed zone) that publish it:",
                "_usef.\(domain). IN TXT \"\(SpecVersion.v3_1_0.text)\"",
                "\(label) IN TXT \"\(keys)\"",
            ]
            if let endpointHost { lines.append("_http.\(label) IN CNAME \(endpointHost).") }
            StandardStream.output.write(lines.joined(separator: "\n") + "\n")
        }
    }
}

/// Names an action for `UFTPCommand.DraftCommand`.
protocol DraftKind {
    static var action: UFTPAction { get }
}

extension UFTPAction {
    /// Its subcommand under `coordinator uftp`.
    var commandName: String {
        switch self {
        case .flexRequest: "request"
        case .flexOrder: "order"
        case .flexSettlement: "settle"
        case .flexReservationUpdate: "reserve"
        case .portfolioUpdate: "declare"
        case .portfolioQuery: "query"
        case .dPrognosis: "prognose"
        case .flexOffer: "offer"
        case .flexOfferRevocation: "revoke"
        }
    }

    var summary: String {
        switch self {
        case .flexRequest: "Send a FlexRequest to an aggregator"
        case .flexOrder: "Order a received FlexOffer"
        case .flexSettlement: "Settle accepted orders with their aggregator"
        case .flexReservationUpdate: "Update a contract's reservation with an aggregator"
        case .portfolioUpdate: "Declare congestion points and their connections to the CRO"
        case .portfolioQuery: "Ask the CRO which aggregators represent a congestion point's connections"
        case .dPrognosis: "As an aggregator, send a D-Prognosis to a DSO"
        case .flexOffer: "As an aggregator, offer flexibility to a DSO (answering its FlexRequest, or unsolicited)"
        case .flexOfferRevocation: "As an aggregator, revoke an offer not yet ordered"
        }
    }
}
