import CommandLineSupport
import ArgumentParser
import GridCore
import Ledger
import Sodium

struct LedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Inspect, verify and export a Light Node ledger (read-only).",
        subcommands: [Verify.self, Export.self, Show.self]
    )

    struct DatabaseOption: ParsableArguments {
        @Option(name: .long, help: "The ledger file (<data_dir>/ledger.sqlite).")
        var db: String
    }

    struct RangeOptions: ParsableArguments {
        @Option(name: .long, help: "First seq (default: the oldest kept).")
        var from: UInt64?

        @Option(name: .long, help: "Last seq (default: the head).")
        var to: UInt64?

        func validate() throws {
            if let from, let to, from > to {
                throw ValidationError("--from \(from) is after --to \(to)")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every hash link and signature; exit 0 only if the ledger is intact.",
            discussion: "On a break, names the first bad seq and why, and exits 1."
        )

        @OptionGroup var database: DatabaseOption

        @Option(name: .long, help: "The node's expected public key (base64 or cs1.); default: the key stored in the ledger.")
        var key: String?

        @Flag(name: .long, help: "Check every link and hash but only the newest signature (it certifies all before it).")
        var quick = false

        func run() throws {
            let expectedKey: PublicKey?
            do {
                expectedKey = try key.map { try PublicKey(parsing: $0) }
            } catch {
                throw CommandFailure.usage("--key: \(error)")
            }
            let ledger = try Ledger(readingFile: database.db)
            let result = try ledger.verify(signatures: quick ? .newestOnly : .every, expectedKey: expectedKey)
            if let fault = result.fault {
                throw CommandFailure.runtime("ledger \(database.db) is NOT intact: first bad \(fault)")
            }
            if let expectedKey, expectedKey != ledger.identity.publicKey {
                throw CommandFailure.runtime(
                    "ledger \(database.db) records key \(ledger.identity.publicKey.base64), not the expected \(expectedKey.base64)")
            }
            let range = result.entriesChecked == 0 ? "no entries kept"
                : "seq \(result.anchor.seq + 1)…\(result.head.seq)"
            let pruned = result.anchor.seq > 0 ? ", pruned through seq \(result.anchor.seq) (anchor verified)" : ""
            Console.output("intact: \(result.entriesChecked) entries (\(range))\(pruned), \(result.signaturesChecked) signatures verified")
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the ledger as JSON Lines: a header line, then one line per entry (docs/ledger-format.md)."
        )

        @OptionGroup var database: DatabaseOption
        @OptionGroup var range: RangeOptions

        @Option(name: .long, help: "Output file (default: stdout). Written beside and renamed into place when complete.")
        var out: String?

        func run() throws {
            let ledger = try Ledger(readingFile: database.db)
            let sink = try OutputSink(path: out)
            do {
                try sink.write(LedgerExport.headerLine(ledger.identity))
                var buffer: [UInt8] = []
                buffer.reserveCapacity(1 << 16)
                try ledger.forEachEntry(from: range.from ?? 1, through: range.to ?? .max) { entry in
                    LedgerExport.appendLine(entry, to: &buffer)
                    if buffer.count >= 1 << 16 {
                        try sink.write(buffer)
                        buffer.removeAll(keepingCapacity: true)
                    }
                }
                try sink.write(buffer)
                try sink.finish()
            } catch {
                sink.abandon()
                throw error
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the ledger's identity, head, anchor and cursors, and optionally entries."
        )

        @OptionGroup var database: DatabaseOption
        @OptionGroup var range: RangeOptions

        @Option(name: .long, help: "Print the newest N entries.")
        var tail: UInt64?

        func run() throws {
            let ledger = try Ledger(readingFile: database.db)
            let summary = try ledger.summary()
            let fields: [(String, String)] = [
                ("node", summary.identity.node),
                ("pod", summary.identity.pod),
                ("key", summary.identity.publicKey.base64),
                ("head", "seq \(summary.head.seq) hash \(summary.head.hash.hex)"),
                ("anchor", summary.anchor.seq == 0 ? "none (nothing pruned)" : "seq \(summary.anchor.seq) hash \(summary.anchor.hash.hex)"),
                ("published", "seq \(summary.published) (backlog \(summary.head.seq - min(summary.published, summary.head.seq)))"),
                ("kept", "\(summary.entriesKept) entries"
                    + (summary.oldest.map { ", \($0.rfc3339) … \(summary.newest!.rfc3339)" } ?? "")),
            ]
            for (name, value) in fields {
                Console.output(name.padding(toLength: 10) + " " + value)
            }
            var from = range.from
            if let tail {
                from = summary.head.seq >= tail ? summary.head.seq - tail + 1 : 1
            }
            guard from != nil || range.to != nil else { return }
            try ledger.forEachEntry(from: from ?? 1, through: range.to ?? .max) { entry in
                Console.output("\(entry.seq)\t\(entry.bodyText)")
            }
        }
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
