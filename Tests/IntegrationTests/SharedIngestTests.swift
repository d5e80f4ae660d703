import Foundation
import Testing
import TestSupport

/// Two coordinator instances on one PostgreSQL SCD, splitting one broker subscription
/// (`$share/coordinator/…`): every reading is stored exactly once and certified.
@Suite(.enabled(if: PostgresServer.available, "needs Debian's postgresql server"))
struct SharedIngestTests {
    @Test func twoInstancesStoreEveryReadingExactlyOnce() throws {
        let postgres = try PostgresServer()
        let (broker, simulator, _, agent) = try PublisherTests.rig()
        defer { simulator.stop() }
        let settings = """
            [ingest]
            certify_within_s = 2
            interval_ms = 250
            [certification]
            checkpoint_interval_s = 1
            """
        let url = postgres.url() + "?sslmode=disable"
        let first = try CoordinatorProcess(mqttPort: broker.port, scdURL: url, clientID: "coordinator-a", extraConfig: settings)
        let second = try CoordinatorProcess(mqttPort: broker.port, scdURL: url, clientID: "coordinator-b", extraConfig: settings)
        let pod = "IT001E00000077"
        try first.register(node: "ln-test", pod: pod, keyFile: agent.folder.file("node.key"))
        let token = try first.addToken(role: "MO")
        try first.start()
        defer { first.stop() }
        // Both instances sign checkpoints with the one log key (made by the first on start).
        try FileManager.default.copyItem(atPath: first.folder.file("certification.key"),
                                         toPath: second.folder.file("certification.key"))
        try second.start()
        defer { second.stop() }
        try agent.start()
        #expect(waitUntil(timeoutSeconds: 120) { ((try? agent.readings(of: "main").count) ?? 0) >= 160 })
        #expect(agent.stop().status == 0)
        let ledger = try agent.readings(of: "main")

        var seqs: [Int] = []
        let complete = try waitUntil(timeoutSeconds: 120, pollMilliseconds: 500) {
            guard let held = try second.rawReadings(pod: pod, token: token) else { return false }
            seqs = held.seqs
            return seqs.count >= 150 && held.certified
        }
        #expect(complete, "\(seqs.count) of \(ledger.count); logs:\n\(first.log)\n\(second.log)")
        // The agent may stop before publishing its last readings: compare up to the newest stored.
        let newest = seqs.max() ?? 0
        #expect(seqs == ledger.map { Int($0.seq) }.filter { $0 <= newest }.sorted(), "each reading once, none missing")

        // In the database: no seq both staged and sealed, none twice, nothing else.
        func sql(_ query: String) throws -> String {
            try postgres.psql(query).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try sql("""
            SELECT count(*) FROM raw_entries e JOIN raw_blocks b
              ON e.node = b.node AND e.seq BETWEEN b.first_seq AND b.first_seq + b.count - 1
            """) == "0")
        // Every seq from 1 to the newest held, once (readings and the agent's other entries
        // alike). The agent's last entries may still be on their way to either instance (each
        // commits every 250 ms), so a gap may show for a moment: wait for it to close.
        let whole = try waitUntil(timeoutSeconds: 60, pollMilliseconds: 250) {
            try sql("""
                SELECT (SELECT count(*) FROM raw_entries) + (SELECT coalesce(sum(count), 0) FROM raw_blocks)
                  = greatest((SELECT max(seq) FROM raw_entries), (SELECT max(first_seq + count - 1) FROM raw_blocks))
                """) == "t"
        }
        let staged = try sql("SELECT string_agg(seq::text, ',' ORDER BY seq) FROM raw_entries")
        let blocks = try sql("SELECT string_agg(first_seq || '+' || count, ',' ORDER BY first_seq) FROM raw_blocks")
        #expect(whole, "staged: \(staged); blocks: \(blocks)")
        #expect(try sql("SELECT count(*) FROM nodes WHERE quarantine IS NOT NULL") == "0")
        #expect(try sql("SELECT count(DISTINCT instance) FROM chain_segments") == "2", "both instances took readings")
        #expect(try sql("SELECT count(*) FROM raw_blocks") != "0")
        #expect(first.stop() == 0)
        #expect(second.stop() == 0)
    }
}
