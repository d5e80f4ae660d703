import ConfigFile
import Foundation
import GridCore
import LightNode
import Modbus
import Testing
import TestSupport

@Suite struct AgentConfigTests {
    let folder = TemporaryDirectory("config")
    static let sdm630 = Paths.packageRoot.appendingPathComponent("firmware-config/registers/eastron-sdm630.toml").path

    func write(_ toml: String) -> String {
        let path = folder.file("lightnode-\(UUID().uuidString).toml")
        try! toml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func loadsTheContractKeysAndResolvesPathsAgainstTheConfigFolder() throws {
        let path = write("""
            [node]
            id = "ln-0001"
            pod = "IT001E00000001"
            data_dir = "data"
            key_file = "/etc/lightnode/node.key"

            [acquisition]
            interval_ms = 4000

            [[meters]]
            name = "main"
            transport = "tcp"
            host = "127.0.0.1"
            port = 502
            unit_id = 1
            register_map = "\(Self.sdm630)"
            timeout_ms = 500
            retries = 1

            [[meters]]
            name = "pv"
            transport = "rtu"
            device = "/dev/ttyUSB0"
            baud = 19200
            parity = "E"
            register_map = "\(Self.sdm630)"

            [mqtt]
            host = "broker.local"
            port = 8883
            topic_prefix = "lightnode/v1"
            tls_ca_file = "ca.pem"
            keepalive_s = 60
            """)
        let config = try AgentConfig.load(file: path)
        #expect(config.node.id == "ln-0001" && config.node.pod == "IT001E00000001")
        #expect(config.node.dataDirectory == folder.path + "/data")
        #expect(config.node.keyFile == "/etc/lightnode/node.key")
        #expect(config.intervalMs == 4000)
        #expect(config.meters.map(\.endpoint) == [.tcp(host: "127.0.0.1", port: 502),
                                                 .rtu(device: "/dev/ttyUSB0", baud: 19200, parity: .even, dataBits: 8, stopBits: 1)])
        #expect(config.meters[1].device.timeoutMs == 500 && config.meters[1].device.retries == 1)
        #expect(config.mqtt?.broker.port == 8883 && config.mqtt?.broker.tlsCAFile == folder.path + "/ca.pem")
    }

    @Test func shippedExampleConfigIsValid() throws {
        let config = try AgentConfig.load(file: Paths.packageRoot.appendingPathComponent("firmware-config/lightnode.example.toml").path)
        #expect(config.meters.map(\.name) == ["main", "pv"])
        #expect(Set(config.meters.map(\.endpoint)).count == 1, "both meters share one RS-485 line")
    }

    @Test func reportsAllProblemsAtOnceWithKeyPaths() throws {
        let path = write("""
            [node]
            id = "ln/0001"
            data_dir = "data"
            key_file = "node.key"
            color = "blue"

            [acquisition]
            interval_ms = 50

            [[meters]]
            name = "main"
            transport = "serial"
            register_map = "\(Self.sdm630)"

            [[meters]]
            name = "main"
            transport = "tcp"
            host = "127.0.0.1"
            port = 70000
            register_map = "missing.toml"
            """)
        #expect {
            try AgentConfig.load(file: path)
        } throws: { error in
            let issues = (error as! ConfigError).issues.map { "\($0.path): \($0.message)" }
            let expected = [
                "node.id: must be 1–64 characters",
                "node.pod: is required",
                "node.color: unknown key",
                "acquisition.interval_ms: must be between 100 and 3600000, not 50",
                "meters[0].transport: must be one of \"tcp\", \"rtu\", not \"serial\"",
                "meters[1].port: must be between 1 and 65535, not 70000",
                ": cannot open: No such file or directory",
            ]
            for fragment in expected where !issues.contains(where: { $0.hasPrefix(fragment) }) {
                Issue.record("missing \(fragment) in \(issues)")
            }
            return true
        }
    }

    /// toml++ (in TOMLKit) would abort the process on these headers; they are refused with their
    /// line. Valid nested arrays, strings and comments with brackets pass.
    @Test func aHeaderThatNamesNoTableIsRefusedNotFatal() throws {
        for (text, line) in [("[node]\nid = \"a\"\n[=]\n", 3), ("[.]\n", 1), ("a = 1\n[\n", 2), ("  [[ =]]\n", 1), ("[ \t\n", 1)] {
            let error = #expect(throws: ConfigError.self) { try AgentConfig.load(file: write(text)) }
            #expect(error?.description.contains("line \(line): a table header must name a table") == true, "\(text)")
        }
        let fine = write("""
            a = [
              [1, 2],
              ["[=]", '[.]'],
            ] # [=]
            b = \"\"\"
            [=]
            \"\"\"
            [node]
            """)
        let error = #expect(throws: ConfigError.self) { try AgentConfig.load(file: fine) }
        #expect(error?.description.contains("table header") == false && error?.description.contains("unknown key") == true,
                "\(String(describing: error))")
    }

    @Test func aFileThatIsNoRegularFileIsRefused() throws {
        let fifo = folder.file("map.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let path = write("[node]\nid = \"ln-1\"\npod = \"P\"\ndata_dir = \"d\"\nkey_file = \"k\"\n[[meters]]\nname = \"m\"\ntransport = \"tcp\"\n"
                         + "host = \"127.0.0.1\"\nport = 502\nregister_map = \"\(fifo)\"\n")
        let error = #expect(throws: ConfigError.self) { try AgentConfig.load(file: path) }
        #expect(error?.description.contains("is not a regular file") == true, "\(String(describing: error))")
    }

    @Test func refusesABusThatCannotBeReadWithinTheInterval() {
        let meters = (1...3).map { index in
            """
            [[meters]]
            name = "m\(index)"
            transport = "rtu"
            device = "/dev/ttyUSB0"
            unit_id = \(index)
            register_map = "\(Self.sdm630)"
            timeout_ms = 1000
            retries = 2
            """
        }.joined(separator: "\n")
        let path = write("""
            [node]
            id = "n"
            pod = "p"
            data_dir = "d"
            key_file = "k"
            \(meters)
            """)
        #expect {
            try AgentConfig.load(file: path)
        } throws: { error in
            "\(error)".contains("meters on rtu:/dev/ttyUSB0@9600/8N1 (m1, m2, m3) can take 9000 ms per cycle at worst")
        }
    }

    @Test func deadlinesAreWallClockMultiplesOfTheInterval() {
        let t = Timestamp(rfc3339: "2026-11-24T10:00:03.999Z")!
        #expect(Agent.nextDeadline(after: t, intervalMs: 4000).rfc3339 == "2026-11-24T10:00:04.000Z")
        #expect(Agent.nextDeadline(after: Timestamp(rfc3339: "2026-11-24T10:00:04.000Z")!, intervalMs: 4000).rfc3339
            == "2026-11-24T10:00:08.000Z")
        #expect(Agent.nextDeadline(after: t, intervalMs: 250).rfc3339 == "2026-11-24T10:00:04.000Z")
    }

    @Test func latenessQuantilesComeFromFixedBuckets() {
        var histogram = LatenessHistogram()
        for microseconds in 0..<1000 { histogram.record(microseconds: Int64(microseconds * 10)) }  // 0…9.99 ms
        #expect(histogram.quantileMilliseconds(0.5) == 5.0)
        #expect(histogram.quantileMilliseconds(0.99) == 9.9)
        histogram.record(microseconds: 5_000_000)
        #expect(histogram.maximumMicroseconds == 5_000_000 && histogram.quantileMilliseconds(1) == 1000.1)
    }
}
