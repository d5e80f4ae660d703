import Foundation
import GridCore
import Ledger
import Testing
import TestSupport

/// Values pinned for every register of Tests/Fixtures/registers/all-types.toml: each type and
/// word order, with scales and an offset; chosen to be exact in their encodings.
let allTypesMap = Paths.packageRoot.appendingPathComponent("Tests/Fixtures/registers/all-types.toml").path
let allTypes: [(quantity: String, function: String, address: Int, type: String, order: String, scale: Double, offset: Double, value: Double)] = [
    ("active_power", "input", 0, "float32", "big", 1, 0, -1534.2),
    ("active_power_l1", "input", 2, "float32", "little", 1, 0, 512.3),
    ("active_power_l2", "input", 4, "int32", "big", 1, 0, -40000),
    ("active_power_l3", "input", 6, "int32", "little", 1, 0, -123_456),
    // Raw 4,000,000,000: past Int32's range, at a plausible 400 Mvar.
    ("reactive_power", "input", 8, "uint32", "big", 0.1, 0, 400_000_000),
    ("voltage_l1", "input", 10, "uint32", "little", 0.1, 0, 231.7),
    ("voltage_l2", "input", 12, "int16", "big", 0.1, 0, -12.5),
    ("voltage_l3", "input", 13, "uint16", "big", 0.1, 0, 6553.5),
    ("current_l1", "input", 14, "float64", "big", 1, 0, 3.14159265358979),
    ("current_l2", "input", 18, "float64", "little", 1, 0, -2.5),
    ("current_l3", "input", 22, "int64", "big", 0.001, 0, 987_654_321.123),
    ("frequency", "input", 26, "int64", "little", 0.01, 0, 49.99),
    ("power_factor", "input", 30, "int16", "big", 0.001, 0.5, -0.487),
    // Raw 10^19: past Int64's range, at the most a meter may count (10^15 Wh, docs/acquisition.md).
    ("energy_import", "holding", 40, "uint64", "big", 0.0001, 0, 1_000_000_000_000_000),
    ("energy_export", "holding", 44, "uint64", "little", 1, 0, 123_456_789_012),
]

/// The value a reading must carry: float32 registers keep float32's precision.
func expectedValue(_ row: (quantity: String, function: String, address: Int, type: String, order: String, scale: Double, offset: Double, value: Double)) -> Double {
    row.type == "float32" ? Double(Float(row.value).description)! : row.value
}

/// Parses `lightnode probe` output: lines "  quantity  value unit".
func probedValues(_ output: String) -> [String: Double] {
    var values: [String: Double] = [:]
    for line in output.split(separator: "\n") where line.hasPrefix("  ") {
        let fields = line.split(separator: " ")
        if fields.count >= 2, let value = Double(fields[1]) { values[String(fields[0])] = value }
    }
    return values
}

@Suite(.serialized) struct AcquisitionTests {
    @Test func simulatorServesEveryTypeAndWordOrder() throws {
        let simulator = try MeterSimulatorProcess(map: allTypesMap, arguments: allTypes.flatMap { ["--set", "\($0.quantity)=\($0.value)"] })
        defer { simulator.stop() }
        let agent = try AgentProcess(meters: [.init(name: "all", link: .tcp(port: simulator.port!), map: allTypesMap)], intervalMs: 1000)
        let probe = try agent.command("probe")
        #expect(probe.status == 0, "\(probe.stderr)")
        let values = probedValues(probe.stdout)
        for row in allTypes {
            #expect(values[row.quantity] == expectedValue(row), "\(row.quantity) (\(row.type) \(row.order))")
        }
    }

    /// A meter that lies: a value no meter gives fails the read, naming the quantity, instead of
    /// being signed into the ledger as a reading.
    @Test func anImplausibleValueFailsTheRead() throws {
        let simulator = try MeterSimulatorProcess(map: allTypesMap, arguments: allTypes.flatMap {
            ["--set", "\($0.quantity)=\($0.quantity == "active_power_l3" ? 2_000_000_000 : $0.value)"]
        })
        defer { simulator.stop() }
        let agent = try AgentProcess(meters: [.init(name: "all", link: .tcp(port: simulator.port!), map: allTypesMap)], intervalMs: 1000)
        let probe = try agent.command("probe")
        #expect(probe.status == 1 && probe.stdout.contains("FAILED: implausible value active_power_l3"), "\(probe.stdout) \(probe.stderr)")
    }

    @Test(.enabled(if: Paths.pythonTestsEnabled, "no test venv (.venv) for pymodbus"))
    func pymodbusServesEveryTypeAndWordOrder() throws {
        let spec: [[String: Any]] = allTypes.map {
            ["function": $0.function, "address": $0.address, "type": $0.type, "word_order": $0.order,
             "scale": $0.scale, "offset": $0.offset, "value": $0.value]
        }
        let peer = try PyModbusServer(registers: spec)
        defer { peer.stop() }
        let agent = try AgentProcess(meters: [.init(name: "all", link: .tcp(port: peer.port), map: allTypesMap, timeoutMs: 1000)],
                                     intervalMs: 4000)
        let probe = try agent.command("probe")
        #expect(probe.status == 0, "\(probe.stdout) \(probe.stderr)")
        let values = probedValues(probe.stdout)
        for row in allTypes {
            #expect(values[row.quantity] == expectedValue(row), "\(row.quantity) (\(row.type) \(row.order)) via pymodbus")
        }

        // The agent records the same values, from pymodbus, in its ledger.
        try agent.start()
        #expect(agent.waitFor { $0.contains { $0.kind == "reading" && $0.quality == "good" } })
        #expect(agent.stop().status == 0)
        let reading = try #require(try agent.readings(of: "all").first { $0.quality == "good" })
        for row in allTypes {
            #expect(reading.values[row.quantity] == expectedValue(row), "\(row.quantity) in the ledger")
        }
    }

    @Test func rtuOverAPseudoTerminalPair() throws {
        let folder = TemporaryDirectory("rtu")
        let line = try SerialLine(in: folder)
        defer { line.stop() }
        let simulator = try MeterSimulatorProcess(
            map: allTypesMap,
            arguments: ["--rtu", line.deviceA, "--baud", "19200", "--unit", "7"] + allTypes.flatMap { ["--set", "\($0.quantity)=\($0.value)"] })
        defer { simulator.stop() }
        let agent = try AgentProcess(meters: [.init(name: "rtu", link: .rtu(device: line.deviceB, baud: 19200), map: allTypesMap,
                                                    unit: 7, timeoutMs: 1000)], intervalMs: 4000)
        let probe = try agent.command("probe")
        #expect(probe.status == 0, "\(probe.stdout) \(probe.stderr)")
        let values = probedValues(probe.stdout)
        for row in allTypes {
            #expect(values[row.quantity] == expectedValue(row), "\(row.quantity) over RTU")
        }
        simulator.fault("garbage")
        let garbled = try agent.command("probe")
        #expect(garbled.status == 1 && garbled.stdout.contains("FAILED: crc error"), "\(garbled.stdout)")
    }

    @Test func oneReadingPerMeterPerCycleOnTheWallClockGrid() throws {
        let maps = Paths.packageRoot.appendingPathComponent("firmware-config/registers")
        let main = try MeterSimulatorProcess(map: maps.appendingPathComponent("eastron-sdm630.toml").path,
                                             arguments: ["--profile", "sine:1500:500:10"])
        let pv = try MeterSimulatorProcess(map: maps.appendingPathComponent("eastron-sdm120.toml").path,
                                           arguments: ["--profile", "constant:-2500"])
        defer { main.stop(); pv.stop() }
        let agent = try AgentProcess(meters: [
            .init(name: "main", link: .tcp(port: main.port!), map: maps.appendingPathComponent("eastron-sdm630.toml").path),
            .init(name: "pv", link: .tcp(port: pv.port!), map: maps.appendingPathComponent("eastron-sdm120.toml").path),
        ], intervalMs: 250)
        try agent.start()
        #expect(agent.waitFor { $0.filter { $0.kind == "reading" }.count >= 24 })
        let stopped = agent.stop()
        #expect(stopped.status == 0, "\(stopped.log)")
        #expect(stopped.log.contains("acquisition stopped"))

        let entries = try agent.entries()
        #expect(entries.first?.kind == "event" && entries.first?.body["e"] as? String == "start")
        #expect(entries.last?.kind == "event" && entries.last?.body["e"] as? String == "stop")
        let readings = entries.filter { $0.kind == "reading" }
        let byTime = Dictionary(grouping: readings, by: \.time)
        for (time, cycle) in byTime {
            #expect(cycle.map { $0.meter! }.sorted() == ["main", "pv"], "cycle \(time)")
            let ms = Timestamp(rfc3339: time)!.millisecondsSince1970
            #expect(ms % 250 == 0, "\(time) is not on the 250 ms grid")
        }
        #expect(readings.allSatisfy { $0.quality == "good" })
        #expect(readings.filter { $0.meter == "pv" }.allSatisfy { $0.values["active_power"] == -2500 })
        assertGridComplete(entries, intervalMs: 250)
        #expect(try Ledger(readingFile: agent.ledgerPath).verify().fault == nil)
    }

    @Test func faultsBecomeFailedReadingsAndTheAgentRecovers() throws {
        let map = Paths.packageRoot.appendingPathComponent("firmware-config/registers/eastron-sdm630.toml").path
        var faulty = try MeterSimulatorProcess(map: map)
        let healthy = try MeterSimulatorProcess(map: map, arguments: ["--profile", "constant:800"])
        defer { faulty.stop(); healthy.stop() }
        let port = faulty.port!
        let agent = try AgentProcess(meters: [
            .init(name: "faulty", link: .tcp(port: port), map: map, timeoutMs: 100, retries: 0),
            .init(name: "healthy", link: .tcp(port: healthy.port!), map: map, timeoutMs: 100, retries: 0),
        ], intervalMs: 250)
        try agent.start()

        func expectNextReading(_ quality: String, _ what: String) {
            let before = (try? agent.readings(of: "faulty").count) ?? 0
            let seen = agent.waitFor { entries in
                entries.filter { $0.kind == "reading" && $0.meter == "faulty" }.dropFirst(before).contains { $0.quality == quality }
            }
            #expect(seen, "\(what): no reading with q=\(quality)")
        }
        expectNextReading("good", "start")
        for (fault, quality) in [("timeout", "timeout"), ("exception 2", "exception 2"), ("garbage", "bad response"),
                                 ("drop", "disconnected"), ("delay 2000", "timeout"), ("none", "good")] {
            faulty.fault(fault)
            expectNextReading(quality, "fault \(fault)")
        }
        // The device disappears, then comes back on the same port: reconnect with back-off.
        faulty.stop()
        expectNextReading("disconnected", "device gone")
        faulty = try MeterSimulatorProcess(map: map, port: port)
        expectNextReading("good", "device back")

        #expect(agent.process?.isRunning == true)
        let stopped = agent.stop()
        #expect(stopped.status == 0)
        #expect(stopped.log.contains("meter read failed") && stopped.log.contains("meter recovered"))
        // The healthy meter on its own connection was never held up by the faulty one.
        let healthyReadings = try agent.readings(of: "healthy")
        #expect(healthyReadings.count >= 10)
        #expect(healthyReadings.allSatisfy { $0.quality == "good" && $0.values["active_power"] == 800 },
                "\(healthyReadings.filter { $0.quality != "good" }.map(\.body))")
        // A failed reading never carries values.
        #expect(try agent.readings(of: "faulty").filter { $0.quality != "good" }.allSatisfy { $0.body["v"] == nil })
        #expect(try Ledger(readingFile: agent.ledgerPath).verify().fault == nil)
    }

    @Test func configErrorsAreReportedTogether() throws {
        let agent = try AgentProcess(meters: [.init(name: "bad name!", link: .tcp(port: 70000), map: "/nonexistent.toml")], intervalMs: 10)
        for command in ["check-config", "run", "probe"] {
            let outcome = try agent.command(command)
            #expect(outcome.status == 2, "\(command)")
            for fragment in ["acquisition.interval_ms", "meters[0].name", "meters[0].port", "/nonexistent.toml: cannot open"] {
                #expect(outcome.stderr.contains(fragment), "\(command): \(fragment) in \(outcome.stderr)")
            }
        }
    }
}

extension AcquisitionTests {
    /// Cadence over a long run (2 minutes at 250 ms; LIGHTNODE_CADENCE_SECONDS overrides): every
    /// reading on the grid, no drift, nothing silently skipped. Lateness is reported, not asserted.
    @Test func cadenceHoldsOverMinutes() throws {
        let seconds = Int(ProcessInfo.processInfo.environment["LIGHTNODE_CADENCE_SECONDS"] ?? "") ?? 120
        let map = Paths.packageRoot.appendingPathComponent("firmware-config/registers/eastron-sdm630.toml").path
        let simulator = try MeterSimulatorProcess(map: map, arguments: ["--profile", "sine:2000:1000:30"])
        defer { simulator.stop() }
        let agent = try AgentProcess(meters: [.init(name: "main", link: .tcp(port: simulator.port!), map: map)], intervalMs: 250)
        try agent.start()
        let cycles = seconds * 4
        #expect(agent.waitFor(timeoutSeconds: Double(seconds) * 3) { $0.filter { $0.kind == "reading" }.count >= cycles })
        let stopped = agent.stop()
        #expect(stopped.status == 0)
        let entries = try agent.entries()
        #expect(entries.filter { $0.kind == "reading" }.allSatisfy {
            Timestamp(rfc3339: $0.time)!.millisecondsSince1970 % 250 == 0
        })
        assertGridComplete(entries, intervalMs: 250)
        let summary = stopped.log.split(separator: "\n").first { $0.contains("acquisition stopped") } ?? ""
        print("cadence at 250 ms for \(seconds) s: \(summary)")
        #expect(summary.contains("lateness_p99_ms="))
    }
}

/// Every grid point between the first and the last reading has a reading for every meter,
/// unless a missed-cycles event accounts for it: cadence without drift, and no silent gaps.
func assertGridComplete(_ entries: [AgentProcess.Entry], intervalMs: Int64) {
    let readingTimes = Set(entries.filter { $0.kind == "reading" }.map { Timestamp(rfc3339: $0.time)!.millisecondsSince1970 })
    guard let first = readingTimes.min(), let last = readingTimes.max() else {
        Issue.record("no readings")
        return
    }
    let missedCount = entries.filter { $0.kind == "event" && $0.body["e"] as? String == "missed-cycles" }
        .compactMap { ($0.body["d"] as? String)?.split(separator: " ").first.flatMap { Int($0) } }.reduce(0, +)
    let expected = Int((last - first) / intervalMs) + 1
    #expect(readingTimes.count + missedCount == expected,
            "\(readingTimes.count) cycles + \(missedCount) missed != \(expected) grid points")
}
