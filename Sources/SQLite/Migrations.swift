extension Connection {
    /// Applies the `migrations` after the first `applied`, each in a transaction of its own that
    /// also stamps `PRAGMA application_id` and `PRAGMA user_version` (the count applied): a
    /// schema is a list of migrations never edited once released, shared by the ledger and the SCD.
    public func migrate(_ migrations: [(name: String, sql: String)], applicationID: Int64, applied: Int64) throws {
        for (index, migration) in migrations.enumerated() where Int64(index) >= applied {
            try transaction {
                try execute(migration.sql)
                try execute("PRAGMA application_id = \(applicationID)")
                try execute("PRAGMA user_version = \(index + 1)")
            }
        }
    }
}
