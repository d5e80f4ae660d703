import Foundation
import Ledger
import Sodium
import Testing
import TestSupport

/// SIGKILL a process appending in a loop, again and again at random moments: after each kill the
/// ledger opens, verifies, still holds every seq the process reported as committed, and the next
/// process continues the chain with no gap and no reuse.
@Suite struct CrashSafetyTests {
    let folder = TemporaryDirectory("crash")

    @Test func survivesRepeatedKillNine() throws {
        let keyPath = folder.file("node.key")
        try SigningKey.generate().write(toNewFile: keyPath)
        let data = folder.file("data")
        let ledgerPath = data + "/" + Ledger.fileName
        var previousHead: UInt64 = 0
        let kills = 25
        for round in 1...kills {
            let victim = try RunningProcess(Paths.executable("ledger-append-loop"), [data, keyPath])
            // Let it commit a random number of times, then kill it at a random instant after that.
            let commitsBeforeKill = Int.random(in: 1...120)
            var acknowledged: UInt64 = 0
            var firstThisRound: UInt64?
            for _ in 0..<commitsBeforeKill {
                guard let line = victim.readLine() else { break }
                let seq = try #require(UInt64(line.dropFirst("committed ".count)), "unexpected output \(line)")
                if firstThisRound == nil { firstThisRound = seq }
                acknowledged = seq
            }
            usleep(UInt32.random(in: 0...3000))  // randomises where in an append the kill lands
            victim.kill(SIGKILL)
            #expect(victim.wait(), "round \(round): the victim did not die")
            while let line = victim.readLine() {  // commits reported between our last read and the kill
                acknowledged = UInt64(line.dropFirst("committed ".count)) ?? acknowledged
            }
            try #require(acknowledged > 0, "round \(round): nothing was committed")
            #expect(try #require(firstThisRound) > previousHead, "round \(round): seq reused after restart")

            let ledger = try Ledger(readingFile: ledgerPath)
            let verification = try ledger.verify(signatures: .newestOnly)
            #expect(verification.fault == nil, "round \(round): \(String(describing: verification.fault))")
            #expect(verification.head.seq >= acknowledged, "round \(round): acknowledged seq \(acknowledged) lost")
            #expect(verification.entriesChecked == Int(verification.head.seq), "round \(round): gap")
            previousHead = verification.head.seq
        }
        let final = try Ledger(readingFile: ledgerPath).verify(signatures: .every)
        #expect(final.fault == nil && final.entriesChecked == Int(previousHead))
    }
}
