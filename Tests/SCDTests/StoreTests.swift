import Certification
import Foundation
import GridCore
import Ledger
import Logging
import SCDTesting
@testable import SCD
@testable import SCDPostgres
@testable import SCDSQLite
import Sodium
import Testing
import TestSupport

/// The SCD's repository contract, run unchanged against both backends (`SCDTesting.Backend`).
@Suite struct StoreTests {
    static let t0 = Timestamp(millisecondsSince1970: 1_795_000_000_000)

    static func chain(_ count: Int, key: SigningKey, meter: String = "main", power: Double = 1500) -> [LedgerEntry] {
        var prev = SHA256Digest.zero
        return (1...UInt64(count)).map { seq in
            let time = t0.adding(milliseconds: Int64(seq - 1) * 4000).rfc3339
            let body = Array(#"{"t":"\#(time)","k":"reading","m":"\#(meter)","q":"good","v":{"active_power":\#(power)}}"#.utf8)
            let entry = LedgerEntry.make(seq: seq, body: body, prev: prev, signer: key)
            prev = entry.hash
            return entry
        }
    }

    static func staged(_ node: String, _ entries: some Sequence<LedgerEntry>) -> [StagedEntry] {
        entries.map { StagedEntry(node: node, entry: $0, reading: try! ReadingBody(parsing: $0.body)) }
    }

    /// Stages `entries` of `node`; with `certifiedThrough`, also the chain state that certifies
    /// them through that seq (as the ingest persists it).
    static func commit(_ store: any SCDStore, _ node: String, _ entries: some BidirectionalCollection<LedgerEntry>,
                       certifiedThrough: UInt64? = nil) async throws -> [HeldConflict] {
        var commit = IngestCommit()
        commit.entries = staged(node, entries)
        if let certifiedThrough { commit.chains = [ChainState(node: node, holding: entries, certifiedThrough: certifiedThrough)] }
        return try await store.commit(commit)
    }

    @Test(arguments: Backend.available)
    func registryKeepsPODsNodesKeyHistoryAndTokens(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        let old = SigningKey.generate(), new = SigningKey.generate()
        try await store.upsertPOD(PODRecord(id: "POD-1", customer: "C-1", connectionEAN: "871685900000000001",
                                            congestionPoint: "ean.871685900000000099", aggregator: "agr-a", brp: "brp-x"))
        try await store.addNode(NodeRecord(id: "ln-1", pod: "POD-1", meter: "main", keys: [old.publicKey]))
        try await store.addNode(NodeRecord(id: "ln-1", pod: "POD-1", meter: "main", keys: [new.publicKey]))
        try await store.addNode(NodeRecord(id: "ln-2", pod: "POD-2", meter: "main", keys: [old.publicKey]))
        #expect(try await store.node("ln-1")?.keys == [new.publicKey, old.publicKey], "newest key first, old kept")
        #expect(try await store.nodes().map(\.id) == ["ln-1", "ln-2"])
        #expect(try await store.nodes(pod: "POD-2").map(\.id) == ["ln-2"])
        #expect(try await store.pod("POD-1")?.aggregator == "agr-a")
        #expect(try await store.pods(aggregator: "agr-a").map(\.id) == ["POD-1"])
        #expect(try await store.pods(aggregator: nil).map(\.id) == ["POD-1", "POD-2"], "a node's POD is created with it")
        let hash = SHA256.hash(Array("scd_secret".utf8))
        try await store.addToken(TokenRecord(hash: hash, role: .aggregator, participant: "agr-a"))
        #expect(try await store.token(hash: hash) == TokenRecord(hash: hash, role: .aggregator, participant: "agr-a"))
        #expect(try await store.token(hash: SHA256.hash([1])) == nil)
    }

    @Test(arguments: Backend.available)
    func entriesAreStoredOnceAndADifferentEntryForAHeldSeqIsAConflict(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        let key = SigningKey.generate()
        try await store.addNode(NodeRecord(id: "ln-1", pod: "POD-1", meter: "main", keys: [key.publicKey]))
        let entries = Self.chain(10, key: key)
        #expect(try await Self.commit(store, "ln-1", entries).isEmpty)
        #expect(try await Self.commit(store, "ln-1", entries[2..<5]).isEmpty, "a redelivery is no conflict")
        let forged = Self.chain(10, key: key, power: 9999)
        #expect(try await Self.commit(store, "ln-1", forged[3..<4]) == [HeldConflict(node: "ln-1", seq: 4)])
        let readings = try await store.readings(node: "ln-1", meter: "main", from: Self.t0, to: Self.t0.adding(milliseconds: 3_600_000))
        #expect(readings.map(\.seq) == Array(1...10))
        #expect(readings.allSatisfy { $0.reading.activePower == 1500 && !$0.certified }, "nothing overwritten")
        #expect(try await store.storedHashes(node: "ln-1", seqs: [4, 11]) == [4: entries[3].hash])
    }

    /// What a lazily persisted chain state does not cover yet: staged entries past a bound, per node.
    @Test(arguments: Backend.available)
    func stagedEntriesPastEachNodesBound(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        let key = SigningKey.generate()
        for node in ["ln-1", "ln-2", "ln-3"] {
            try await store.addNode(NodeRecord(id: node, pod: "POD-\(node)", meter: "main", keys: [key.publicKey]))
        }
        let entries = Self.chain(10, key: key)
        _ = try await Self.commit(store, "ln-1", entries)
        _ = try await Self.commit(store, "ln-2", entries[0..<4])
        let found = try await store.stagedEntries(after: [("ln-1", 6), ("ln-2", 0), ("ln-3", 0)])
        #expect(found.map(\.node) == ["ln-1", "ln-1", "ln-1", "ln-1", "ln-2", "ln-2", "ln-2", "ln-2"])
        #expect(found.map(\.entry) == Array(entries[6..<10]) + Array(entries[0..<4]), "whole entries, ascending")
        #expect(try await store.stagedEntries(after: []).isEmpty)
    }

    @Test(arguments: Backend.available)
    func sealingMakesBlocksAppendsLogLeavesAndRefusesAChainThatDoesNotLink(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        let key = SigningKey.generate()
        for node in ["ln-1", "ln-2"] {
            try await store.addNode(NodeRecord(id: node, pod: "POD-\(node)", meter: "main", keys: [key.publicKey]))
        }
        let entries = Self.chain(150, key: key)
        _ = try await Self.commit(store, "ln-1", entries, certifiedThrough: 150)
        // ln-2: two halves staged as if by two instances that saw different histories.
        let other = Self.chain(150, key: key, power: 42)
        _ = try await Self.commit(store, "ln-2", entries[0..<70] + other[70..<128], certifiedThrough: 128)

        let outcome = try await store.seal([SealRequest(node: "ln-1", through: 128, keys: [key.publicKey]),
                                            SealRequest(node: "ln-2", through: 128, keys: [key.publicKey])])
        #expect(outcome.sealed == 128)
        #expect(outcome.leaves == 2, "blocks 1…64 and 65…128")
        #expect(outcome.forks.keys.sorted() == ["ln-2"])
        #expect(outcome.forks["ln-2"]?.contains("seq 71 does not link to seq 70") == true)

        let stats = try await store.rawStorageStats()
        #expect(stats.blocks == 2 && stats.blockEntries == 128)
        #expect(stats.stagedEntries == 150 - 128 + 128, "ln-1's tail and all of forked ln-2 stay staged")

        // The log holds the two block tips, in order; its tiles give the direct root.
        #expect(try await store.logSize() == 2)
        let leaves = [64, 128].map { MerkleTree.leafHash(LogLeaf.data(node: "ln-1", seq: UInt64($0), hash: entries[$0 - 1].hash)) }
        let tiles = try await store.logTiles([LogTiles.TileID(stratum: 0, index: 0)])
        #expect(LogTiles.rangeRoot(0..<2) { tiles[$0] ?? [] } == MerkleTree.root(leaves))
        let sealed = try #require(try await store.sealedBlock(node: "ln-1", seq: 100))
        #expect(sealed.logIndex == 1 && sealed.block.firstSeq == 65 && sealed.block.lastSeq == 128)
        #expect(try await store.sealedBlock(node: "ln-1", seq: 129) == nil)

        // Reads see sealed and staged entries alike; hashes come out of blocks too.
        let readings = try await store.readings(node: "ln-1", meter: "main", from: Self.t0, to: Self.t0.adding(milliseconds: 3_600_000))
        #expect(readings.map(\.seq) == Array(1...150))
        #expect(try await store.storedHashes(node: "ln-1", seqs: [1, 64, 65, 140]) ==
            [1: entries[0].hash, 64: entries[63].hash, 65: entries[64].hash, 140: entries[139].hash])

        // Sealing again is a no-op; a redelivered sealed entry is not staged twice.
        #expect(try await store.seal([SealRequest(node: "ln-1", through: 128, keys: [key.publicKey])]).sealed == 0)
        _ = try await Self.commit(store, "ln-1", entries[9..<12])
        let again = try await store.readings(node: "ln-1", meter: "main", from: Self.t0, to: Self.t0.adding(milliseconds: 3_600_000))
        #expect(again.map(\.seq) == Array(1...150), "each reading once")

        // Retention drops whole blocks; the log stays.
        #expect(try await store.expireRaw(before: Self.t0.adding(milliseconds: 64 * 4000)) >= 1)
        #expect(try await store.rawStorageStats().blocks == 1)
        #expect(try await store.logSize() == 2)
    }

    @Test(arguments: Backend.available)
    func aRunWhoseLastSignatureFailsStaysStaged(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        let key = SigningKey.generate(), impostor = SigningKey.generate()
        try await store.addNode(NodeRecord(id: "ln-1", pod: "POD-1", meter: "main", keys: [key.publicKey]))
        _ = try await Self.commit(store, "ln-1", Self.chain(64, key: impostor), certifiedThrough: 64)
        let outcome = try await store.seal([SealRequest(node: "ln-1", through: 64, keys: [key.publicKey])])
        #expect(outcome == SealOutcome())
        #expect(try await store.rawStorageStats().stagedEntries == 64)
    }

    /// Market documents: kept on insert unless replaced, listed by kind and day; measures and
    /// baselines of several PODs in one call, in the PODs' order.
    @Test(arguments: Backend.available)
    func marketDocumentsAndBatchedReads(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        let offer = MarketDocument(kind: .offer, id: "o1", day: "2026-11-26", body: Array(#"{"v":1}"#.utf8))
        #expect(try await store.putMarketDocument(offer, replace: false))
        var changed = offer
        changed.body = Array(#"{"v":2}"#.utf8)
        #expect(try await store.putMarketDocument(changed, replace: false) == false)
        #expect(try await store.marketDocument(kind: .offer, id: "o1") == offer)
        #expect(try await store.putMarketDocument(changed, replace: true))
        #expect(try await store.marketDocument(kind: .offer, id: "o1") == changed)
        #expect(try await store.marketDocument(kind: .request, id: "o1") == nil, "ids are per kind")
        try await store.putMarketDocument(MarketDocument(kind: .offer, id: "a0", day: "2026-11-27", body: [0x7B, 0x7D]), replace: false)
        try await store.putMarketDocument(MarketDocument(kind: .offer, id: "z9", day: "2026-11-25", body: [0x7B, 0x7D]), replace: false)
        #expect(try await store.marketDocuments(kind: .offer, days: "2026-11-26"..."2026-11-30").map(\.id) == ["o1", "a0"])
        #expect(try await store.marketDocuments(kind: .order, days: "2026-11-01"..."2026-11-30").isEmpty)

        for pod in ["POD-A", "POD-B"] {
            try await store.upsertPOD(PODRecord(id: pod))
            try await store.putBaseline(Baseline(pod: pod, day: "2026-11-26", brp: "brp", energyWh: Array(repeating: pod == "POD-A" ? 1 : 2, count: 96)))
        }
        let measures = (0..<3).flatMap { quarter in
            ["POD-A", "POD-B"].map { QuarterMeasure(pod: $0, start: Self.t0.adding(milliseconds: Int64(quarter) * 900_000), energyWh: 1,
                                                    averageW: 4, coverage: 1, samples: 225, certified: true) }
        }
        try await store.upsertMeasures(measures)
        let read = try await store.measures(pods: ["POD-B", "POD-A", "POD-X"], from: Self.t0.adding(milliseconds: 900_000),
                                            to: Self.t0.adding(milliseconds: 2_700_000))
        #expect(read.map(\.pod) == ["POD-B", "POD-B", "POD-A", "POD-A"])
        #expect(read.map(\.start.millisecondsSince1970) == [1, 2, 1, 2].map { Self.t0.millisecondsSince1970 + $0 * 900_000 })
        let baselines = try await store.baselines(pods: ["POD-B", "POD-A", "POD-X"], day: "2026-11-26")
        #expect(Set(baselines.map(\.pod)) == ["POD-A", "POD-B"] && baselines.first { $0.pod == "POD-B" }?.energyWh.first == 2)
    }

    @Test(arguments: Backend.available)
    func measuresCheckpointsAndQuarantine(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        let key = SigningKey.generate()
        try await store.addNode(NodeRecord(id: "ln-1", pod: "POD-1", meter: "main", keys: [key.publicKey]))
        let provisional = QuarterMeasure(pod: "POD-1", start: Self.t0, energyWh: 300, averageW: 1200, coverage: 0.5,
                                         samples: 112, certified: false)
        try await store.upsertMeasures([provisional])
        var final = provisional
        final.energyWh = 375
        final.coverage = 1
        final.certified = true
        try await store.upsertMeasures([final])
        #expect(try await store.measures(pod: "POD-1", from: Self.t0, to: Self.t0.adding(milliseconds: 900_000)) == [final])

        #expect(try await store.checkpoint(size: nil) == nil)
        let first = StoredCheckpoint(size: 2, note: "scd\n2\nroot\n\n— sig\n", time: Self.t0)
        try await store.addCheckpoint(first)
        try await store.addCheckpoint(StoredCheckpoint(size: 2, note: "another", time: Self.t0))
        try await store.addCheckpoint(StoredCheckpoint(size: 5, note: "five", time: Self.t0))
        #expect(try await store.checkpoint(size: 2) == first, "a second head for one size is ignored")
        #expect(try await store.checkpoint(size: nil)?.size == 5)

        _ = try await Self.commit(store, "ln-1", Self.chain(5, key: key), certifiedThrough: 2)
        var quarantine = IngestCommit()
        quarantine.quarantined = [("ln-1", "fork: test")]
        _ = try await store.commit(quarantine)
        #expect(try await store.node("ln-1")?.quarantine == "fork: test")
        #expect(try await store.rawStorageStats().stagedEntries == 2, "uncertified entries of a quarantined node are discarded")
        try await store.releaseQuarantine(node: "ln-1")
        #expect(try await store.node("ln-1")?.quarantine == nil)
    }

    @Test(arguments: Backend.available)
    func uftpMessagesAreKeptAsStoredAndFoundByConversationOrSender(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        func record(_ n: Int, conversation: String, messageID: String, direction: UFTPMessageRecord.Direction = .inbound) -> UFTPMessageRecord {
            UFTPMessageRecord(direction: direction, type: "FlexOffer", messageID: messageID, conversationID: conversation,
                              senderDomain: direction == .inbound ? "agr.example.com" : "dso.example.com", senderRole: "AGR",
                              recipientDomain: "dso.example.com", time: Self.t0.adding(milliseconds: Int64(n)),
                              signed: Array("<SignedMessage n=\"\(n)\"/>".utf8), payload: Array("<FlexOffer n=\"\(n)\"/>\u{0}\u{FF}".utf8))
        }
        let first = try await store.addUFTPMessage(record(1, conversation: "c-1", messageID: "m-1"))
        // The same message again is a second row, not an overwrite.
        let again = try await store.addUFTPMessage(record(2, conversation: "c-1", messageID: "m-1"))
        _ = try await store.addUFTPMessage(record(3, conversation: "c-2", messageID: "m-2", direction: .outbound))
        #expect(again > first)
        let conversation = try await store.uftpMessages(UFTPMessageQuery(conversationID: "c-1"))
        #expect(conversation.map(\.id) == [first, again])
        var expected = record(1, conversation: "c-1", messageID: "m-1")
        expected.id = first
        #expect(conversation.first == expected, "every field and byte as stored")
        #expect(try await store.uftpMessages(UFTPMessageQuery(senderDomain: "agr.example.com", messageID: "m-1")).count == 2)
        #expect(try await store.uftpMessages(UFTPMessageQuery(after: first, limit: 1)).map(\.id) == [again])
        #expect(try await store.uftpMessages(UFTPMessageQuery()).map(\.direction) == [.inbound, .inbound, .outbound])
    }

    @Test(arguments: Backend.available)
    func aRevisionIsTakenUnlessAHigherOneWas(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        func record(_ revision: Int64, scope: String = "cp-1 2026-11-26", sender: String = "agr.example.com") async throws -> Int64? {
            try await store.recordUFTPRevision(sender: sender, type: "D-Prognosis", scope: scope, revision: revision)
        }
        #expect(try await record(2) == nil)
        #expect(try await record(5) == nil)
        #expect(try await record(5) == nil, "the same revision again is no step back")
        #expect(try await record(4) == 5)
        #expect(try await record(1, scope: "cp-1 2026-11-27") == nil, "another Period counts apart")
        #expect(try await record(1, sender: "agr2.example.com") == nil, "so does another sender")
        #expect(try await store.recordUFTPRevision(sender: "agr.example.com", type: "FlexRequest", scope: "cp-1 2026-11-26", revision: 1) == nil)
        #expect(try await record(6) == nil)
        #expect(try await record(5) == 6)
    }

    /// The Common Reference: a change replaces what it read with what it returns, a refused
    /// change writes nothing, and a scope reads by connection, holder, congestion point and DSO.
    @Test(arguments: Backend.available)
    func theCommonReferenceChangesWhatItRead(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        try await store.registerCROParticipant(CROParticipant(role: .dso, domain: "dso.example.com", name: "DSO"))
        try await store.registerCROParticipant(CROParticipant(role: .dso, domain: "dso.example.com", name: "The DSO"))
        try await store.registerCROParticipant(CROParticipant(role: .agr, domain: "agr.example.com", name: "AGR"))
        #expect(try await store.croParticipants() == [CROParticipant(role: .agr, domain: "agr.example.com", name: "AGR"),
                                                      CROParticipant(role: .dso, domain: "dso.example.com", name: "The DSO")])

        let point = CongestionPointRecord(entityAddress: "cp-1", dso: "dso.example.com", firstDay: "2026-11-01", lastDay: nil,
                                          mutexOffersSupported: true, dayAheadRedispatchBy: "DSO", intradayRedispatchBy: nil)
        let inPoint = ConnectionAssignment(connection: "c-1", kind: .congestionPoint, holder: "cp-1", firstDay: "2026-11-01", lastDay: nil)
        let withAGR = ConnectionAssignment(connection: "c-1", kind: .aggregator, holder: "agr.example.com", firstDay: "2026-11-02",
                                           lastDay: "2026-12-31")
        let other = ConnectionAssignment(connection: "c-2", kind: .aggregator, holder: "agr.example.com", firstDay: "2026-11-01", lastDay: nil)
        try await store.changePortfolio(PortfolioScope(congestionPoints: ["cp-1"], connections: ["c-1"])) { held in
            #expect(held == Portfolio())
            return Portfolio(congestionPoints: [point], assignments: [inPoint, withAGR, other])
        }
        #expect(try await store.portfolio(PortfolioScope(dsos: ["dso.example.com"])).congestionPoints == [point])
        #expect(try await store.portfolio(PortfolioScope(connections: ["c-1"])).assignments == [withAGR, inPoint])
        #expect(try await store.portfolio(PortfolioScope(holders: [(.aggregator, "agr.example.com")])).assignments == [withAGR, other])

        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await store.changePortfolio(PortfolioScope(connections: ["c-1"])) { _ in throw Refused() }
        }
        // A change returning less removes what it read and left out.
        try await store.changePortfolio(PortfolioScope(connections: ["c-1"])) { held in
            #expect(held.assignments == [withAGR, inPoint])
            var ended = inPoint
            ended.lastDay = "2026-11-30"
            return Portfolio(assignments: [ended])
        }
        // An aggregator's list may be longer than SQLite takes bound parameters.
        let many = (0..<40_000).map { "x-\($0)" }
        #expect(try await store.portfolio(PortfolioScope(connections: many + ["c-2"])).assignments == [other])
        let after = try await store.portfolio(PortfolioScope(congestionPoints: ["cp-1"], connections: ["c-1", "c-2"]))
        #expect(after.congestionPoints == [point], "congestion points outside the scope stay")
        #expect(after.assignments.map { "\($0.connection) \($0.kind.rawValue) \($0.lastDay ?? "-")" } == ["c-1 CP 2026-11-30", "c-2 AGR -"])
    }

    @Test(arguments: Backend.available)
    func outgoingUFTPMessagesAreQueuedClaimedOnceAndTracked(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        let message = UFTPMessageRecord(direction: .outbound, type: "FlexOfferResponse", messageID: "m-9", conversationID: "c-9",
                                        senderDomain: "dso.example.com", senderRole: "DSO", recipientDomain: "agr.example.com",
                                        time: Self.t0, signed: Array("<SignedMessage/>".utf8), payload: Array("<FlexOfferResponse/>".utf8))
        let id = try await store.queueUFTPMessage(message, endpoint: "http://127.0.0.1:9/shapeshifter/api/v3/message")
        #expect(try await store.claimUFTPDeliveries(now: Self.t0.adding(milliseconds: -1), leaseMs: 60_000, limit: 10).isEmpty, "not due yet")
        let claimed = try await store.claimUFTPDeliveries(now: Self.t0, leaseMs: 60_000, limit: 10)
        #expect(claimed == [UFTPDelivery(message: id, endpoint: "http://127.0.0.1:9/shapeshifter/api/v3/message", signed: message.signed,
                                         attempts: 0, queued: Self.t0, type: "FlexOfferResponse", messageID: "m-9")])
        // Claimed: nobody else attempts it until the lease runs out.
        #expect(try await store.claimUFTPDeliveries(now: Self.t0.adding(milliseconds: 59_999), leaseMs: 60_000, limit: 10).isEmpty)
        #expect(try await store.claimUFTPDeliveries(now: Self.t0.adding(milliseconds: 60_000), leaseMs: 60_000, limit: 10).count == 1)

        let retry = UFTPDeliveryStatus(state: .pending, attempts: 1, nextAttempt: Self.t0.adding(milliseconds: 200_000), problem: "HTTP 503")
        try await store.recordUFTPDelivery(message: id, retry)
        #expect(try await store.uftpMessages(UFTPMessageQuery(conversationID: "c-9")).first?.delivery == retry)
        #expect(try await store.claimUFTPDeliveries(now: Self.t0.adding(milliseconds: 199_999), leaseMs: 60_000, limit: 10).isEmpty)
        #expect(try await store.claimUFTPDeliveries(now: Self.t0.adding(milliseconds: 200_000), leaseMs: 60_000, limit: 10).first?.attempts == 1)
        try await store.recordUFTPDelivery(message: id, UFTPDeliveryStatus(state: .delivered, attempts: 2, nextAttempt: Self.t0))
        #expect(try await store.claimUFTPDeliveries(now: Self.t0.adding(milliseconds: 10_000_000), leaseMs: 60_000, limit: 10).isEmpty)
        #expect(try await store.uftpMessages(UFTPMessageQuery(conversationID: "c-9")).first?.delivery?.state == .delivered)
    }

    /// An endpoint gets one message at a time, the first queued; one waiting for its retry holds
    /// up none queued after it, and other endpoints are served alongside.
    @Test(arguments: Backend.available)
    func eachEndpointIsClaimedOneMessageAtATimeInQueueOrder(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let store = fixture.store
        func queue(_ name: String, to endpoint: String) async throws -> Int64 {
            try await store.queueUFTPMessage(UFTPMessageRecord(
                direction: .outbound, type: "TestMessage", messageID: name, conversationID: name, senderDomain: "dso.example.com",
                senderRole: "DSO", recipientDomain: "agr.example.com", time: Self.t0, signed: Array(name.utf8), payload: Array(name.utf8)),
                endpoint: endpoint)
        }
        let a1 = try await queue("a-1", to: "http://a"), a2 = try await queue("a-2", to: "http://a"), a3 = try await queue("a-3", to: "http://a")
        let b1 = try await queue("b-1", to: "http://b")
        func claim(at ms: Int64) async throws -> [Int64] {
            try await store.claimUFTPDeliveries(now: Self.t0.adding(milliseconds: ms), leaseMs: 60_000, limit: 10).map(\.message).sorted()
        }
        #expect(try await claim(at: 0) == [a1, b1])
        try await store.recordUFTPDelivery(message: a1, UFTPDeliveryStatus(state: .delivered, attempts: 1, nextAttempt: Self.t0))
        #expect(try await claim(at: 1) == [a2], "b-1 is leased; a-2 is next once a-1 is delivered")
        try await store.recordUFTPDelivery(message: a2, UFTPDeliveryStatus(state: .pending, attempts: 1,
                                                                            nextAttempt: Self.t0.adding(milliseconds: 500_000), problem: "HTTP 503"))
        #expect(try await claim(at: 2) == [a3], "a-2 waits for its retry; a-3 goes ahead")
    }

    @Test(.enabled(if: PostgresServer.available, "needs Debian's postgresql server"))
    func postgresInstancesKeepTheirOwnChainStateAndMigrateOnce() async throws {
        let first = try await StoreFixture(.postgres, instance: "coordinator-a")
        let second = try await StoreFixture(.postgres, instance: "coordinator-b", server: first.server)
        let key = SigningKey.generate()
        try await first.store.addNode(NodeRecord(id: "ln-1", pod: "POD-1", meter: "main", keys: [key.publicKey]))
        let entries = Self.chain(3, key: key)
        var commit = IngestCommit()
        commit.chains = [ChainState(node: "ln-1", segments: [
            NodeChain.Segment(first: 1, last: 3, firstPrev: .zero, lastHash: entries[2].hash, certifiedThrough: 0,
                              lastSignature: entries[2].signature)], quarantine: nil)]
        _ = try await first.store.commit(commit)
        #expect(try await first.store.chainStates().first?.segments.count == 1)
        #expect(try await second.store.chainStates().first?.segments.isEmpty == true, "the other instance's segments are its own")
        let versions = try first.server!.psql("SELECT count(*) FROM scd_migrations").stdout
        #expect(versions.trimmingCharacters(in: .whitespacesAndNewlines) == "\(PostgresSchema.migrations.count)")
    }

    @Test(.enabled(if: PostgresServer.available, "needs Debian's postgresql server"))
    func postgresRefusesADatabaseOfAnotherApplicationAndABadURL() async throws {
        let server = try PostgresServer()
        _ = try server.psql("CREATE TABLE pods (x int)")
        await #expect(throws: SCDError.self) {
            _ = try await PostgresStore(url: server.url() + "?sslmode=disable", instance: "a", logger: Logger(label: "test"))
        }
        #expect(throws: SCDError.self) { _ = try PostgresStore.configuration("postgres://127.0.0.1/db") }
        #expect(throws: SCDError.self) { _ = try PostgresStore.configuration("postgres://u@h/db?sslmode=maybe") }
        #expect(PostgresStore.redacted("postgres://u:secret@h/db").contains("secret") == false)
    }
}
