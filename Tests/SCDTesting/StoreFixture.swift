import Logging
import SCD
import SCDPostgres
import SCDSQLite
import Testing
import TestSupport

/// The SCD's backends for tests of any suite: SQLite in a temp folder and a real PostgreSQL
/// server of the test's own.
public enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    public var testDescription: String { rawValue }

    /// The backends this machine can run (PostgreSQL needs Debian's server package).
    public static var available: [Backend] { PostgresServer.available ? allCases : [.sqlite] }
}

/// A store and what keeps it alive (its folder or its server).
public final class StoreFixture: @unchecked Sendable {
    public let store: any SCDStore
    private let folder: TemporaryDirectory?
    public let server: PostgresServer?
    /// The SQLite file, for the SQLite backend.
    public var path: String? { folder.map { $0.path + "/scd.sqlite" } }

    public init(_ backend: Backend, instance: String = "test", server shared: PostgresServer? = nil) async throws {
        switch backend {
        case .sqlite:
            let folder = TemporaryDirectory()
            self.folder = folder
            server = nil
            store = try SQLiteStore(path: folder.path + "/scd.sqlite")
        case .postgres:
            let server = try shared ?? PostgresServer()
            self.server = server
            folder = nil
            store = try await PostgresStore(url: server.url() + "?sslmode=disable", instance: instance, logger: Logger(label: "test"))
        }
    }
}
