import Configuration
import Modbus

/// The Light Node's configuration (TOML; keys in docs/configuration.md and DESIGN §6).
/// Relative paths (data_dir, key_file, register_map, password_file, tls files) are resolved
/// against the configuration file's folder, so a config folder can be moved as a whole.
public struct AgentConfig: Sendable {
    public struct Node: Sendable {
        public let id: String
        public let pod: String
        public let dataDirectory: String
        public let keyFile: String
    }

    public struct Meter: Sendable {
        public let name: String
        public let endpoint: ModbusEndpoint
        public let registerMapFile: String
        public let device: MeterDevice
    }

    public struct MQTT: Sendable {
        public let host: String
        public let port: Int
        public let topicPrefix: String
        public let username: String?
        public let passwordFile: String?
        public let tlsCAFile: String?
        public let tlsCertFile: String?
        public let tlsKeyFile: String?
        public let keepaliveSeconds: Int
    }

    public let file: String
    public let node: Node
    public let intervalMs: Int
    public let meters: [Meter]
    public let mqtt: MQTT?

    /// Characters allowed in node ids, PODs and meter names: they appear in MQTT topics and logs.
    static let identifierCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")

    /// Loads and validates the file and every register map it names; throws all problems at once.
    public static func load(file: String) throws(ConfigError) -> AgentConfig {
        let issues = ConfigIssues()
        guard let root = ConfigSection.load(file: file, issues: issues) else { throw ConfigError(issues: issues.list) }
        let folder = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) : "."
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : folder + "/" + path }

        let nodeSection = root.section("node")
        let id = nodeSection.flatMap { identifier($0, "id") }
        let pod = nodeSection.flatMap { identifier($0, "pod") }
        let dataDirectory = nodeSection?.string("data_dir").map(resolve)
        let keyFile = nodeSection?.string("key_file").map(resolve)
        nodeSection?.rejectUnknownKeys()

        let acquisition = root.section("acquisition", required: false)
        let intervalMs = acquisition?.int("interval_ms", in: 100...3_600_000, default: 4000) ?? 4000
        acquisition?.rejectUnknownKeys()

        var meters: [Meter] = []
        let meterSections = root.sections("meters")
        if meterSections.isEmpty && root.has("meters") { root.problem("meters", "needs at least one [[meters]] entry") }
        var names: [String: String] = [:]
        for section in meterSections {
            guard let meter = loadMeter(section, resolve: resolve) else { continue }
            if let first = names[meter.name] {
                section.problem("name", "\"\(meter.name)\" is already the name of \(first)")
            }
            names[meter.name] = names[meter.name] ?? section.path
            meters.append(meter)
        }
        checkBusTiming(meters, intervalMs: intervalMs, root: root)

        let mqtt = root.section("mqtt", required: false).flatMap { loadMQTT($0, resolve: resolve) }
        // [setpoints] is read by the set-point controller (its own issue); not an unknown key here.
        _ = root.has("setpoints") ? root.section("setpoints") : nil
        root.rejectUnknownKeys()

        try issues.throwIfAny()
        return AgentConfig(file: file, node: Node(id: id!, pod: pod!, dataDirectory: dataDirectory!, keyFile: keyFile!),
                           intervalMs: intervalMs, meters: meters, mqtt: mqtt)
    }

    static func identifier(_ section: ConfigSection, _ key: String) -> String? {
        guard let value = section.string(key) else { return nil }
        guard !value.isEmpty, value.count <= 64, value.allSatisfy(identifierCharacters.contains) else {
            section.problem(key, "must be 1–64 characters of A–Z, a–z, 0–9, '.', '_' or '-', not \"\(value)\"")
            return nil
        }
        return value
    }

    static func loadMeter(_ section: ConfigSection, resolve: (String) -> String) -> Meter? {
        let name = identifier(section, "name")
        let transport = section.choice("transport", ["tcp", "rtu"])
        var endpoint: ModbusEndpoint?
        switch transport {
        case "tcp":
            if let host = section.string("host"), let port = section.int("port", in: 1...65535, default: 502) {
                endpoint = .tcp(host: host, port: port)
            }
        case "rtu":
            let device = section.string("device")
            let baud = section.int("baud", in: 300...921_600, default: 9600)
            let parity = section.choice("parity", ["N", "E", "O"], default: "N").flatMap(ModbusEndpoint.Parity.init(rawValue:))
            let dataBits = section.int("data_bits", in: 7...8, default: 8)
            let stopBits = section.int("stop_bits", in: 1...2, default: 1)
            if let device, let baud, let parity, let dataBits, let stopBits {
                endpoint = .rtu(device: device, baud: baud, parity: parity, dataBits: dataBits, stopBits: stopBits)
            }
        default:
            break
        }
        let unit = section.int("unit_id", in: 0...247, default: 1)
        let timeoutMs = section.int("timeout_ms", in: 10...60_000, default: 500)
        let retries = section.int("retries", in: 0...10, default: 1)
        let mapFile = section.string("register_map").map(resolve)
        section.rejectUnknownKeys()
        let map = mapFile.flatMap { RegisterMap.load(file: $0, issues: section.issues) }
        guard let name, let endpoint, let unit, let timeoutMs, let retries, let mapFile, let map else { return nil }
        return Meter(name: name, endpoint: endpoint, registerMapFile: mapFile,
                     device: MeterDevice(name: name, unit: unit, timeoutMs: timeoutMs, retries: retries, map: map))
    }

    /// Meters sharing an endpoint are read one after another; if all of them timing out could
    /// outlast the interval, cycles would be missed, so the configuration is refused.
    static func checkBusTiming(_ meters: [Meter], intervalMs: Int, root: ConfigSection) {
        let budget = Acquisition.readBudgetMs(intervalMs: intervalMs)
        for (endpoint, onBus) in Dictionary(grouping: meters, by: \.endpoint) {
            let worst = onBus.map(\.device.worstCaseMs).reduce(0, +)
            if worst > budget {
                root.problem("meters", "meters on \(endpoint) (\(onBus.map(\.name).joined(separator: ", "))) can take "
                    + "\(worst) ms per cycle at worst ((requests + retries) × timeout_ms), "
                    + "more than the \(budget) ms a cycle of interval_ms = \(intervalMs) allows")
            }
        }
    }

    static func loadMQTT(_ section: ConfigSection, resolve: (String) -> String) -> MQTT? {
        let host = section.string("host", required: false) ?? "127.0.0.1"
        let port = section.int("port", in: 1...65535, default: 1883)
        let prefix = section.string("topic_prefix", required: false) ?? "lightnode/v1"
        if prefix.isEmpty || prefix.contains(where: { "+#".contains($0) }) || prefix.hasSuffix("/") {
            section.problem("topic_prefix", "must be a non-empty topic without wildcards or a trailing '/'")
        }
        let username = section.string("username", required: false)
        let passwordFile = section.string("password_file", required: false).map(resolve)
        let caFile = section.string("tls_ca_file", required: false).map(resolve)
        let certFile = section.string("tls_cert_file", required: false).map(resolve)
        let keyFile = section.string("tls_key_file", required: false).map(resolve)
        let keepalive = section.int("keepalive_s", in: 5...3600, default: 30)
        section.rejectUnknownKeys()
        if (certFile == nil) != (keyFile == nil) {
            section.problem(certFile == nil ? "tls_cert_file" : "tls_key_file", "tls_cert_file and tls_key_file go together")
        }
        guard let port, let keepalive else { return nil }
        return MQTT(host: host, port: port, topicPrefix: prefix, username: username, passwordFile: passwordFile,
                    tlsCAFile: caFile, tlsCertFile: certFile, tlsKeyFile: keyFile, keepaliveSeconds: keepalive)
    }
}
