import Foundation
import Testing
import TestSupport

/// A whole quarter hour end to end, in compressed time: the meter simulator and the Light Node
/// run under libfaketime (the clock 20 times faster, starting 12 s before a quarter-hour boundary
/// two hours ago), so the quarter's 225 readings take 45 s; the coordinator, on the real clock,
/// takes them like a backlog arriving late and computes the quarter's measure.
@Suite(.enabled(if: Faketime.available, "libfaketime is missing (Debian package faketime)"))
struct QuarterHourEnergyTests {
    /// The SCD backends available here: SQLite always, PostgreSQL with Debian's server.
    static let backends = ["sqlite"] + (PostgresServer.available ? ["postgres"] : [])

    @Test(arguments: backends)
    func aWholeQuarterMatchesTheSimulatorsCounter(backend: String) throws {
        let postgres = backend == "postgres" ? try PostgresServer() : nil
        defer { postgres?.stop() }
        let watts = 1500.0
        let quarterMs: Int64 = 900_000
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let quarter = (nowMs / quarterMs - 8) * quarterMs
        let clock = Faketime.environment(startingAt: Date(timeIntervalSince1970: Double(quarter - 12_000) / 1000), speed: 20)

        let broker = try MosquittoBroker()
        let simulator = try MeterSimulatorProcess(map: PublisherTests.map, arguments: ["--profile", "constant:\(Int(watts))"],
                                                  environment: clock)
        defer { simulator.stop() }
        let agent = try AgentProcess(meters: [.init(name: "main", link: .tcp(port: simulator.port!), map: PublisherTests.map)],
                                     intervalMs: 4000, mqttPort: broker.port)
        let coordinator = try CoordinatorProcess(mqttPort: broker.port, scdURL: postgres.map { $0.url() + "?sslmode=disable" } ?? "sqlite://scd.sqlite",
                                                 extraConfig: """
            [ingest]
            certify_within_s = 2
            """)
        let pod = "IT001E00000042"
        try coordinator.register(node: "ln-test", pod: pod, keyFile: agent.folder.file("node.key"))
        let dso = try coordinator.addToken(role: "DSO")
        try coordinator.start()
        defer { coordinator.stop() }
        try agent.start(environment: clock)
        defer { agent.stop() }

        let start = Date(timeIntervalSince1970: Double(quarter) / 1000)
        let path = "/api/v1/pods/\(pod)/measurements?from=\(start.ISO8601Format())"
            + "&to=\(start.addingTimeInterval(900).ISO8601Format())&resolution=15m"
        // The quarter as the Light Node read it: under load it may miss a cycle (a 4-s cycle is
        // 200 ms here) or time out on the meter (a reading of bad quality), and the measure
        // must then count the good readings it did take.
        func goodReadings() throws -> [(Int64, AgentProcess.Entry)] {
            try agent.readings(of: "main").compactMap { reading in
                guard reading.quality == "good", let time = Self.milliseconds(reading.time) else { return nil }
                return (time, reading)
            }
        }
        var measure: [String: Any] = [:]
        var expectedSamples = 0
        // 45 s of compressed quarter hour, then certification and the measure's recomputation.
        let complete = try waitUntil(timeoutSeconds: 240, pollMilliseconds: 500) {
            let times = ((try? goodReadings()) ?? []).map(\.0)
            guard times.contains(where: { $0 >= quarter + quarterMs }) else { return false }
            expectedSamples = times.count { $0 >= quarter && $0 < quarter + quarterMs }
            let answer = try coordinator.get(path, token: dso)
            guard answer.status == 200, let json = try JSONSerialization.jsonObject(with: answer.body) as? [String: Any],
                  let item = (json["items"] as? [[String: Any]])?.first else { return false }
            measure = item
            return item["samples"] as? Int == expectedSamples && item["certified"] as? Bool == true
        }
        #expect(complete, "\(measure), \(expectedSamples) good readings in the quarter\nagent log:\n\(agent.stop().log)\ncoordinator log:\n\(coordinator.log)")
        guard complete else { return }

        // The simulator's counter as the Light Node read it: the last reading before the quarter
        // and the quarter's last reading bound its energy.
        let readings = try goodReadings()
        let before = try #require(readings.last { $0.0 < quarter })
        let last = try #require(readings.last { $0.0 < quarter + quarterMs })
        let opening = try #require(before.1.values["energy_import"])
        let closing = try #require(last.1.values["energy_import"])
        let energy = try #require(measure["energy_wh"] as? Double)
        #expect(abs(energy - (closing - opening)) < 1e-6, "the measure is the counter difference")
        // And the counter is the simulator's integral of its constant power over the time between
        // those readings, 900 s when none was missed (float32 registers: about 0.06 Wh a step at 1 MWh).
        let seconds = Double(last.0 - before.0) / 1000
        #expect(abs(energy - watts * seconds / 3600) < 0.5, "\(energy) Wh over \(seconds) s")
        #expect(abs((measure["avg_w"] as? Double ?? 0) - watts) < 1)
        #expect(abs((measure["coverage"] as? Double ?? 0) - Double(expectedSamples) / 225) < 1e-9)
        print("\(backend): quarter \(start.ISO8601Format()): \(expectedSamples) readings, \(energy) Wh measured, counter \(closing - opening) Wh")
        #expect(agent.stop().status == 0, "the agent stops on SIGTERM under libfaketime too")
    }

    static func milliseconds(_ rfc3339: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: rfc3339) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: rfc3339).map { Int64($0.timeIntervalSince1970 * 1000) }
    }
}
