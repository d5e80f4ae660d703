import Foundation
import Ledger
import Sodium

/// A real `lightnode run` against real Modbus peers, with its key, config and data in a temp folder.
public final class AgentProcess {
    public struct Meter {
        public enum Link {
            case tcp(port: Int)
            case rtu(device: String, baud: Int)
        }

        public let name: String
        public let link: Link
        public let map: String
        public var unit = 1
        public var timeoutMs = 200
        public var retries = 0

        public init(name: String, link: Link, map: String, unit: Int = 1, timeoutMs: Int = 200, retries: Int = 0) {
            self.name = name
            self.link = link
            self.map = map
            self.unit = unit
            self.timeoutMs = timeoutMs
            self.retries = retries
        }

        var toml: String {
            let link: String
            switch self.link {
            case .tcp(let port): link = "transport = \"tcp\"\nhost = \"127.0.0.1\"\nport = \(port)"
            case .rtu(let device, let baud): link = "transport = \"rtu\"\ndevice = \"\(device)\"\nbaud = \(baud)"
            }
            return """
                [[meters]]
                name = "\(name)"
                \(link)
                unit_id = \(unit)
                register_map = "\(map)"
                timeout_ms = \(timeoutMs)
                retries = \(retries)

                """
        }
    }

    /// A ledger entry as the tests read it.
    public struct Entry {
        public let seq: UInt64
        public let body: [String: Any]
        public var kind: String { body["k"] as? String ?? "" }
        public var time: String { body["t"] as? String ?? "" }
        public var meter: String? { body["m"] as? String }
        public var quality: String? { body["q"] as? String }
        public var values: [String: Double] { body["v"] as? [String: Double] ?? [:] }
    }

    public let folder: TemporaryDirectory
    public let configPath: String
    public let ledgerPath: String
    public let stderrPath: String
    public private(set) var process: RunningProcess?

    /// `mqttPort`: publish to a broker on 127.0.0.1 (adds the [mqtt] section); `extraConfig`:
    /// further TOML (e.g. [setpoints]) appended as is.
    public init(meters: [Meter], intervalMs: Int, mqttPort: Int? = nil, extraConfig: String = "",
                folder: TemporaryDirectory = TemporaryDirectory("agent")) throws {
        self.folder = folder
        configPath = folder.file("lightnode.toml")
        ledgerPath = folder.file("data/ledger.sqlite")
        stderrPath = folder.file("agent.log")
        try SigningKey.generate().write(toNewFile: folder.file("node.key"))
        let config = """
            [node]
            id = "ln-test"
            pod = "IT001E00000042"
            data_dir = "data"
            key_file = "node.key"

            [acquisition]
            interval_ms = \(intervalMs)

            """ + meters.map(\.toml).joined()
            + (mqttPort.map { "\n[mqtt]\nhost = \"127.0.0.1\"\nport = \($0)\nkeepalive_s = 5\n" } ?? "")
            + "\n" + extraConfig
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Runs another `lightnode` subcommand with this config (probe, check-config, status).
    public func command(_ name: String) throws -> ProcessOutcome {
        try Processes.run(Paths.executable("lightnode"), [name, "--config", configPath])
    }

    public func start(logLevel: String = "info", environment: [String: String] = [:]) throws {
        process = try RunningProcess(Paths.executable("lightnode"), ["run", "--config", configPath, "--log-level", logLevel],
                                     stderrPath: stderrPath, environment: environment)
    }

    /// Stops it with SIGTERM; returns its exit status and log.
    @discardableResult
    public func stop() -> (status: Int32, log: String) {
        guard let process else { return (-1, "") }
        self.process = nil
        return (process.stop(), (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "")
    }

    public func entries() throws -> [Entry] {
        guard FileManager.default.fileExists(atPath: ledgerPath) else { return [] }
        return try Ledger(readingFile: ledgerPath).entries().map { entry in
            Entry(seq: entry.seq, body: try JSONSerialization.jsonObject(with: Data(entry.body)) as! [String: Any])
        }
    }

    public func readings(of meter: String) throws -> [Entry] {
        try entries().filter { $0.kind == "reading" && $0.meter == meter }
    }

    /// Waits until the ledger satisfies `condition` (polled while the agent appends).
    public func waitFor(timeoutSeconds: Double = 60, _ condition: ([Entry]) -> Bool) -> Bool {
        waitUntil(timeoutSeconds: timeoutSeconds, pollMilliseconds: 100) { condition((try? entries()) ?? []) }
    }
}
