import Foundation
import Testing
import TestSupport

/// The end-to-end day of `make run` as a test: `scripts/demo_day.py` plays the compressed market
/// day with this build's programs (Mosquitto with the project's configuration, the coordinator on
/// SQLite, three simulated sites and their Light Nodes, the clock 30 times faster) and checks it
/// against the simulators; this test runs it and reads its report.
///
/// What the day must show: every reading of every ledger certified in the SCD; each set-point
/// written to its site's BMS within 20 simulated seconds of its ISP's start and the idle value
/// restored at the end (nothing else written); the settlement per POD and ISP, per order and per
/// aggregator within 3 % of what the site profiles give, per POD and ISP across the orders standing
/// there (baseline = the profile's mean, actual = the combined set-point the site followed); both
/// awards of the split day-ahead offer standing, a withdrawn request and a cancelled order.
@Suite(.enabled(if: Faketime.available && FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto"),
                "libfaketime or Mosquitto is missing (Debian packages faketime, mosquitto)"))
struct DemoDayTests {
    @Test func theCompressedMarketDayChecksOutAgainstTheSimulators() throws {
        let folder = TemporaryDirectory("demo-day")
        let day = folder.file("day")
        let script = Paths.packageRoot.appendingPathComponent("scripts/demo_day.py").path
        var arguments = [script, "--once", "--speed", "30", "--dir", day, "--bin", Paths.products.path]
        let browser = Paths.pythonTestsEnabled
        if browser {
            let shots = Paths.packageRoot.appendingPathComponent(".build/console-screenshots").path
            let command = [Paths.python ?? "python-venv-missing", Paths.pythonScript("console_browser.py"), "--shots", shots]
            arguments += ["--then", command.map { "'\($0.replacingOccurrences(of: "'", with: #"'\''"#))'" }.joined(separator: " ")]
        }
        let outcome = try Processes.run("/usr/bin/python3", arguments, timeoutSeconds: 1500)
        let logs = (try? FileManager.default.contentsOfDirectory(atPath: day))?.filter { $0.hasSuffix(".log") } ?? []
        let tails = logs.sorted().map { name in
            let text = (try? String(contentsOfFile: day + "/" + name, encoding: .utf8)) ?? ""
            return "--- \(name)\n" + text.split(separator: "\n").suffix(8).joined(separator: "\n")
        }.joined(separator: "\n")
        #expect(outcome.status == 0, "\(outcome.stdout)\n\(outcome.stderr)\n\(tails)")

        let data = try #require(FileManager.default.contents(atPath: day + "/day.json"), "no report: \(outcome.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let checks = try #require(report["checks"] as? [[String: Any]])
        // 3 nodes × (certified, ledger) + 3 sites' BMS + the POD-ISPs shared by orders + 4 orders + 2 aggregators
        // + the availability contract (+ the console in a browser).
        #expect(checks.count == 18 + (browser ? 1 : 0), "\(checks)")
        for check in checks where check["passed"] as? Bool != true {
            Issue.record("\(check["check"] ?? "?"): \(check["detail"] ?? "")")
        }
        // The day-ahead round: every award stands, agr-alpha's offer split between the DSO and the TSO.
        let rounds = try #require(report["rounds"] as? [String: [String: Any]])
        let dayAhead = try #require(rounds.first { $0.key.hasPrefix("da-") }?.value)
        let awards = try #require(dayAhead["awards"] as? [[String: Any]])
        #expect(awards.compactMap { $0["request"] as? String } == ["dso-1:dso-da", "dso-1:dso-da", "tso-1:tso-da"])
        #expect(awards.compactMap { $0["offer"] as? String }.filter { $0 == "agr-alpha:alpha-da" }.count == 2)
        #expect((dayAhead["rejected"] as? [[String: Any]])?.isEmpty == true)
        #expect((report["orders"] as? [String])?.count == 4)
        // Readings flowed the whole time: a simulated two hours at one per 4 s per node.
        let readings = try #require(report["readings"] as? [String: [String: Int]])
        #expect(readings.count == 3)
        #expect(readings.values.allSatisfy { ($0["certified"] ?? 0) > 1_500 }, "\(readings)")
    }
}
