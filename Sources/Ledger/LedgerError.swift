import SQLite

public enum LedgerError: Error, CustomStringConvertible, Sendable {
    /// The file is damaged, or is not a Light Node ledger at all.
    case notALedger(path: String, reason: String)
    case unsupportedVersion(path: String, version: Int64, supported: Int)
    /// The ledger was created for another node, POD or key than the one opening it.
    case identityMismatch(path: String, field: String, stored: String, configured: String)
    case missing(path: String)
    /// A write refused or failed; nothing of that write was stored.
    case storage(SQLiteError)
    case invalidArgument(String)

    init(_ error: SQLiteError) {
        self = error.isCorruption ? .notALedger(path: error.path, reason: error.message) : .storage(error)
    }

    public var description: String {
        switch self {
        case .notALedger(let path, let reason): return "\(path) is not a valid ledger: \(reason)"
        case .unsupportedVersion(let path, let version, let supported):
            return "\(path) has ledger schema version \(version); this lightnode supports up to \(supported)"
        case .identityMismatch(let path, let field, let stored, let configured):
            return "\(path) belongs to \(field) \(stored), not \(configured); "
                + "a ledger keeps one identity for life (move it aside to start a new chain)"
        case .missing(let path): return "\(path): no such ledger"
        case .storage(let error): return "ledger storage failed: \(error)"
        case .invalidArgument(let message): return message
        }
    }
}
