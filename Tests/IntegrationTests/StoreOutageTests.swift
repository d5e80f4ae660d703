import Foundation
import Testing
import TestSupport

/// The SCD's PostgreSQL server goes away under a running coordinator and comes back: the ingest
/// keeps what it received, retries its commits, and every reading ends up stored once, certified.
@Suite(.enabled(if: PostgresServer.available, "needs Debian's postgresql server"))
struct StoreOutageTests {
    @Test func readingsReceivedDuringAStoreOutageAreStoredOnceItIsBack() throws {
        let postgres = try PostgresServer()
        let (broker, simulator, _, agent) = try PublisherTests.rig()
        defer { simulator.stop() }
        let coordinator = try CoordinatorProcess(mqttPort: broker.port, scdURL: postgres.url() + "?sslmode=disable",
                                                 extraConfig: """
            [ingest]
            certify_within_s = 2
            interval_ms = 250
            """)
        let pod = "IT001E00000078"
        try coordinator.register(node: "ln-test", pod: pod, keyFile: agent.folder.file("node.key"))
        let token = try coordinator.addToken(role: "MO")
        try coordinator.start()
        defer { coordinator.stop() }
        try agent.start()
        #expect(try waitUntil(timeoutSeconds: 120, pollMilliseconds: 250) {
            (try coordinator.rawReadings(pod: pod, token: token)?.seqs.count ?? 0) >= 20
        })

        postgres.stop()
        // The outage lasts until the coordinator has failed to commit and the agent has taken
        // 40 more readings, which the coordinator can hold in memory only.
        let readingsAtOutage = try agent.readings(of: "main").count
        #expect(waitUntil(timeoutSeconds: 120) { coordinator.log.contains("ingest scheduler:") })
        #expect(try waitUntil(timeoutSeconds: 120) { try agent.readings(of: "main").count >= readingsAtOutage + 40 })
        try postgres.start()

        #expect(try waitUntil(timeoutSeconds: 120) { try agent.readings(of: "main").count >= readingsAtOutage + 80 })
        #expect(agent.stop().status == 0)
        let ledger = try agent.readings(of: "main").map { Int($0.seq) }
        var seqs: [Int] = []
        let complete = try waitUntil(timeoutSeconds: 120, pollMilliseconds: 500) {
            guard let held = try coordinator.rawReadings(pod: pod, token: token) else { return false }
            seqs = held.seqs
            return seqs.count >= readingsAtOutage + 70 && held.certified
        }
        #expect(complete, "\(seqs.count) of \(ledger.count); log:\n\(coordinator.log.suffix(4000))")
        // The agent may stop before publishing its last readings: compare up to the newest stored.
        let newest = seqs.max() ?? 0
        #expect(seqs == ledger.filter { $0 <= newest }, "each reading once, none missing")
        #expect(coordinator.stop() == 0)
    }
}
