import Certification
import GridCore
import Ledger
import Logging
import MQTT
import Prometheus
import SCD
import Sodium
import Wire

/// A node's entry: the key of entries pending their commit.
package struct NodeSeq: Hashable {
    package let node: String
    package let seq: UInt64
}

/// Takes readings messages, checks every node's chain, stages accepted entries, certifies them
/// lazily (one signature per run), seals certified runs into compressed blocks and keeps the
/// quarter-hour measures current. One actor: the chains are its state; the store is durable.
public actor Ingest {
    private let store: any SCDStore
    private let settings: IngestSettings
    private let topicPrefix: String
    private let logger: Logger
    private let metrics: IngestMetrics

    private var registry: [String: NodeRecord] = [:]
    private var chains: [String: NodeChain] = [:]
    private var pending = IngestCommit()
    /// Hashes of the entries in `pending`, which a replayed batch may collide with.
    private var pendingHashes: [NodeSeq: SHA256Digest] = [:]
    /// Nodes whose chain state the next commit persists (certification advanced, quarantine).
    private var touched: Set<String> = []
    /// Nodes whose chain moved on since their state was last persisted: persisted at a clean stop,
    /// caught up from their staged entries after a crash (writing every node's state on every
    /// commit would cost a row rewrite per reading).
    private var unpersisted: Set<String> = []
    private var uncertified: Set<String> = []
    /// Per node: seqs below this are sealed (or were not certified when last sealed).
    private var sealBoundary: [String: UInt64] = [:]
    /// Nodes whose certification advanced since the last sealing pass (only they can seal more).
    private var certifiedSinceSeal: Set<String> = []
    /// Nodes holding certified entries short of a whole block, since when: once such a node has
    /// certified nothing new for `quietSealMs` (it stopped publishing), they are sealed as a
    /// shorter block, so every certified reading gets its proof.
    private var partialSince: [String: Timestamp] = [:]
    private var nextQuietScan = Timestamp(millisecondsSince1970: 0)
    /// When this instance last received a message from each node (the console's online state).
    private var lastMessage: [String: Timestamp] = [:]
    /// Entries stored in each of the last minute's seconds (the console's ingest rate).
    private var storedPerSecond = [Int](repeating: 0, count: 60)
    private var storedSecond: Int64 = 0
    private var measures: QuarterMeasures
    /// A live node certifies at least every `certify_within_s`; this much silence means it stopped.
    static let quietSealMs: Int64 = 15 * 60_000

    /// At most this many entries go into one transaction: a backlog (after a stalled store) is
    /// written in bounded transactions, not in one that grows with it.
    let maxEntriesPerTransaction: Int
    /// At most this many nodes are sealed a pass (a second). Sealing compresses each block (about
    /// 8 µs a reading); when the blocks of 100,000 nodes fall due together (nodes started at
    /// once, or a backlog after an outage), one pass would hold the commits for most of a minute.
    /// 1,000 a pass is 2.5 times the steady rate of 100,000 nodes at 4 s (390 blocks a second).
    let sealNodesPerPass: Int

    public init(store: any SCDStore, settings: IngestSettings, topicPrefix: String,
                metrics: IngestMetrics, logger: Logger, maxEntriesPerTransaction: Int = 50_000, sealNodesPerPass: Int = 1_000) {
        self.maxEntriesPerTransaction = maxEntriesPerTransaction
        self.sealNodesPerPass = sealNodesPerPass
        self.store = store
        self.settings = settings
        self.topicPrefix = topicPrefix
        self.metrics = metrics
        self.logger = logger
        measures = QuarterMeasures(intervalMs: Int64(settings.intervalMs))
    }

    /// Loads the registry and every node's chain state, then brings each chain up to date with
    /// the entries staged after its state was persisted.
    public func restore(now: Timestamp) async throws {
        try await reloadRegistry()
        for state in try await store.chainStates() {
            guard let node = registry[state.node] else { continue }
            chains[state.node] = NodeChain(node: state.node, keys: node.keys, segments: state.segments,
                                           quarantine: state.quarantine, now: now)
        }
        let active = chains.filter { $0.value.quarantine == nil }.map { (node: $0.key, seq: $0.value.segments.first?.last ?? 0) }
        // A batch of nodes at a time bounds what is held in memory.
        for start in stride(from: 0, to: active.count, by: 1000) {
            let staged = try await store.stagedEntries(after: Array(active[start..<min(active.count, start + 1000)]))
            var index = 0
            while index < staged.count {
                let node = staged[index].node
                var entries: [LedgerEntry] = []
                while index < staged.count, staged[index].node == node {
                    entries.append(staged[index].entry)
                    index += 1
                }
                replay(node, entries, now: now)
            }
        }
        for (node, chain) in chains where chain.quarantine == nil {
            if chain.segments.contains(where: { !$0.isCertified }) { uncertified.insert(node) }
            // Certified entries may wait in staging from the last run.
            if chain.segments.contains(where: { $0.certifiedThrough > 0 }) { certifiedSinceSeal.insert(node) }
        }
        metrics.quarantined.set(Int64(chains.values.count { $0.quarantine != nil }))
    }

    /// Feeds a node's chain the entries it held when the process stopped without persisting it.
    private func replay(_ node: String, _ entries: [LedgerEntry], now: Timestamp) {
        guard var chain = chains[node], let meter = registry[node]?.meter else { return }
        let held = Dictionary(entries.map { ($0.seq, $0.hash) }, uniquingKeysWith: { first, _ in first })
        var runs: [[LedgerEntry]] = []
        for entry in entries {
            if let last = runs.last?.last, last.seq + 1 == entry.seq { runs[runs.count - 1].append(entry) } else { runs.append([entry]) }
        }
        var replayed = 0
        for run in runs where chain.quarantine == nil {
            for (entry, verdict) in zip(run, chain.receive(run, now: now) { held[$0] }) where verdict == .stored {
                replayed += 1
                // Its measure may not have been computed before the stop.
                if let reading = try? ReadingBody(parsing: entry.body), reading.kind == "reading", reading.meter == meter {
                    measures.replayed(node: node, reading: reading)
                }
            }
        }
        // What linking certified is certified by the chain state, persisted once touched.
        _ = chain.takeCertifiedByLinking()
        chains[node] = chain
        if let quarantine = chain.quarantine {
            quarantineNode(node, reason: quarantine)
        } else if replayed > 0 {
            touched.insert(node)
        }
    }

    /// Picks up nodes added or re-keyed since (`coordinator node add` writes the store directly).
    public func reloadRegistry() async throws {
        let nodes = try await store.nodes()
        registry = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0) })
        for node in nodes {
            if chains[node.id] == nil {
                chains[node.id] = NodeChain(node: node.id, keys: node.keys)
            } else {
                chains[node.id]!.keys = node.keys
                if node.quarantine == nil && chains[node.id]!.quarantine != nil { chains[node.id]!.release() }
                // Quarantined by another coordinator instance.
                if let reason = node.quarantine, chains[node.id]!.quarantine == nil {
                    chains[node.id]!.markForked(reason)
                    uncertified.remove(node.id)
                }
            }
        }
    }

    /// MQTT messages in their order of arrival.
    public func receive(_ messages: ArraySlice<MQTTClient.Message>, now: Timestamp) async {
        for message in messages { await receive(topic: message.topic, payload: message.payload, now: now) }
    }

    /// One MQTT message on `{prefix}/+/readings`.
    public func receive(topic: String, payload: [UInt8], now: Timestamp) async {
        metrics.messages.increment()
        let message: ReadingsMessage
        do {
            message = try ReadingsMessage(topic: topic, payload: payload, prefix: topicPrefix, maxBytes: settings.maxPayloadBytes)
        } catch {
            drop(error, count: 1, topic: topic)
            return
        }
        let id = message.node
        // No copy of the chain is kept here: it is changed in place below.
        guard let node = registry[id], let quarantined = chains[id].map({ $0.quarantine }) else {
            drop(Rejection(reason: .unknownNode, detail: "node \"\(id)\" is not registered"),
                 count: message.entries.count, topic: topic)
            return
        }
        if let quarantine = quarantined {
            drop(Rejection(reason: .quarantined, detail: quarantine), count: message.entries.count, topic: topic)
            return
        }
        var readings: [ReadingBody] = []
        readings.reserveCapacity(message.entries.count)
        for entry in message.entries {
            do {
                readings.append(try ReadingBody(parsing: entry.body))
            } catch {
                drop(Rejection(reason: .malformedBody, detail: "seq \(entry.seq): \(error.description)"),
                     count: message.entries.count, topic: topic)
                return
            }
        }
        // Hashes of held entries a replayed batch may collide with (a fork shows as a difference).
        let inside: [UInt64] = {
            let segments = chains[id]!.segments
            return message.entries.map(\.seq).filter { seq in
                segments.contains { $0.first <= seq && seq < $0.last } && pendingHashes[NodeSeq(node: id, seq: seq)] == nil
            }
        }()
        var fromStore: [UInt64: SHA256Digest] = [:]
        if !inside.isEmpty {
            do {
                fromStore = try await store.storedHashes(node: id, seqs: inside)
            } catch {
                logger.error("cannot read stored hashes of \(id): \(error)")
                return
            }
        }
        // The store was asked meanwhile; the chain may have moved on (it is never removed).
        let wasQuarantined = chains[id]!.quarantine != nil
        // The chain is changed where it lives: a copy taken out would copy its segments on write.
        let (verdicts, linked, quarantine, hasUncertified) = { (chain: inout NodeChain) in
            let verdicts = chain.receive(message.entries, now: now) { seq in pendingHashes[NodeSeq(node: id, seq: seq)] ?? fromStore[seq] }
            return (verdicts, chain.takeCertifiedByLinking(), chain.quarantine, chain.segments.contains { !$0.isCertified })
        }(&chains[id]!)
        let stored = record(verdicts, of: message, readings: readings, node: node, forked: quarantine != nil, topic: topic, now: now)
        metrics.stored.increment(by: Int64(stored))
        lastMessage[id] = now
        countStored(stored, now: now)
        if let lastTime = readings.last?.time {
            metrics.lastReadingAge.set(Double(now.millisecondsSince1970 - lastTime.millisecondsSince1970) / 1000)
        }
        if !linked.isEmpty {
            certifiedSinceSeal.insert(id)
            touched.insert(id)
        }
        if let quarantine, !wasQuarantined {
            quarantineNode(id, reason: quarantine)
        }
        unpersisted.insert(id)
        if hasUncertified { uncertified.insert(id) }
    }

    /// Stages what the chain stored, counts duplicates and drops what it refused; how many were stored.
    private func record(_ verdicts: [NodeChain.Verdict], of message: ReadingsMessage, readings: [ReadingBody], node: NodeRecord,
                        forked: Bool, topic: String, now: Timestamp) -> Int {
        let id = message.node
        var stored = 0
        for (index, verdict) in verdicts.enumerated() {
            let entry = message.entries[index]
            switch verdict {
            case .stored:
                stored += 1
                pending.entries.append(StagedEntry(node: id, entry: entry, reading: readings[index]))
                pendingHashes[NodeSeq(node: id, seq: entry.seq)] = entry.hash
                // A reading dated beyond tomorrow (a node's clock far ahead) is kept but not measured:
                // its quarter would never be due, and would be held here for ever.
                let measured = readings[index].kind == "reading" && readings[index].meter == node.meter
                    && readings[index].time.millisecondsSince1970 <= now.millisecondsSince1970 + QuarterMeasures.aheadMs
                measures.stored(node: id, pod: node.pod, seq: entry.seq, reading: measured ? readings[index] : nil)
            case .duplicate:
                metrics.duplicates.increment()
            case .rejected(let reason):
                drop(Rejection(reason: forked ? .fork : .badHash, detail: reason), count: 1, topic: topic)
            case .tooFragmented:
                drop(Rejection(reason: .tooFragmented, detail: "seq \(entry.seq) would open run \(NodeChain.maximumRuns + 1) of \(id)"),
                     count: 1, topic: topic)
            }
        }
        return stored
    }

    private func countStored(_ count: Int, now: Timestamp) {
        let second = now.millisecondsSince1970 / 1000
        if second > storedSecond {
            for passed in (storedSecond + 1)...min(second, storedSecond + 60) { storedPerSecond[Int(Timestamp.floorDivide(passed, 60).remainder)] = 0 }
            storedSecond = second
        }
        // Floored: a simulated clock may run before 1970.
        storedPerSecond[Int(Timestamp.floorDivide(second, 60).remainder)] += count
    }

    /// A Light Node as the fleet overview shows it.
    public struct NodeStatus: Sendable {
        public let node: NodeRecord
        /// The newest entry held, and how far the chain is certified.
        public let lastSeq: UInt64?
        public let certifiedThrough: UInt64?
        /// Seqs missing below the newest (a backlog not yet delivered).
        public let gaps: [ClosedRange<UInt64>]
        public let uncertifiedSince: Timestamp?
        public let lastMessage: Timestamp?
        public let quarantine: String?
    }

    /// Every registered node's chain and when it was last heard of, and the entries stored a
    /// second over the last minute.
    public func fleet(now: Timestamp) -> (nodes: [NodeStatus], entriesPerSecond: Double) {
        countStored(0, now: now)
        let nodes = registry.values.sorted { $0.id < $1.id }.map(status)
        // The current second is still filling: the rate is over the 59 before it.
        let current = Int((now.millisecondsSince1970 / 1000) % 60)
        let total = storedPerSecond.enumerated().reduce(0) { $0 + ($1.offset == current ? 0 : $1.element) }
        return (nodes, Double(total) / 59)
    }

    /// One registered node's status (nil if it is not registered).
    public func status(of node: String) -> NodeStatus? {
        registry[node].map(status)
    }

    private func status(_ node: NodeRecord) -> NodeStatus {
        let chain = chains[node.id]
        return NodeStatus(node: node, lastSeq: chain?.segments.last?.last,
                          certifiedThrough: chain?.segments.last(where: { $0.certifiedThrough > 0 })?.certifiedThrough,
                          gaps: chain?.gaps ?? [], uncertifiedSince: chain?.uncertifiedSince, lastMessage: lastMessage[node.id],
                          quarantine: chain?.quarantine ?? node.quarantine)
    }

    /// Quarantines a node for a fork found by the store (an entry or link another instance holds differently).
    private func storeFoundFork(_ node: String, reason: String) {
        guard var chain = chains[node], chain.quarantine == nil else { return }
        chain.markForked(reason)
        chains[node] = chain
        uncertified.remove(node)
        metrics.dropped(.fork, count: 1)
        quarantineNode(node, reason: reason)
    }

    private func quarantineNode(_ node: String, reason: String) {
        logger.critical("ALERT node \(node) quarantined: \(reason); its uncertified entries are discarded")
        pending.quarantined.append((node, reason))
        touched.insert(node)
        measures.forget(node: node)
        metrics.quarantined.increment()
        // Entries of this node not yet written are uncertified by definition: never stored.
        pending.entries.removeAll { $0.node == node }
        pendingHashes = pendingHashes.filter { $0.key.node != node }
    }

    private func drop(_ rejection: Rejection, count: Int, topic: String) {
        metrics.dropped(rejection.reason, count: count)
        logger.warning("dropped \(count) entr\(count == 1 ? "y" : "ies") from \(topic): \(rejection.reason.rawValue): \(rejection.detail)")
    }

    /// Writes what was accepted since the last commit; `persistingEveryChain` (at a clean stop)
    /// also writes the state of every chain that moved on.
    public func commit(persistingEveryChain: Bool = false) async throws {
        // A backlog's entries go first, in bounded parts; chain states and quarantines go with
        // the last part, after the entries they describe.
        while pending.entries.count > maxEntriesPerTransaction {
            var part = IngestCommit()
            part.entries = Array(pending.entries.prefix(maxEntriesPerTransaction))
            pending.entries.removeFirst(maxEntriesPerTransaction)
            try await write(part)
        }
        if persistingEveryChain { touched.formUnion(unpersisted) }
        guard !pending.isEmpty || !touched.isEmpty else { return }
        var batch = pending
        batch.chains = touched.compactMap { node in
            chains[node].map { ChainState(node: node, segments: $0.segments, quarantine: $0.quarantine) }
        }
        pending = IngestCommit()
        pendingHashes.removeAll(keepingCapacity: true)
        unpersisted.subtract(touched)
        touched = []
        try await write(batch)
    }

    /// One transaction; when it fails, what it held is pending again for the next commit to
    /// retry (inserts are idempotent on (node, seq)).
    private func write(_ batch: IngestCommit) async throws {
        let conflicts: [HeldConflict]
        do {
            conflicts = try await store.commit(batch)
        } catch {
            pending.entries.insert(contentsOf: batch.entries, at: 0)
            pending.quarantined.insert(contentsOf: batch.quarantined, at: 0)
            touched.formUnion(batch.chains.map(\.node))
            unpersisted.formUnion(batch.chains.map(\.node))
            throw error
        }
        metrics.committed.increment(by: Int64(batch.entries.count - conflicts.count))
        for conflict in conflicts {
            storeFoundFork(conflict.node, reason: "fork: two different entries for seq \(conflict.seq) (one held by another writer)")
        }
    }

    /// Verifies one signature per run whose oldest entry has waited `certifyAfterMs`,
    /// then seals what became certified; a signature that does not verify quarantines the node.
    public func certify(now: Timestamp) async throws {
        let after = settings.certifyAfterMs
        for node in uncertified {
            guard let wasQuarantined = chains[node].map({ $0.quarantine != nil }) else { continue }
            // In place: a copy taken out of the dictionary and put back copied every node's
            // segments on each pass (at 100,000 nodes, a visible share of the ingest's CPU).
            let ranges = chains[node]!.certify(now: now, certifyAfterMs: after)
            let chain = chains[node]!
            metrics.verifications.increment(by: Int64(ranges.count))
            if let quarantine = chain.quarantine, !wasQuarantined {
                metrics.dropped(.badSignature, count: 1)
                quarantineNode(node, reason: quarantine)
            }
            if !ranges.isEmpty {
                touched.insert(node)
                certifiedSinceSeal.insert(node)
                measures.certificationAdvanced(node: node)
            }
            if !chain.segments.contains(where: { !$0.isCertified }) || chain.quarantine != nil {
                uncertified.remove(node)
            }
        }
        try await commit()
        var requests: [SealRequest] = []
        func requestSeal(_ node: String, wholeBlocks: Bool) {
            partialSince[node] = nil
            guard let chain = chains[node], chain.quarantine == nil, let keys = registry[node]?.keys,
                  let through = chain.segments.map(\.certifiedThrough).max() else { return }
            let boundary = wholeBlocks ? through / blockSize * blockSize : through
            // Called with whole blocks when certification moved on: the node is alive, and the
            // silence of one holding a part block starts anew.
            if wholeBlocks && through > boundary { partialSince[node] = now }
            guard boundary > sealBoundary[node] ?? 0 else { return }
            requests.append(SealRequest(node: node, through: boundary, keys: keys))
        }
        let due = Array(certifiedSinceSeal.prefix(sealNodesPerPass))
        for node in due { requestSeal(node, wholeBlocks: true) }
        if now >= nextQuietScan {
            nextQuietScan = now.adding(milliseconds: 60_000)
            for (node, since) in partialSince where now.millisecondsSince1970 - since.millisecondsSince1970 >= Self.quietSealMs {
                requestSeal(node, wholeBlocks: false)
            }
        }
        let outcome = try await store.seal(requests)
        // Only those sealed: nodes certified while the store worked stay due, as do the rest.
        certifiedSinceSeal.subtract(due)
        for request in requests { sealBoundary[request.node] = request.through }
        metrics.logLeaves.increment(by: Int64(outcome.leaves))
        for (node, reason) in outcome.forks { storeFoundFork(node, reason: reason) }
        if !outcome.forks.isEmpty { try await commit() }
        let oldest = uncertified.compactMap { chains[$0]?.uncertifiedSince }.min()
        metrics.certificationLag.set(oldest.map { Double(now.millisecondsSince1970 - $0.millisecondsSince1970) / 1000 } ?? 0)
        metrics.uncertifiedNodes.set(Int64(uncertified.count))
    }

    /// Writes the measures that became due: from the tallies of quarters whose readings arrived in
    /// order, and from the store for the others, 1,000 at a time; a quarter whose read or write
    /// fails is read back at the next pass.
    public func updateMeasures(now: Timestamp) async throws {
        let chains = chains
        let (ready, readBack) = measures.due(now: now) { node, seqs in
            chains[node].map { $0.isCertified(seqs.lowerBound) && $0.isCertified(seqs.upperBound) } ?? false
        }
        var written = 0
        do {
            while written < ready.count {
                let chunk = ready[written..<min(written + 1000, ready.count)]
                try await store.upsertMeasures(chunk.map(\.measure))
                written += chunk.count
            }
        } catch {
            measures.failed(ready[written...].map { ($0.node, $0.measure.start.millisecondsSince1970) })
            measures.failed(readBack)
            throw error
        }
        written = 0
        do {
            while written < readBack.count {
                let chunk = readBack[written..<min(written + 1000, readBack.count)]
                var computed: [QuarterMeasure] = []
                for (nodeID, start) in chunk {
                    guard let node = registry[nodeID] else { continue }
                    let begin = Timestamp(millisecondsSince1970: start)
                    let readings = try await store.readings(node: node.id, meter: node.meter,
                                                            from: begin.adding(milliseconds: -QuarterHours.milliseconds),
                                                            to: begin.adding(milliseconds: QuarterHours.milliseconds))
                    guard let measure = QuarterHours.measure(pod: node.pod, start: begin, readings: readings,
                                                             intervalMs: Int64(settings.intervalMs)) else { continue }
                    if !measure.certified { measures.readBackProvisional(node: node.id, start: start) }
                    computed.append(measure)
                }
                try await store.upsertMeasures(computed)
                written += chunk.count
            }
        } catch {
            measures.failed(readBack[written...])
            throw error
        }
    }
}
