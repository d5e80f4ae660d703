import Certification
@testable import Coordinator
import GridCore
import Ledger
import Logging
import Prometheus
@testable import ReadingsIngest
import SCD
import SCDSQLite
import Sodium
import Testing
import TestSupport

/// The ingest against a real SQLite SCD, fed payloads as the Light Nodes publish them.
@Suite struct IngestTests {
    static let prefix = "lightnode/v1"
    /// A quarter-hour boundary an hour before the tests run.
    static let t0 = QuarterHours.start(of: Timestamp.now().adding(milliseconds: -3_600_000))

    /// A node's chain of readings every 4 s from `t0`, with an energy counter rising 1.5 kW × 4 s.
    static func chain(_ count: Int, key: SigningKey, from first: UInt64 = 1, meter: String = "main") -> [LedgerEntry] {
        var prev = SHA256Digest.zero
        var entries: [LedgerEntry] = []
        for seq in 1...UInt64(count) {
            let time = t0.adding(milliseconds: Int64(seq - 1) * 4000).rfc3339
            let energy = 10_000 + Double(seq) * 1500 * 4 / 3600
            let body = Array(#"{"t":"\#(time)","k":"reading","m":"\#(meter)","q":"good","v":{"active_power":1500,"energy_import":\#(energy)}}"#.utf8)
            let entry = LedgerEntry.make(seq: seq, body: body, prev: prev, signer: key)
            prev = entry.hash
            entries.append(entry)
        }
        return entries
    }

    static func payload(node: String, pod: String, _ entries: ArraySlice<LedgerEntry>) -> [UInt8] {
        let items = entries.map { entry in
            var body: [UInt8] = []
            JSONText.appendQuoted(entry.bodyText, to: &body)
            return #"{"seq":\#(entry.seq),"body":\#(String(decoding: body, as: UTF8.self)),"prev":"\#(Hex.encode(entry.prev.bytes))","hash":"\#(Hex.encode(entry.hash.bytes))","sig":"\#(Base64.encode(entry.signature.bytes))"}"#
        }
        return Array(#"{"node":"\#(node)","pod":"\#(pod)","entries":[\#(items.joined(separator: ","))]}"#.utf8)
    }

    struct Rig {
        let folder: TemporaryDirectory
        let store: SQLiteStore
        let registry = PrometheusCollectorRegistry()
        let settings = IngestSettings(certifyWithinSeconds: 60, intervalMs: 4000, maxPayloadBytes: 256 << 10,
                                                commitIntervalMs: 250)
        let ingest: Ingest

        init(maxEntriesPerTransaction: Int = 50_000, sealNodesPerPass: Int = 1_000) async throws {
            folder = TemporaryDirectory()
            store = try SQLiteStore(path: folder.path + "/scd.sqlite")
            ingest = Ingest(store: store, settings: settings, topicPrefix: IngestTests.prefix,
                            metrics: IngestMetrics(registry: registry), logger: Logger(label: "test"),
                            maxEntriesPerTransaction: maxEntriesPerTransaction, sealNodesPerPass: sealNodesPerPass)
        }

        func register(_ node: String, pod: String, key: SigningKey) async throws {
            try await store.addNode(NodeRecord(id: node, pod: pod, meter: "main", keys: [key.publicKey]))
            try await ingest.reloadRegistry()
        }

        func send(_ node: String, pod: String, _ entries: ArraySlice<LedgerEntry>, now: Timestamp = .now()) async {
            await ingest.receive(topic: "\(IngestTests.prefix)/\(node)/readings",
                                 payload: IngestTests.payload(node: node, pod: pod, entries), now: now)
        }

        /// The value of one Prometheus series (0 when absent).
        func metric(_ series: String) -> Double {
            for line in registry.emitToString().split(separator: "\n") where line.hasPrefix(series + " ") {
                return Double(line.split(separator: " ").last!) ?? 0
            }
            return 0
        }
    }

    @Test func anHonestNodeIsCertifiedSealedAndMeasured() async throws {
        let rig = try await Rig()
        let key = SigningKey.generate()
        try await rig.register("ln-1", pod: "POD-1", key: key)
        let entries = Self.chain(450, key: key)  // 30 minutes
        let arrival = Timestamp.now()
        for start in stride(from: 0, to: entries.count, by: 10) {
            await rig.send("ln-1", pod: "POD-1", entries[start..<min(start + 10, entries.count)], now: arrival)
        }
        try await rig.ingest.commit()
        let end = Self.t0.adding(milliseconds: 1_800_000)
        let staged = try await rig.store.readings(node: "ln-1", meter: "main", from: Self.t0, to: end)
        #expect(staged.count == 450)
        #expect(staged.allSatisfy { !$0.certified })

        // Not before it is due: then one signature certifies all 450, and full blocks are sealed.
        try await rig.ingest.certify(now: arrival.adding(milliseconds: rig.settings.certifyAfterMs - 1000))
        #expect(rig.metric("coordinator_certification_signatures_total") == 0)
        try await rig.ingest.certify(now: arrival.adding(milliseconds: rig.settings.certifyAfterMs))
        #expect(rig.metric("coordinator_certification_signatures_total") == 1)
        let certified = try await rig.store.readings(node: "ln-1", meter: "main", from: Self.t0, to: end)
        #expect(certified.count == 450 && certified.allSatisfy(\.certified))
        #expect(certified.map(\.seq) == Array(1...450))
        let stats = try await rig.store.rawStorageStats()
        #expect(stats.blockEntries == 448 && stats.stagedEntries == 2)

        try await rig.ingest.updateMeasures(now: end.adding(milliseconds: 60_000))
        let measures = try await rig.store.measures(pod: "POD-1", from: Self.t0, to: end)
        #expect(measures.count == 2)
        for measure in measures {
            #expect(measure.samples == 225 && measure.coverage == 1 && measure.certified)
            #expect(abs(measure.averageW - 1500) < 1e-9)
            // The counter rises 1500 W × 900 s = 375 Wh a quarter (the first quarter opens at its first reading).
            let expected = measure.start == Self.t0 ? 375.0 * 224 / 225 : 375.0
            #expect(abs(measure.energyWh - expected) < 0.01, "\(measure.energyWh) Wh vs \(expected)")
        }
    }

    /// The measures the ingest tallies as readings arrive equal those computed from every
    /// reading, over random chains: bad quality, power or counter missing, other meters and
    /// kinds, skipped quarters, a clock stepping back, and a message delivered late (which
    /// sends its quarters the store's way). Provisional first, then certified.
    @Test(arguments: 1...6 as ClosedRange<UInt64>) func talliedMeasuresEqualThoseFromEveryReading(seed: UInt64) async throws {
        var state = seed
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 33) % bound
        }
        let rig = try await Rig()
        let key = SigningKey.generate()
        try await rig.register("ln-1", pod: "POD-1", key: key)
        var entries: [LedgerEntry] = []
        var prev = SHA256Digest.zero
        var time = Self.t0
        var counter = 10_000.0
        for seq in 1...UInt64(1800) {
            switch next(200) {
            case 0..<3: time = time.adding(milliseconds: 1_200_000)  // a skipped quarter
            case 3: time = time.adding(milliseconds: -600_000)  // the clock steps back
            default: time = time.adding(milliseconds: 4000)
            }
            let power = 500 + next(3000)
            counter += Double(power) * 4 / 3600
            let values = switch next(10) {
            case 0: #"{"active_power":\#(power)}"#
            case 1: #"{"energy_import":\#(counter),"energy_export":\#(next(5))}"#
            default: #"{"active_power":\#(power),"energy_import":\#(counter)}"#
            }
            let body = switch next(25) {
            case 0: #"{"t":"\#(time.rfc3339)","k":"setpoint","v":{"limit_w":3000}}"#
            case 1: #"{"t":"\#(time.rfc3339)","k":"reading","m":"sub","q":"good","v":\#(values)}"#
            case 2: #"{"t":"\#(time.rfc3339)","k":"reading","m":"main","q":"bad","v":\#(values)}"#
            default: #"{"t":"\#(time.rfc3339)","k":"reading","m":"main","q":"good","v":\#(values)}"#
            }
            let entry = LedgerEntry.make(seq: seq, body: Array(body.utf8), prev: prev, signer: key)
            prev = entry.hash
            entries.append(entry)
        }
        var messages: [ArraySlice<LedgerEntry>] = []
        var start = 0
        while start < entries.count {
            let end = min(entries.count, start + 1 + next(12))
            messages.append(entries[start..<end])
            start = end
        }
        let late = messages.remove(at: messages.count / 3 + next(messages.count / 3))
        let arrival = Timestamp.now()
        // A backlog: every quarter has ended, so measures fall due while their readings still
        // arrive; with even seeds they are also certified part by part.
        let certifyingMeanwhile = seed % 2 == 0
        for message in messages + [late] {
            await rig.send("ln-1", pod: "POD-1", message, now: arrival)
            guard next(4) == 0 else { continue }
            try await rig.ingest.commit()
            if certifyingMeanwhile { try await rig.ingest.certify(now: arrival.adding(milliseconds: rig.settings.certifyAfterMs)) }
            try await rig.ingest.updateMeasures(now: arrival.adding(milliseconds: 1_000_000_000))
        }
        try await rig.ingest.commit()

        let readings = try entries.compactMap { entry -> RawReading? in
            let reading = try ReadingBody(parsing: entry.body)
            return reading.kind == "reading" && reading.meter == "main" ? RawReading(seq: entry.seq, reading: reading, certified: true) : nil
        }
        let quarters = Set(readings.map { QuarterHours.start(of: $0.reading.time) })
        let expected = quarters.sorted().compactMap { quarter in
            QuarterHours.measure(pod: "POD-1", start: quarter,
                                 readings: readings.filter { $0.reading.time >= quarter.adding(milliseconds: -900_000)
                                                             && $0.reading.time < quarter.adding(milliseconds: 900_000) },
                                 intervalMs: 4000)
        }
        let from = quarters.min()!, to = quarters.max()!.adding(milliseconds: 900_000)
        let ripe = to.adding(milliseconds: 60_000)

        try await rig.ingest.updateMeasures(now: ripe)
        if !certifyingMeanwhile {
            let provisional = try await rig.store.measures(pod: "POD-1", from: from, to: to)
            #expect(provisional.allSatisfy { !$0.certified })
            #expect(provisional == expected.map { var measure = $0; measure.certified = false; return measure })
        }

        try await rig.ingest.certify(now: arrival.adding(milliseconds: rig.settings.certifyAfterMs))
        try await rig.ingest.updateMeasures(now: ripe)
        #expect(try await rig.store.measures(pod: "POD-1", from: from, to: to) == expected)
    }

    @Test func badInputMovesTheRightCountersAndLeavesHonestNodesAlone() async throws {
        let rig = try await Rig()
        let honestKey = SigningKey.generate()
        let victimKey = SigningKey.generate()
        try await rig.register("ln-honest", pod: "POD-H", key: honestKey)
        try await rig.register("ln-victim", pod: "POD-V", key: victimKey)
        let honest = Self.chain(40, key: honestKey)
        let victim = Self.chain(40, key: victimKey)
        await rig.send("ln-honest", pod: "POD-H", honest[0..<20])
        await rig.send("ln-victim", pod: "POD-V", victim[0..<20])

        // Garbage, an unknown node, a payload for another node's topic, an oversized one.
        await rig.ingest.receive(topic: "\(Self.prefix)/ln-honest/readings", payload: Array("{not json".utf8), now: .now())
        await rig.send("ln-stranger", pod: "POD-X", Self.chain(3, key: SigningKey.generate())[0..<3])
        await rig.ingest.receive(topic: "\(Self.prefix)/ln-honest/readings",
                                 payload: Self.payload(node: "ln-victim", pod: "POD-V", victim[20..<21]), now: .now())
        await rig.ingest.receive(topic: "\(Self.prefix)/ln-honest/readings",
                                 payload: [UInt8](repeating: 0x20, count: 300 << 10), now: .now())
        // An entry whose hash does not match its body (forged in transit).
        let genuine = honest[20]
        let forged = LedgerEntry(seq: genuine.seq, body: Array(genuine.bodyText.replacingOccurrences(of: "1500", with: "9999").utf8),
                                 prev: genuine.prev, hash: genuine.hash, signature: genuine.signature)
        await rig.send("ln-honest", pod: "POD-H", [forged][...])
        // A replay of an old batch: harmless duplicates.
        await rig.send("ln-honest", pod: "POD-H", honest[0..<10])

        #expect(rig.metric(#"coordinator_ingest_dropped_total{reason="malformed_json"}"#) == 1)
        #expect(rig.metric(#"coordinator_ingest_dropped_total{reason="unknown_node"}"#) == 3)
        #expect(rig.metric(#"coordinator_ingest_dropped_total{reason="wrong_topic"}"#) == 1)
        #expect(rig.metric(#"coordinator_ingest_dropped_total{reason="oversized"}"#) == 1)
        #expect(rig.metric(#"coordinator_ingest_dropped_total{reason="bad_hash"}"#) == 1)
        #expect(rig.metric("coordinator_ingest_duplicates_total") == 10)

        // A fork: another entry for a seq the victim already published; then its honest tail.
        let fork = LedgerEntry.make(seq: 10, body: Array(#"{"t":"2026-11-24T10:00:00.000Z","k":"reading","m":"main","q":"good","v":{"active_power":1}}"#.utf8),
                                    prev: victim[8].hash, signer: victimKey)
        await rig.send("ln-victim", pod: "POD-V", [fork][...])
        await rig.send("ln-victim", pod: "POD-V", victim[20..<40])
        await rig.send("ln-honest", pod: "POD-H", honest[20..<40])
        #expect(rig.metric(#"coordinator_ingest_dropped_total{reason="fork"}"#) == 1)
        #expect(rig.metric(#"coordinator_ingest_dropped_total{reason="quarantined"}"#) == 20)
        #expect(rig.metric("coordinator_quarantined_nodes") == 1)
        try await rig.ingest.commit()
        try await rig.ingest.certify(now: Timestamp.now().adding(milliseconds: 60_000))

        let end = Self.t0.adding(milliseconds: 3_600_000)
        let honestStored = try await rig.store.readings(node: "ln-honest", meter: "main", from: Self.t0, to: end)
        #expect(honestStored.map(\.seq) == Array(1...40) && honestStored.allSatisfy(\.certified))
        #expect(honestStored.allSatisfy { $0.reading.activePower == 1500 })
        // The victim's uncertified entries were discarded with the quarantine: nothing of the fork is held.
        #expect(try await rig.store.readings(node: "ln-victim", meter: "main", from: Self.t0, to: end).isEmpty)
        #expect(try await rig.store.node("ln-victim")?.quarantine?.contains("two different entries for seq 10") == true)
        #expect(try await rig.store.readings(node: "ln-stranger", meter: "main", from: Self.t0, to: end).isEmpty)
    }

    @Test func aSignatureByAnotherKeyQuarantinesAtCertification() async throws {
        let rig = try await Rig()
        let key = SigningKey.generate()
        try await rig.register("ln-1", pod: "POD-1", key: key)
        // Linked correctly, signed by someone else: the chain checks pass, the signature does not.
        let impostor = Self.chain(12, key: SigningKey.generate())
        await rig.send("ln-1", pod: "POD-1", impostor[0..<12])
        try await rig.ingest.commit()
        try await rig.ingest.certify(now: Timestamp.now().adding(milliseconds: 60_000))
        #expect(rig.metric(#"coordinator_ingest_dropped_total{reason="bad_signature"}"#) == 1)
        #expect(try await rig.store.readings(node: "ln-1", meter: "main", from: Self.t0, to: .now()).isEmpty)
        #expect(try await rig.store.node("ln-1")?.quarantine != nil)
    }

    /// A backlog is written in bounded transactions, the chain state with the last: everything
    /// arrives once, and certification still finds it.
    @Test func aBacklogIsCommittedInBoundedParts() async throws {
        let rig = try await Rig(maxEntriesPerTransaction: 7)
        let (store, ingest) = (rig.store, rig.ingest)
        let key = SigningKey.generate()
        try await rig.register("ln-1", pod: "POD-1", key: key)
        let entries = Self.chain(25, key: key)
        for start in stride(from: 0, to: 25, by: 5) { await rig.send("ln-1", pod: "POD-1", entries[start..<(start + 5)]) }
        try await ingest.commit()
        #expect(try await store.rawStorageStats().stagedEntries == 25)
        try await ingest.certify(now: Timestamp.now().adding(milliseconds: 60_000))
        let stored = try await store.readings(node: "ln-1", meter: "main", from: Self.t0, to: .now())
        #expect(stored.map(\.seq) == Array(1...25) && stored.allSatisfy(\.certified))
    }

    @Test func blocksFallingDueTogetherAreSealedOverSeveralPasses() async throws {
        let rig = try await Rig(sealNodesPerPass: 2)
        let (store, ingest) = (rig.store, rig.ingest)
        let key = SigningKey.generate()
        let entries = Self.chain(Int(blockSize), key: key)
        for node in 1...5 {
            try await rig.register("ln-\(node)", pod: "POD-\(node)", key: key)
            await rig.send("ln-\(node)", pod: "POD-\(node)", entries[...])
        }
        try await ingest.commit()
        var blocks: [Int] = []
        for _ in 0..<4 {
            try await ingest.certify(now: Timestamp.now().adding(milliseconds: 60_000))
            blocks.append(try await store.rawStorageStats().blocks)
        }
        #expect(blocks == [2, 4, 5, 5])
    }

    @Test func aRestartResumesTheChainsAndKeyRotationKeepsOldEntriesVerifiable() async throws {
        let folder = TemporaryDirectory()
        let oldKey = SigningKey.generate()
        let entries = Self.chain(30, key: oldKey)
        let path = folder.path + "/scd.sqlite"
        do {
            let store = try SQLiteStore(path: path)
            let ingest = Ingest(store: store, settings: .init(certifyWithinSeconds: 60, intervalMs: 4000, maxPayloadBytes: 1 << 20, commitIntervalMs: 250),
                                topicPrefix: Self.prefix, metrics: IngestMetrics(registry: PrometheusCollectorRegistry()), logger: Logger(label: "test"))
            try await store.addNode(NodeRecord(id: "ln-1", pod: "POD-1", meter: "main", keys: [oldKey.publicKey]))
            try await ingest.restore(now: .now())
            await ingest.receive(topic: "\(Self.prefix)/ln-1/readings", payload: Self.payload(node: "ln-1", pod: "POD-1", entries[0..<20]), now: .now())
            try await ingest.commit()
            // Stopped without a clean stop: the chain state is persisted lazily, so only the
            // staged entries tell the next run how far the chain got.
            #expect(try await store.chainStates().first { $0.node == "ln-1" }?.segments.isEmpty == true)
        }
        // Rotated: the new key is registered; the old one stays for the entries it signed.
        let store = try SQLiteStore(path: path)
        try await store.addNode(NodeRecord(id: "ln-1", pod: "POD-1", meter: "main", keys: [SigningKey.generate().publicKey]))
        #expect(try await store.node("ln-1")?.keys.count == 2)
        let metrics = PrometheusCollectorRegistry()
        let ingest = Ingest(store: store, settings: .init(certifyWithinSeconds: 60, intervalMs: 4000, maxPayloadBytes: 1 << 20, commitIntervalMs: 250),
                            topicPrefix: Self.prefix, metrics: IngestMetrics(registry: metrics), logger: Logger(label: "test"))
        try await ingest.restore(now: .now())
        await ingest.receive(topic: "\(Self.prefix)/ln-1/readings", payload: Self.payload(node: "ln-1", pod: "POD-1", entries[10..<30]), now: .now())
        try await ingest.commit()
        try await ingest.certify(now: Timestamp.now().adding(milliseconds: 60_000))
        let stored = try await store.readings(node: "ln-1", meter: "main", from: Self.t0, to: .now())
        #expect(stored.map(\.seq) == Array(1...30) && stored.allSatisfy(\.certified))
        #expect(try await store.chainStates().first { $0.node == "ln-1" }?.segments.map(\.last) == [30],
                "certification persists the chain state")
        try await ingest.updateMeasures(now: .now())
        #expect(try await store.measures(pod: "POD-1", from: Self.t0, to: .now()).isEmpty == false,
                "the quarter of the entries staged before the stop is measured")
    }

    @Test func aCleanStopPersistsEveryChain() async throws {
        let key = SigningKey.generate()
        let rig = try await Rig()
        try await rig.register("ln-1", pod: "POD-1", key: key)
        await rig.send("ln-1", pod: "POD-1", Self.chain(5, key: key)[0..<5])
        try await rig.ingest.commit()
        #expect(try await rig.store.chainStates().first { $0.node == "ln-1" }?.segments.isEmpty == true)
        try await rig.ingest.commit(persistingEveryChain: true)
        #expect(try await rig.store.chainStates().first { $0.node == "ln-1" }?.segments.map(\.last) == [5])
    }

    /// Entries certified before a stop but not sealed yet are sealed after the restart, with no new data.
    @Test func certifiedEntriesStagedBeforeARestartAreSealedAfterIt() async throws {
        let key = SigningKey.generate()
        let entries = Self.chain(70, key: key)
        let rig = try await Rig()
        try await rig.register("ln-1", pod: "POD-1", key: key)
        var commit = IngestCommit()
        commit.entries = try entries.map { StagedEntry(node: "ln-1", entry: $0, reading: try ReadingBody(parsing: $0.body)) }
        commit.chains = [ChainState(node: "ln-1", holding: entries, certifiedThrough: 70)]
        _ = try await rig.store.commit(commit)
        #expect(try await rig.store.rawStorageStats().blockEntries == 0)
        try await rig.ingest.restore(now: .now())
        try await rig.ingest.certify(now: .now())
        let stats = try await rig.store.rawStorageStats()
        #expect(stats.blockEntries == 64 && stats.stagedEntries == 6)
    }

    /// A node that stops publishing mid-block gets its trailing certified entries sealed (and so
    /// proven) once it has been quiet for a quarter hour; a live node's are left to fill a block.
    @Test func aStoppedNodesTrailingEntriesAreSealedOnceItIsQuiet() async throws {
        let rig = try await Rig()
        let key = SigningKey.generate()
        try await rig.register("ln-1", pod: "POD-1", key: key)
        let entries = Self.chain(70, key: key)
        let arrival = Timestamp.now()
        await rig.send("ln-1", pod: "POD-1", entries[...], now: arrival)
        let certified = arrival.adding(milliseconds: rig.settings.certifyAfterMs)
        try await rig.ingest.certify(now: certified)
        var stats = try await rig.store.rawStorageStats()
        #expect(stats.blockEntries == 64 && stats.stagedEntries == 6)

        try await rig.ingest.certify(now: certified.adding(milliseconds: Ingest.quietSealMs - 1000))
        stats = try await rig.store.rawStorageStats()
        #expect(stats.stagedEntries == 6, "sealed before the node was quiet")

        try await rig.ingest.certify(now: certified.adding(milliseconds: Ingest.quietSealMs + 60_000))
        stats = try await rig.store.rawStorageStats()
        #expect(stats.blockEntries == 70 && stats.stagedEntries == 0)
        #expect(rig.metric("coordinator_certification_log_leaves_total") == 2)

        // The node comes back: its next block starts at 71 and links to the short one.
        await rig.send("ln-1", pod: "POD-1", Self.chain(128, key: key)[70...], now: arrival)
        try await rig.ingest.certify(now: certified.adding(milliseconds: Ingest.quietSealMs + 120_000))
        stats = try await rig.store.rawStorageStats()
        #expect(stats.blockEntries == 128 && stats.stagedEntries == 0)
        #expect(rig.metric("coordinator_ingest_dropped_total{reason=\"fork\"}") == 0)
    }
}
