// Appends readings to a ledger until killed, printing the head after every durable commit.
// The crash-safety tests kill it with SIGKILL at random moments and check that the ledger
// opens, verifies, never lost a printed (acknowledged) seq, and continues without gap or reuse.
// Usage: ledger-append-loop DATA_DIR KEY_FILE
#if canImport(Glibc)
import Glibc
#endif
import GridCore
import Ledger
import Sodium

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    StandardStream.error.write("usage: ledger-append-loop DATA_DIR KEY_FILE\n")
    exit(2)
}
do {
    let key = try SigningKey(contentsOfFile: arguments[2])
    let ledger = try Ledger(dataDirectory: arguments[1], node: "ln-crash", pod: "IT001E00000099", signer: key)
    var round = 0
    while true {
        round += 1
        // Alternate single appends (the agent's case) with batches (a backlog of meters).
        let count = round % 3 == 0 ? Int.random(in: 2...40) : 1
        let now = Timestamp.now()
        let bodies = (0..<count).map { index in
            EntryBody.reading(time: now, meter: "m\(index % 4)",
                              values: [("active_power", Double.random(in: -5000...5000).rounded() / 10)])
        }
        let appended = try ledger.append(contentsOf: bodies)
        StandardStream.output.write("committed \(appended.last!.seq)\n")
    }
} catch {
    StandardStream.error.write("ledger-append-loop: \(error)\n")
    exit(1)
}
