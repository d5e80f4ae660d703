import CSQLite

/// SQLITE_TRANSIENT: SQLite copies bound bytes before the call returns.
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement, reused across executions (bind, step until done, reset).
/// Columns and parameters are 0-based and 1-based respectively, as in SQLite's C API.
/// Binds are checked: the first that SQLite refuses (a parameter out of range, a value too big)
/// is kept and thrown by the next `step`, so a statement never runs with a parameter left NULL.
public final class Statement {
    let connection: Connection
    let handle: OpaquePointer
    let sql: String
    private var bindFailure: SQLiteError?

    init(connection: Connection, handle: OpaquePointer, sql: String) {
        self.connection = connection
        self.handle = handle
        self.sql = sql
    }

    deinit {
        sqlite3_finalize(handle)
    }

    /// Clears bindings and rewinds, ready for the next execution.
    public func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        bindFailure = nil
    }

    /// Keeps the first refused bind for `step` to throw.
    private func checked(_ status: Int32, _ index: Int32) -> Statement {
        if status != SQLITE_OK, bindFailure == nil {
            bindFailure = SQLiteError(code: status & 0xFF, message: String(cString: sqlite3_errstr(status)), path: connection.path,
                                      context: "parameter \(index) of \(Connection.abbreviate(sql))")
        }
        return self
    }

    @discardableResult
    public func bind(_ index: Int32, _ value: Int64) -> Statement {
        checked(sqlite3_bind_int64(handle, index, value), index)
    }

    /// Binds the value, or NULL for nil.
    @discardableResult
    public func bind(_ index: Int32, _ value: Int64?) -> Statement {
        guard let value else { return bindNull(index) }
        return bind(index, value)
    }

    @discardableResult
    public func bind(_ index: Int32, _ value: Double) -> Statement {
        checked(sqlite3_bind_double(handle, index, value), index)
    }

    /// Binds the value, or NULL for nil.
    @discardableResult
    public func bind(_ index: Int32, _ value: String?) -> Statement {
        guard let value else { return bindNull(index) }
        return bind(index, value)
    }

    @discardableResult
    public func bind(_ index: Int32, _ value: String) -> Statement {
        // The length given, so a NUL inside the text is kept rather than cutting it short.
        checked(sqlite3_bind_text64(handle, index, value, UInt64(value.utf8.count), transient, UInt8(SQLITE_UTF8)), index)
    }

    @discardableResult
    public func bind(_ index: Int32, blob: UnsafeRawBufferPointer) -> Statement {
        // A zero-length blob must still bind as a blob, not NULL.
        checked(sqlite3_bind_blob64(handle, index, blob.baseAddress ?? UnsafeRawPointer(bitPattern: 1), UInt64(blob.count), transient), index)
    }

    @discardableResult
    public func bind(_ index: Int32, blob: [UInt8]) -> Statement {
        blob.withUnsafeBytes { bind(index, blob: $0) }
    }

    @discardableResult
    public func bindNull(_ index: Int32) -> Statement {
        checked(sqlite3_bind_null(handle, index), index)
    }

    /// Advances: true while a row is available, false when done.
    public func step() throws(SQLiteError) -> Bool {
        if let failure = bindFailure {
            reset()
            throw failure
        }
        let status = sqlite3_step(handle)
        switch status {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = connection.error(status, Connection.abbreviate(sql))
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Runs a statement that returns no rows, then resets it.
    public func run() throws(SQLiteError) {
        defer { reset() }
        _ = try step()
    }

    public func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    public func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    public func double(_ column: Int32) -> Double {
        sqlite3_column_double(handle, column)
    }

    /// The text, or nil for NULL.
    public func optionalText(_ column: Int32) -> String? {
        isNull(column) ? nil : text(column)
    }

    /// The text by its length: a NUL inside it is kept, as it was bound.
    public func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, column) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, column))), as: UTF8.self)
    }

    /// The column's bytes, valid only until the next step/reset: for loops that must not copy.
    public func blobBuffer(_ column: Int32) -> UnsafeRawBufferPointer {
        let pointer = sqlite3_column_blob(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        return UnsafeRawBufferPointer(start: pointer, count: pointer == nil ? 0 : count)
    }

    public func blob(_ column: Int32) -> [UInt8] {
        Array(blobBuffer(column))
    }
}
