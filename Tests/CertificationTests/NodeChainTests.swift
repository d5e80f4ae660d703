import Certification
import GridCore
import Ledger
import Sodium
import Testing

@Suite struct NodeChainTests {
    static let key = SigningKey.generate()
    static let t0 = Timestamp(rfc3339: "2026-11-24T10:00:00.000Z")!

    /// A node's chain 1…count, as its ledger would produce it.
    static func chain(_ count: Int, signer: SigningKey = key, salt: String = "") -> [LedgerEntry] {
        var entries: [LedgerEntry] = []
        var prev = SHA256Digest.zero
        for seq in 1...UInt64(count) {
            let body = Array(#"{"t":"2026-11-24T10:00:00.000Z","k":"reading","m":"main\#(salt)","q":"good","v":{"active_power":\#(seq)}}"#.utf8)
            let entry = LedgerEntry.make(seq: seq, body: body, prev: prev, signer: signer)
            entries.append(entry)
            prev = entry.hash
        }
        return entries
    }

    /// A chain and a store of what it accepted, as the SCD would hold it.
    struct Platform {
        var chain = NodeChain(node: "ln-1", keys: [NodeChainTests.key.publicKey])
        var stored: [UInt64: SHA256Digest] = [:]

        mutating func receive(_ entries: [LedgerEntry], at ms: Int64 = 0) -> [NodeChain.Verdict] {
            let held = stored
            let verdicts = chain.receive(entries, now: NodeChainTests.t0.adding(milliseconds: ms)) { held[$0] }
            for (entry, verdict) in zip(entries, verdicts) where verdict == .stored { stored[entry.seq] = entry.hash }
            return verdicts
        }
    }

    @Test func inOrderBatchesAreStoredOnceAndCertifiedBySignatureSampling() {
        let entries = Self.chain(10)
        var platform = Platform()
        #expect(platform.receive(Array(entries[0..<5])) == Array(repeating: .stored, count: 5))
        #expect(platform.receive(Array(entries[3..<10]), at: 4000) == [.duplicate, .duplicate] + Array(repeating: .stored, count: 5))
        #expect(platform.chain.certify(now: Self.t0.adding(milliseconds: 29_999), certifyAfterMs: 30_000).isEmpty,
                "nothing is checked before the oldest uncertified entry has waited")
        #expect(platform.chain.certify(now: Self.t0.adding(milliseconds: 30_000), certifyAfterMs: 30_000) == [1...10],
                "one signature, on seq 10, certifies 1…10")
        #expect(platform.chain.isCertified(1) && platform.chain.isCertified(10) && !platform.chain.isCertified(11))
        #expect(platform.receive([Self.chain(11)[10]], at: 40_000) == [.stored])
        #expect(!platform.chain.isCertified(11))
        #expect(platform.chain.certify(now: Self.t0.adding(milliseconds: 70_000), certifyAfterMs: 30_000) == [11...11])
    }

    @Test func aGapIsRecordedAndFilledOutOfOrder() {
        let entries = Self.chain(12)
        var platform = Platform()
        _ = platform.receive(Array(entries[0..<4]))
        _ = platform.receive(Array(entries[8..<12]))
        #expect(platform.chain.gaps == [5...8])
        #expect(platform.chain.certify(now: Self.t0.adding(milliseconds: 60_000), certifyAfterMs: 30_000) == [1...4, 9...12])
        #expect(platform.receive(Array(entries[4..<8]), at: 61_000) == Array(repeating: .stored, count: 4))
        #expect(platform.chain.gaps.isEmpty && platform.chain.segments.count == 1)
        #expect(platform.chain.isCertified(6), "the gap links into seq 9, whose certified signature covers it")
    }

    @Test func aForkQuarantinesTheNodeAndOverwritesNothing() {
        var platform = Platform()
        _ = platform.receive(Array(Self.chain(6)[0..<6]))
        let other = Self.chain(6, salt: "-forked")  // the same key signing a different history
        let verdicts = platform.receive([other[5]])
        guard case .rejected(let reason) = verdicts[0] else { Issue.record("fork accepted"); return }
        #expect(reason.contains("two different entries for seq 6"))
        #expect(platform.stored[6] == Self.chain(6)[5].hash, "the first entry stays")
        #expect(platform.chain.quarantine != nil)
        #expect(platform.receive([Self.chain(7)[6]]) != [.stored], "nothing more from a quarantined node")
    }

    @Test func aBrokenLinkIsAFork() {
        var platform = Platform()
        _ = platform.receive(Array(Self.chain(3)))
        let stranger = Self.chain(4, salt: "-x")[3]  // seq 4 whose prev is another chain's seq 3
        guard case .rejected(let reason) = platform.receive([stranger])[0] else { Issue.record("accepted"); return }
        #expect(reason.contains("does not link"))
    }

    @Test func tamperedEntriesAreRejectedWithoutQuarantine() {
        var platform = Platform()
        let entry = Self.chain(1)[0]
        let tampered = LedgerEntry(seq: 1, body: entry.body + [0x20], prev: entry.prev, hash: entry.hash, signature: entry.signature)
        guard case .rejected(let reason) = platform.receive([tampered])[0] else { Issue.record("accepted"); return }
        #expect(reason.contains("hash of seq 1"))
        #expect(platform.chain.quarantine == nil && platform.receive([entry]) == [.stored])
    }

    @Test func aSignatureByAnotherKeyQuarantinesAtCertification() {
        var platform = Platform()
        _ = platform.receive(Self.chain(5, signer: .generate()))
        #expect(platform.chain.certify(now: Self.t0.adding(milliseconds: 30_000), certifyAfterMs: 30_000).isEmpty)
        #expect(platform.chain.quarantine?.contains("does not verify") == true)
        #expect(!platform.chain.isCertified(1))
    }

    @Test func aRotatedKeyStillCertifiesOlderEntries() {
        let old = SigningKey.generate()
        var chain = NodeChain(node: "ln-1", keys: [Self.key.publicKey, old.publicKey])
        _ = chain.receive(Self.chain(3, signer: old), now: Self.t0) { _ in nil }
        #expect(chain.certify(now: Self.t0.adding(milliseconds: 30_000), certifyAfterMs: 30_000) == [1...3])
    }

    /// A chain published piecemeal on purpose: runs beyond the most held apart are refused, not
    /// kept, while entries that join runs are still taken.
    @Test func runsHeldApartAreBounded() {
        let entries = Self.chain(2 * NodeChain.maximumRuns + 3)
        var platform = Platform()
        for index in stride(from: 0, to: 2 * NodeChain.maximumRuns, by: 2) { _ = platform.receive([entries[index]]) }
        #expect(platform.chain.segments.count == NodeChain.maximumRuns)
        #expect(platform.receive([entries[2 * NodeChain.maximumRuns]]) == [.tooFragmented])
        #expect(platform.receive([entries[1]]) == [.stored], "seq 2 joins the runs of 1 and 3")
        #expect(platform.chain.segments.count == NodeChain.maximumRuns - 1)
        #expect(platform.receive([entries[2 * NodeChain.maximumRuns]]) == [.stored])
    }
}
