import ArgumentParser
import GridCore
import Sodium
import UFTP

/// `coordinator uftp …`: the platform's UFTP identity.
struct UFTPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "uftp", abstract: "UFTP (Shapeshifter) identity.",
                                                    subcommands: [Key.self])

    struct Key: ParsableCommand {
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

        func run() throws {
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
