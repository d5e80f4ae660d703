import ArgumentParser
import Sodium

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Create a new Ed25519 key file (mode 0600) and print its base64 public key."
    )

    @Option(name: .long, help: "The key file to create; an existing file is never overwritten.")
    var out: String

    @Flag(name: .long, help: "Print the public key as a UFTP cs1. string instead of plain base64.")
    var cs1 = false

    func run() throws {
        let key = SigningKey.generate()
        try key.write(toNewFile: out)
        Console.output(cs1 ? key.publicKey.cs1 : key.publicKey.base64)
    }
}

struct PubkeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pubkey",
        abstract: "Print the base64 public key of an existing key file (to register the node at the platform)."
    )

    @Option(name: .customLong("key-file"), help: "The private key file (mode 0600).")
    var keyFile: String

    @Flag(name: .long, help: "Print the public key as a UFTP cs1. string instead of plain base64.")
    var cs1 = false

    func run() throws {
        let key = try SigningKey(contentsOfFile: keyFile)
        Console.output(cs1 ? key.publicKey.cs1 : key.publicKey.base64)
    }
}
