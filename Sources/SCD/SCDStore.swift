import Certification
import GridCore
import Ledger
import Sodium

/// What ingest writes in one transaction: new entries, the chain state of the nodes whose
/// certification advanced (which is what certifies their staged entries) or that were
/// quarantined, and quarantines (whose uncertified entries are discarded).
public struct IngestCommit: Sendable {
    public var entries: [StagedEntry] = []
    public var chains: [ChainState] = []
    public var quarantined: [(node: String, reason: String)] = []

    public init() {}

    public var isEmpty: Bool { entries.isEmpty && chains.isEmpty && quarantined.isEmpty }
}

extension SCDStore {
    /// The record of an API token as presented (a bearer header, the console's login), or nil.
    /// Only tokens' SHA-256 are stored; an implausibly long token is not even hashed.
    public func caller(presenting token: some StringProtocol) async throws -> TokenRecord? {
        guard token.utf8.count < 512 else { return nil }
        return try await self.token(hash: SHA256.hash(Array(token.utf8)))
    }

    public func addNode(_ node: NodeRecord) async throws {
        try await addNodes([node])
    }

    public func pods(aggregator: String?) async throws -> [PODRecord] {
        try await pods(aggregator: aggregator, after: nil, limit: Int(Int32.max))
    }

    /// Reading entries of `meter` on `node` with `from <= t < to`, ascending by seq.
    public func readings(node: String, meter: String, from: Timestamp, to: Timestamp) async throws -> [RawReading] {
        RawReading.of(try await entries(node: node, from: from, to: to), meter: meter)
    }

    public func baseline(pod: String, day: String) async throws -> Baseline? {
        try await baselines(pods: [pod], day: day).first
    }

    public func measures(pod: String, from: Timestamp, to: Timestamp) async throws -> [QuarterMeasure] {
        try await measures(pods: [pod], from: from, to: to)
    }
}

/// Sizes of the raw storage, for the metrics and the bytes-per-reading benchmark.
public struct RawStorageStats: Sendable, Equatable {
    public var stagedEntries: Int
    public var blocks: Int
    public var blockEntries: Int
    /// Bytes of the sealed blocks' rows: data, hashes, signature and keys.
    public var blockBytes: Int

    package init(stagedEntries: Int, blocks: Int, blockEntries: Int, blockBytes: Int) {
        self.stagedEntries = stagedEntries
        self.blocks = blocks
        self.blockEntries = blockEntries
        self.blockBytes = blockBytes
    }
}

/// The Shared Customer Database: every role below, in one store. Two backends (SCDSQLite
/// embedded, SCDPostgres at scale); the same tests run against both. A caller that needs one
/// role takes that protocol (docs/architecture.md, "Storage seams").
public protocol SCDStore: NodeRegistry, RawEntryStore, CertificationLogStore, UFTPMessageLog, CommonReferenceRegister,
                          MarketDocumentStore {}

/// Who is who: nodes and their keys, PODs and their parties, API tokens, the day-ahead customer
/// lists and baselines (I-02, I-03).
public protocol NodeRegistry: Sendable {
    /// Registers nodes (and their PODs) in one transaction; a new key for a known node is a rotation.
    func addNodes(_ nodes: [NodeRecord]) async throws
    func nodes() async throws -> [NodeRecord]
    func node(_ id: String) async throws -> NodeRecord?
    /// The nodes metering one POD (one, or more after a replacement).
    func nodes(pod: String) async throws -> [NodeRecord]
    func releaseQuarantine(node: String) async throws
    func upsertPOD(_ pod: PODRecord) async throws
    func pod(_ id: String) async throws -> PODRecord?
    /// PODs in id order (all, or one aggregator's), after `after`, at most `limit`.
    func pods(aggregator: String?, after: String?, limit: Int) async throws -> [PODRecord]
    /// The PODs behind one congestion point, in id order.
    func pods(congestionPoint: String) async throws -> [PODRecord]
    func addToken(_ token: TokenRecord) async throws
    func token(hash: SHA256Digest) async throws -> TokenRecord?

    /// Replaces an aggregator's day-ahead customer list for `day` (I-02).
    func putCustomerList(day: String, aggregator: String, pods: [String]) async throws
    /// The day's list: every aggregator's, or one's.
    func customerList(day: String, aggregator: String?) async throws -> [CustomerListEntry]
    /// Stores a BRP's day-ahead baseline of a POD (I-03), replacing an earlier one.
    func putBaseline(_ baseline: Baseline) async throws
    /// The baselines of `day` held for any of `pods`.
    func baselines(pods: [String], day: String) async throws -> [Baseline]
}

/// The nodes' ledger entries as received: staged, then sealed into compressed blocks whose tips
/// the certification log holds; and the quarter-hour measures taken from them.
public protocol RawEntryStore: Sendable {
    /// Each node's chain state as last persisted (the ingest persists it lazily: when
    /// certification advances, on quarantine and at a clean stop).
    func chainStates() async throws -> [ChainState]
    /// Staged entries of each node with seq above its given bound, ascending by node and seq:
    /// what a lazily persisted chain state does not cover yet.
    func stagedEntries(after: [(node: String, seq: UInt64)]) async throws -> [(node: String, entry: LedgerEntry)]
    /// Hashes of held entries of `node` among `seqs` (staged or sealed).
    func storedHashes(node: String, seqs: [UInt64]) async throws -> [UInt64: SHA256Digest]
    /// Writes one ingest transaction. Returns the entries another writer (a second coordinator
    /// instance) already holds with a different hash: forks, of which nothing was overwritten.
    func commit(_ commit: IngestCommit) async throws -> [HeldConflict]
    /// In one transaction: moves each node's certified staged entries up to `through` into
    /// compressed blocks (runs split at gaps and at multiples of `blockSize`) and appends each
    /// block's tip to the certification log. A run whose last signature does not verify under
    /// the keys stays staged; a node whose entries do not link is reported forked, not sealed.
    func seal(_ requests: [SealRequest]) async throws -> SealOutcome
    /// Drops raw entries and blocks older than `before` (retention), block by block.
    func expireRaw(before: Timestamp) async throws -> Int
    /// Entries of `node` (readings, set-point records and reports, events) with `from <= t < to`,
    /// ascending by seq.
    func entries(node: String, from: Timestamp, to: Timestamp) async throws -> [RawEntry]
    func upsertMeasures(_ measures: [QuarterMeasure]) async throws
    /// Measures of `pods` with `from <= start < to`, by POD (in `pods`' order) then start.
    func measures(pods: [String], from: Timestamp, to: Timestamp) async throws -> [QuarterMeasure]
    func rawStorageStats() async throws -> RawStorageStats
}

/// The certification log (RFC 6962): leaves, tiles, signed checkpoints, and the sealed blocks
/// its leaves stand for.
public protocol CertificationLogStore: Sendable {
    /// Leaves in the log.
    func logSize() async throws -> UInt64
    func logTiles(_ ids: Set<LogTiles.TileID>) async throws -> [LogTiles.TileID: [SHA256Digest]]
    /// Stores a signed tree head (a second one for the same size is ignored).
    func addCheckpoint(_ checkpoint: StoredCheckpoint) async throws
    /// The checkpoint of `size`, or the newest when nil.
    func checkpoint(size: UInt64?) async throws -> StoredCheckpoint?
    /// The sealed block of `node` holding `seq`.
    func sealedBlock(node: String, seq: UInt64) async throws -> SealedBlock?
}

/// Every UFTP message received and sent, the revisions taken, and the durable outbox.
public protocol UFTPMessageLog: Sendable {
    /// Stores a message (never replacing one) and returns its id.
    func addUFTPMessage(_ message: UFTPMessageRecord) async throws -> Int64
    /// Records `revision` as the latest processed of a revisioned message (a D-Prognosis, a
    /// FlexRequest) from `sender` for `scope`, unless a higher one was: then returns that one and
    /// records nothing. One statement, so two instances taking revisions at once agree.
    func recordUFTPRevision(sender: String, type: String, scope: String, revision: Int64) async throws -> Int64?
    func uftpMessages(_ query: UFTPMessageQuery) async throws -> [UFTPMessageRecord]
    /// Stores an outgoing message and queues it for `endpoint` (first attempt at its time), in
    /// one transaction: a message is never queued unlogged or logged unqueued.
    func queueUFTPMessage(_ message: UFTPMessageRecord, endpoint: String) async throws -> Int64
    /// Claims up to `limit` pending deliveries due at `now`, the first queued of each endpoint's,
    /// by moving their next attempt `leaseMs` ahead: one sender (of several instances) attempts
    /// each, and a sender that dies mid-attempt leaves it due again when the lease runs out.
    func claimUFTPDeliveries(now: Timestamp, leaseMs: Int64, limit: Int) async throws -> [UFTPDelivery]
    /// Records an attempt's outcome.
    func recordUFTPDelivery(message: Int64, _ status: UFTPDeliveryStatus) async throws
}

/// The Common Reference this platform keeps as CRO: registered participants and the register
/// of congestion points and connections.
public protocol CommonReferenceRegister: Sendable {
    /// Registers a DSO or aggregator, or renames one.
    func registerCROParticipant(_ participant: CROParticipant) async throws
    func croParticipants() async throws -> [CROParticipant]
    /// The part of the register `scope` names.
    func portfolio(_ scope: PortfolioScope) async throws -> Portfolio
    /// Reads the part of the register `scope` names, lets `change` say what it becomes and
    /// writes that in its place (rows read and not returned are removed), in one transaction that
    /// no other change of the register interleaves. An error thrown by `change` changes nothing.
    func changePortfolio(_ scope: PortfolioScope, _ change: @escaping @Sendable (Portfolio) throws -> Portfolio) async throws
}

/// The market's documents (requests, offers, rounds, orders, set-points, notifications) as JSON
/// by kind, day and id.
public protocol MarketDocumentStore: Sendable {
    /// Stores a market document; one of the same kind and id is replaced when `replace`, else
    /// kept (and false returned).
    @discardableResult
    func putMarketDocument(_ document: MarketDocument, replace: Bool) async throws -> Bool
    func marketDocument(kind: MarketDocument.Kind, id: String) async throws -> MarketDocument?
    /// Documents of `kind` whose day lies in `days`, by day then id.
    func marketDocuments(kind: MarketDocument.Kind, days: ClosedRange<String>) async throws -> [MarketDocument]
    /// The ids of those documents, without their bodies.
    func marketDocumentIDs(kind: MarketDocument.Kind, days: ClosedRange<String>) async throws -> [String]
}

/// Entries per sealed block at most: about 4 minutes of 4-s readings, which bounds the staging
/// area to a few minutes of data while keeping the per-block overhead under 3 bytes a reading.
public let blockSize: UInt64 = 64

/// Why the SCD could not do what was asked.
public struct SCDError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
