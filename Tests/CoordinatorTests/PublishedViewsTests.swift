import Foundation
import GridCore
import Market
@testable import MarketOperations
import SCD
import SCDTesting
import Testing
import TestSupport

/// The published data model (FR04; docs/data-model.md): the read-only views a DSO extracts from,
/// read with the databases' own command-line clients, alike on both backends.
@Suite struct PublishedViewsTests {
    /// `sql`'s rows, columns joined by `|`, through `sqlite3 -readonly` or `psql`.
    static func rows(_ sql: String, _ fixture: StoreFixture) throws -> [String] {
        let outcome = if let server = fixture.server {
            try server.psql(sql)
        } else {
            try Processes.run("/usr/bin/sqlite3", ["-readonly", try #require(fixture.path), sql])
        }
        #expect(outcome.status == 0, "\(sql): \(outcome.stderr)")
        return outcome.stdout.split(separator: "\n").map(String.init)
    }

    @Test(arguments: Backend.available)
    func aDSOExtractsTheMonthThroughTheViews(_ backend: Backend) async throws {
        let fixture = try await StoreFixture(backend)
        let (market, store, outbox, _, folder) = try await MarketplaceTests.rig(store: fixture.store)
        _ = folder
        let roundID = try await MarketStatementTests.november(market, store, outbox)
        _ = try await market.closeMonth("2026-11", now: MarketplaceTests.date("2026-12-02T08:00:00Z"))

        #expect(try Self.rows("SELECT pod, congestion_point, aggregator FROM scd_pods ORDER BY pod", fixture)
                == ["POD-1|cp-1|agr-1", "POD-2|cp-1|agr-1"])
        #expect(try Self.rows("SELECT node, pod FROM scd_nodes ORDER BY node", fixture) == ["ln-1|POD-1", "ln-2|POD-2"])
        #expect(try Self.rows("SELECT pod, start_ms, CAST(average_w AS integer) FROM scd_measures WHERE pod = 'POD-1' ORDER BY start_ms", fixture)
                == ["POD-1|\(MarketStatementTests.isp40.millisecondsSince1970)|750", "POD-1|\(MarketStatementTests.isp41.millisecondsSince1970)|900"])
        #expect(try Self.rows("SELECT id, buyer, participant, status FROM scd_requests ORDER BY id", fixture)
                == ["dso-1:r1|DSO|dso-1|cleared", "tso-1:r2|TSO|tso-1|cleared"])
        #expect(try Self.rows("SELECT id, aggregator, location, price FROM scd_offers ORDER BY id", fixture)
                == ["agr-1:o1|agr-1|cp-1|2.00", "agr-1:o2|agr-1|cp-1|1.00"])
        #expect(try Self.rows("SELECT id, request, aggregator, price FROM scd_orders ORDER BY id", fixture)
                == ["\(roundID).0|dso-1:r1|agr-1|2.00", "\(roundID).1|tso-1:r2|agr-1|1.00"])
        #expect(try Self.rows("SELECT order_id, pod, isp, ordered_w, baseline_w, status FROM scd_order_setpoints ORDER BY order_id, pod", fixture)
                == ["\(roundID).0|POD-1|40|-250|1000|applied", "\(roundID).0|POD-2|40|-750|3000|applied",
                    "\(roundID).1|POD-1|41|-100|1000|applied", "\(roundID).1|POD-2|41|-300|3000|applied"])
        #expect(try Self.rows("SELECT id, buyer, aggregator, power_w, penalty_per_miss FROM scd_contracts", fixture)
                == ["fo-1|dso-1|agr-1|-1000|30.00"])
        #expect(try Self.rows("SELECT role, party, version, net FROM scd_statements ORDER BY role, party", fixture)
                == ["aggregator|agr-1|1|1.74", "dso|dso-1|1|0.74", "tso|tso-1|1|1.00"])
        #expect(try Self.rows("""
            SELECT l.kind, l.reference, l.fee, l.net FROM scd_statement_lines l JOIN scd_statements s ON s.id = l.statement_id
            WHERE s.party = 'dso-1' ORDER BY l.kind
            """, fixture) == ["activation|\(roundID).0|0.50|0.50", "availability|fo-1|0.24|0.24"])
        // Read-only: a view takes no write.
        let written = if let server = fixture.server {
            try server.psql("DELETE FROM scd_pods")
        } else {
            try Processes.run("/usr/bin/sqlite3", [try #require(fixture.path), "DELETE FROM scd_pods"])
        }
        #expect(written.status != 0)
    }

    /// docs/data-model.md documents every view and no other.
    @Test func theDocumentNamesEveryView() throws {
        let document = try String(contentsOf: Paths.packageRoot.appendingPathComponent("docs/data-model.md"), encoding: .utf8)
        let documented = Set(document.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("### `scd_") else { return nil }
            return String(line.dropFirst(5).prefix { $0 != "`" })
        })
        #expect(documented == Set(PublishedViews.all.map(\.name)))
        for view in PublishedViews.all {
            for column in view.columns {
                #expect(document.contains("| `\(column.name)` |"), "\(view.name).\(column.name) is not described")
            }
        }
    }
}
