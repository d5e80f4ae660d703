#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GridCore
import Sodium
import SQLite
import Synchronization

/// Who a ledger belongs to: fixed when the ledger is created, checked at every open.
public struct NodeIdentity: Sendable, Equatable {
    public let node: String
    public let pod: String
    public let publicKey: PublicKey

    public init(node: String, pod: String, publicKey: PublicKey) {
        self.node = node
        self.pod = pod
        self.publicKey = publicKey
    }
}

/// The newest pruned entry; seq 0 with a zero hash before any pruning.
public struct Anchor: Sendable, Equatable {
    public let seq: UInt64
    public let hash: SHA256Digest
    public let signature: Signature?
}

/// The newest entry, or the anchor when nothing is kept.
public struct Head: Sendable, Equatable {
    public let seq: UInt64
    public let hash: SHA256Digest
}

/// A Light Node's append-only certified ledger on SQLite (`<data_dir>/ledger.sqlite`).
///
/// Durability: WAL with `synchronous = FULL`, so an append returns only once its commit is
/// fsynced — at one entry per meter per 4 s, power loss must not lose an acknowledged entry
/// (NORMAL would only survive process crashes). Batches amortise the fsync.
/// The database itself refuses UPDATE and DELETE (triggers), except pruning below the anchor.
public final class Ledger: Sendable {
    public static let fileName = "ledger.sqlite"
    public static let publishedCursor = "published"

    public let path: String
    public let identity: NodeIdentity
    private let signer: SigningKey?
    private let store: Mutex<Store>

    /// Opens the ledger in `dataDirectory` for appending, creating the folder (0700) and the
    /// ledger on first use. An existing ledger must belong to the same node, POD and key.
    public init(dataDirectory: String, node: String, pod: String, signer: SigningKey) throws(LedgerError) {
        guard !node.isEmpty, !pod.isEmpty else { throw .invalidArgument("node id and POD must not be empty") }
        if mkdir(dataDirectory, 0o700) != 0 && errno != EEXIST {
            throw .invalidArgument("cannot create data folder \(dataDirectory): \(String(cString: strerror(errno)))")
        }
        let path = dataDirectory.hasSuffix("/") ? dataDirectory + Self.fileName : dataDirectory + "/" + Self.fileName
        let wanted = NodeIdentity(node: node, pod: pod, publicKey: signer.publicKey)
        let (identity, store) = try mappingStorageErrors { () throws -> (NodeIdentity, Store) in
            let connection = try Connection(path: path, mode: .readWriteCreate)
            connection.setBusyTimeout(milliseconds: 5000)
            try Schema.migrate(connection)
            try connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL")
            try Self.recordIdentity(wanted, in: connection)
            return (try Self.readIdentity(connection), try Store(connection))
        }
        for (field, stored, configured) in [
            ("node", identity.node, wanted.node), ("POD", identity.pod, wanted.pod),
            ("key", identity.publicKey.base64, wanted.publicKey.base64),
        ] where stored != configured {
            throw .identityMismatch(path: path, field: field, stored: stored, configured: configured)
        }
        self.path = path
        self.identity = identity
        self.signer = signer
        self.store = Mutex(store)
    }

    /// Opens an existing ledger file read-only (verify, export, show, status): never writes to it.
    public init(readingFile path: String) throws(LedgerError) {
        guard access(path, F_OK) == 0 else { throw .missing(path: path) }
        let (identity, store) = try mappingStorageErrors { () throws -> (NodeIdentity, Store) in
            let connection = try Connection(path: path, mode: .readOnly)
            connection.setBusyTimeout(milliseconds: 5000)
            try Schema.check(applicationID: try connection.scalarInteger("PRAGMA application_id") ?? 0,
                             userVersion: try connection.scalarInteger("PRAGMA user_version") ?? 0, path: path)
            return (try Self.readIdentity(connection), try Store(connection))
        }
        self.path = path
        self.identity = identity
        self.signer = nil
        self.store = Mutex(store)
    }

    private static func recordIdentity(_ identity: NodeIdentity, in connection: Connection) throws {
        let insert = try connection.prepare(
            "INSERT OR IGNORE INTO node (id, node, pod, public_key, created) VALUES (1, ?, ?, ?, ?)")
        insert.bind(1, identity.node).bind(2, identity.pod).bind(3, blob: identity.publicKey.bytes)
            .bind(4, Timestamp.now().rfc3339)
        try insert.run()
    }

    private static func readIdentity(_ connection: Connection) throws -> NodeIdentity {
        let query = try connection.prepare("SELECT node, pod, public_key FROM node WHERE id = 1")
        guard try query.step() else {
            throw LedgerError.notALedger(path: connection.path, reason: "no node identity recorded")
        }
        do {
            return NodeIdentity(node: query.text(0), pod: query.text(1), publicKey: try PublicKey(bytes: query.blob(2)))
        } catch {
            throw LedgerError.notALedger(path: connection.path, reason: "stored public key: \(error)")
        }
    }

    // MARK: Appending

    /// Appends one entry durably and returns it (with seq, prev, hash and signature).
    @discardableResult
    public func append(_ body: EntryBody) throws(LedgerError) -> LedgerEntry {
        try append(contentsOf: [body])[0]
    }

    /// Appends a batch in one transaction: all entries or none, one fsync.
    @discardableResult
    public func append(contentsOf bodies: [EntryBody]) throws(LedgerError) -> [LedgerEntry] {
        try append(contentsOf: bodies) { _, _ in }
    }

    /// Appends a batch and, in the same transaction, runs `alongside` with the appended entries
    /// (the set-point records change with the entries that tell of them: both or neither).
    func append(contentsOf bodies: [EntryBody],
                alongside: (Connection, [LedgerEntry]) throws -> Void) throws(LedgerError) -> [LedgerEntry] {
        guard let signer else { throw .invalidArgument("ledger \(path) is open read-only") }
        return try withStore { store in
            try store.connection.transaction {
                var head = try store.head()
                var appended: [LedgerEntry] = []
                appended.reserveCapacity(bodies.count)
                for body in bodies {
                    let entry = LedgerEntry.make(seq: head.seq + 1, body: body.bytes, prev: head.hash, signer: signer)
                    store.insert.bind(1, Int64(entry.seq)).bind(2, blob: entry.body)
                        .bind(3, blob: entry.hash.bytes).bind(4, blob: entry.signature.bytes)
                    try store.insert.run()
                    head = Head(seq: entry.seq, hash: entry.hash)
                    appended.append(entry)
                }
                try alongside(store.connection, appended)
                return appended
            }
        }
    }

    // MARK: Reading

    public var head: Head {
        get throws(LedgerError) { try withStore { try $0.head() } }
    }

    public var anchor: Anchor {
        get throws(LedgerError) { try withStore { try $0.anchor() } }
    }

    /// The first seq still stored (anchor + 1), whether or not any entry is kept.
    public var firstKeptSeq: UInt64 {
        get throws(LedgerError) { try anchor.seq + 1 }
    }

    /// Calls `visit` for each entry with `from ≤ seq ≤ through`, ascending, one at a time.
    public func forEachEntry(from: UInt64 = 1, through: UInt64 = .max,
                             _ visit: (LedgerEntry) throws -> Void) throws {
        try withStore { store in
            var previous = try store.hash(before: max(from, 1))
            try store.scan(from: from, through: through) { seq, body, hash, signature in
                let entry = LedgerEntry(seq: seq, body: Array(body), prev: previous,
                                        hash: SHA256Digest(unchecked: Array(hash)),
                                        signature: Signature(unchecked: Array(signature)))
                previous = entry.hash
                try visit(entry)
                return true
            }
        }
    }

    public func entries(from: UInt64 = 1, through: UInt64 = .max) throws -> [LedgerEntry] {
        var result: [LedgerEntry] = []
        try forEachEntry(from: from, through: through) { result.append($0) }
        return result
    }

    /// The newest entry of kind `kind` (bodies start `{"t":"<24 chars>","k":"<kind>"`), if any.
    public func newestEntry(kind: String) throws(LedgerError) -> LedgerEntry? {
        let seq: Int64? = try withStore { store in
            let query = try store.connection.prepare(
                "SELECT seq FROM entries WHERE substr(body, 33, ?1) = CAST(?2 AS BLOB) ORDER BY seq DESC LIMIT 1")
            let prefix = "\"k\":\"\(kind)\""
            query.bind(1, Int64(prefix.utf8.count)).bind(2, prefix)
            return try query.step() ? query.int64(0) : nil
        }
        guard let seq else { return nil }
        return try mappingStorageErrors { try entries(from: UInt64(seq), through: UInt64(seq)).first }
    }

    // MARK: Cursors and pruning

    public func cursor(_ name: String) throws(LedgerError) -> UInt64 {
        try withStore { store in
            let query = try store.connection.prepare("SELECT seq FROM cursors WHERE name = ?")
            query.bind(1, name)
            return try query.step() ? UInt64(query.int64(0)) : 0
        }
    }

    /// Moves a cursor forward (the publisher's, after the broker acknowledged up to `seq`).
    public func advanceCursor(_ name: String, to seq: UInt64) throws(LedgerError) {
        try withStore { store in
            let update = try store.connection.prepare(
                "INSERT INTO cursors (name, seq) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET seq = ?2 WHERE seq < ?2")
            update.bind(1, name).bind(2, Int64(seq))
            try update.run()
        }
    }

    public struct PruneOutcome: Sendable, Equatable {
        public let removed: Int
        public let anchor: Anchor
    }

    /// Removes the oldest entries that are both older than `cutoff` and already published,
    /// keeping the newest of them as the anchor (hash and signature) so the chain stays verifiable.
    /// Stops at the first entry at or after `cutoff`, even if a later one is older (clock steps).
    @discardableResult
    public func prune(before cutoff: Timestamp) throws(LedgerError) -> PruneOutcome {
        guard signer != nil else { throw .invalidArgument("ledger \(path) is open read-only") }
        return try withStore { store in
            let outcome = try store.connection.transaction { () throws -> PruneOutcome in
                let published = try store.connection.scalarInteger(
                    "SELECT seq FROM cursors WHERE name = '\(Self.publishedCursor)'") ?? 0
                // Bodies start with the fixed-width UTC time, so byte order is time order.
                let firstRecent = try store.connection.prepare(
                    "SELECT seq FROM entries WHERE substr(body, 7, 24) >= ? ORDER BY seq LIMIT 1")
                firstRecent.bind(1, blob: Array(cutoff.rfc3339.utf8))
                let head = try store.head()
                let limit = try firstRecent.step() ? firstRecent.int64(0) - 1 : Int64(head.seq)
                let target = min(limit, published)
                let current = try store.anchor()
                guard target > Int64(current.seq) else { return PruneOutcome(removed: 0, anchor: current) }
                try store.connection.execute("""
                    UPDATE anchor SET seq = e.seq, hash = e.hash, sig = e.sig
                    FROM (SELECT seq, hash, sig FROM entries WHERE seq = \(target)) AS e WHERE anchor.id = 1
                    """)
                try store.connection.execute("DELETE FROM entries WHERE seq <= \(target)")
                return PruneOutcome(removed: store.connection.changes, anchor: try store.anchor())
            }
            // Return the freed pages to the file system (auto_vacuum = INCREMENTAL).
            try store.connection.execute("PRAGMA incremental_vacuum")
            return outcome
        }
    }

    // MARK: Verification

    public struct Verification: Sendable, Equatable {
        /// Entries whose link and hash were checked (all of them after the anchor).
        public let entriesChecked: Int
        public let signaturesChecked: Int
        public let anchor: Anchor
        public let head: Head
        /// The first break, or nil if the ledger is intact.
        public let fault: ChainFault?
    }

    /// Checks every link and hash from the anchor to the head, and every signature (or only
    /// the anchor's and the newest) under the stored key — or under `expectedKey` when given,
    /// so that a ledger whose key was replaced fails.
    public func verify(signatures: ChainVerifier.SignatureCheck = .every,
                       expectedKey: PublicKey? = nil) throws(LedgerError) -> Verification {
        try withStore { store in
            let anchor = try store.anchor()
            // The head as verification starts: entries the agent appends meanwhile are not
            // counted, so the count and the range reported agree on a live ledger.
            let head = try store.head()
            let key = expectedKey ?? identity.publicKey
            var verifier = ChainVerifier(key: key, after: anchor.seq, anchorHash: anchor.hash, signatures: signatures)
            var anchorSignatures = 0
            var fault: ChainFault?
            if anchor.seq > 0 {
                anchorSignatures = 1
                if !(anchor.signature.map { key.verify($0, of: anchor.hash.bytes) } ?? false) {
                    fault = ChainFault(seq: anchor.seq, reason: .badSignature)
                }
            }
            if fault == nil {
                try store.scan(from: anchor.seq + 1, through: head.seq) { seq, body, hash, signature in
                    fault = verifier.check(seq: seq, body: body, prev: nil, hash: hash, signature: signature)
                    return fault == nil
                }
                if fault == nil { fault = verifier.finish() }
            }
            return Verification(entriesChecked: verifier.entriesChecked,
                                signaturesChecked: verifier.signaturesChecked + anchorSignatures,
                                anchor: anchor, head: head, fault: fault)
        }
    }

    // MARK: Summary

    public struct Summary: Sendable, Equatable {
        public let identity: NodeIdentity
        public let head: Head
        public let anchor: Anchor
        public let published: UInt64
        public let entriesKept: Int
        public let oldest: Timestamp?
        public let newest: Timestamp?
    }

    public func summary() throws(LedgerError) -> Summary {
        try withStore { store in
            let published = try store.connection.scalarInteger(
                "SELECT seq FROM cursors WHERE name = '\(Self.publishedCursor)'") ?? 0
            let time = "SELECT CAST(substr(body, 7, 24) AS TEXT) FROM entries ORDER BY seq"
            return Summary(identity: identity, head: try store.head(), anchor: try store.anchor(),
                           published: UInt64(published),
                           entriesKept: Int(try store.connection.scalarInteger("SELECT count(*) FROM entries") ?? 0),
                           oldest: try store.connection.scalarText(time + " LIMIT 1").flatMap(Timestamp.init(rfc3339:)),
                           newest: try store.connection.scalarText(time + " DESC LIMIT 1").flatMap(Timestamp.init(rfc3339:)))
        }
    }

    /// Runs `body` with exclusive use of the connection, mapping storage errors once.
    func withStore<T>(_ body: (inout Store) throws -> T) throws(LedgerError) -> T {
        try mappingStorageErrors { try store.withLock { try body(&$0) } }
    }
}

/// Runs `body`, turning SQLite's errors into the ledger's (corruption → not a valid ledger).
func mappingStorageErrors<T>(_ body: () throws -> T) throws(LedgerError) -> T {
    do {
        return try body()
    } catch let error as LedgerError {
        throw error
    } catch let error as SQLiteError {
        throw LedgerError(error)
    } catch {
        throw .invalidArgument("\(error)")
    }
}

/// The connection and its reused statements. `@unchecked Sendable`: it lives inside the
/// ledger's Mutex and is only ever touched under that lock (SQLite opened NOMUTEX for that reason).
struct Store: @unchecked Sendable {
    let connection: Connection
    let insert: Statement
    let selectHead: Statement
    let selectAnchor: Statement
    let scanRange: Statement

    init(_ connection: Connection) throws {
        self.connection = connection
        insert = try connection.prepare("INSERT INTO entries (seq, body, hash, sig) VALUES (?, ?, ?, ?)")
        selectHead = try connection.prepare("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1")
        selectAnchor = try connection.prepare("SELECT seq, hash, sig FROM anchor WHERE id = 1")
        scanRange = try connection.prepare(
            "SELECT seq, body, hash, sig FROM entries WHERE seq >= ? AND seq <= ? ORDER BY seq")
    }

    func anchor() throws -> Anchor {
        defer { selectAnchor.reset() }
        guard try selectAnchor.step() else {
            throw LedgerError.notALedger(path: connection.path, reason: "anchor row missing")
        }
        let hash = try SHA256Digest(bytes: selectAnchor.blobBuffer(1))
        let signature = selectAnchor.isNull(2) ? nil : try Signature(bytes: selectAnchor.blobBuffer(2))
        return Anchor(seq: UInt64(selectAnchor.int64(0)), hash: hash, signature: signature)
    }

    func head() throws -> Head {
        defer { selectHead.reset() }
        if try selectHead.step() {
            return Head(seq: UInt64(selectHead.int64(0)), hash: try SHA256Digest(bytes: selectHead.blobBuffer(1)))
        }
        let anchor = try anchor()
        return Head(seq: anchor.seq, hash: anchor.hash)
    }

    /// The hash of the entry before `seq` (its prev): the stored entry's, or the anchor's.
    func hash(before seq: UInt64) throws -> SHA256Digest {
        let anchor = try anchor()
        if seq <= anchor.seq + 1 { return anchor.hash }
        let query = try connection.prepare("SELECT hash FROM entries WHERE seq = ?")
        query.bind(1, Int64(seq - 1))
        guard try query.step() else { return .zero }
        return try SHA256Digest(bytes: query.blobBuffer(0))
    }

    /// Streams rows without copying; `visit` returns false to stop early.
    func scan(from: UInt64, through: UInt64,
              _ visit: (UInt64, UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Bool) throws {
        defer { scanRange.reset() }
        scanRange.bind(1, Int64(clamping: from)).bind(2, Int64(clamping: through))
        while try scanRange.step() {
            guard try visit(UInt64(scanRange.int64(0)), scanRange.blobBuffer(1), scanRange.blobBuffer(2),
                            scanRange.blobBuffer(3)) else { return }
        }
    }
}
