import Foundation
import Testing
import TestSupport

/// The PostgreSQL fixture the SCD's repository tests run on: a private cluster per test.
@Suite(.enabled(if: PostgresServer.available, "needs Debian's postgresql server"))
struct PostgresFixtureTests {
    @Test func startsAClusterOfItsOwnAndStopsIt() throws {
        let server = try PostgresServer()
        #expect(try server.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1); SELECT sum(x) FROM t").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines) == "42")
        #expect(try server.psql("SHOW listen_addresses").stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "127.0.0.1")
        let port = server.port
        server.stop()
        #expect(!FreePort.isListening(port))
    }
}
