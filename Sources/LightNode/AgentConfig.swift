import ConfigFile
import Ledger
import Modbus
import MQTT
import Sodium

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
        public let broker: BrokerConfig
        public let topicPrefix: String
        /// Backlog drain limit in messages per second (0: none), so a fleet back online at once
        /// does not storm the broker; each message holds up to 200 entries.
        public let drainMessagesPerSecond: Int
        /// After each (re)connect with a backlog, draining starts after a random delay up to this.
        public let reconnectJitterSeconds: Int

        /// `{prefix}/{node}/{leaf}`: the node's topics of the MQTT contract (docs/mqtt.md).
        public func topic(node: String, _ leaf: String) -> String { "\(topicPrefix)/\(node)/\(leaf)" }
    }

    /// `[setpoints]`: whose set-points are trusted, the safety limits, and where they go.
    public struct SetPoints: Sendable {
        public let trustedKeys: [PublicKey]
        public let minW: Int64
        public let maxW: Int64
        public let maxAgeSeconds: Int
        /// The meter whose active power is the site's (compliance reports).
        public let meter: String
        public let targets: [SetPointTargetConfig]
    }

    public enum SetPointTargetConfig: Sendable {
        case modbus(ModbusTargetConfig)
        case mqtt(MQTTTargetConfig)
    }

    public struct ModbusTargetConfig: Sendable {
        public let endpoint: ModbusEndpoint
        public let unit: Int
        public let timeoutMs: Int
        public let retries: Int
        /// Address, type, word order and scale of the holding register(s) receiving the watts.
        public let register: Register
        public let idleValue: Double
    }

    public struct MQTTTargetConfig: Sendable {
        public let broker: BrokerConfig
        public let topic: String
        public let retain: Bool
    }

    public let file: String
    public let node: Node
    public let intervalMs: Int
    public let meters: [Meter]
    public let mqtt: MQTT?
    public let setPoints: SetPoints?
    /// Published entries older than this are pruned from the ledger (`[node] retention_days`).
    public let retentionDays: Int

    /// Loads and validates the file and every register map it names; throws all problems at once.
    public static func load(file: String) throws(ConfigError) -> AgentConfig {
        let issues = ConfigIssues()
        guard let root = ConfigSection.load(file: file, issues: issues) else { throw ConfigError(issues: issues.list) }
        let resolve = root.resolvePath

        let nodeSection = root.section("node")
        let id = nodeSection.flatMap { $0.identifier("id") }
        let pod = nodeSection.flatMap { $0.identifier("pod") }
        let dataDirectory = nodeSection?.string("data_dir").map(resolve)
        let keyFile = nodeSection?.string("key_file").map(resolve)
        let retentionDays = nodeSection?.int("retention_days", in: 2...3650, default: 35) ?? 35
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
        // The broker's ACL grants a node its topics by username (firmware-config/mosquitto), and
        // over MQTT 3.1.1 a publish the ACL denies is still acknowledged: a mismatch would have
        // the publisher advance over readings nobody received.
        if let username = mqtt?.broker.username, let id, username != id {
            root.section("mqtt")?.problem("username", "must be the node id \"\(id)\" (the broker ACL grants topics by username), not \"\(username)\"")
        }
        let setPoints = root.section("setpoints", required: false).flatMap {
            loadSetPoints($0, meters: meters, resolve: resolve)
        }
        if setPoints != nil && mqtt == nil && root.has("setpoints") {
            root.problem("setpoints", "set-points arrive over MQTT: [setpoints] needs an [mqtt] section")
        }
        root.rejectUnknownKeys()

        try issues.throwIfAny()
        return AgentConfig(file: file, node: Node(id: id!, pod: pod!, dataDirectory: dataDirectory!, keyFile: keyFile!),
                           intervalMs: intervalMs, meters: meters, mqtt: mqtt, setPoints: setPoints,
                           retentionDays: retentionDays)
    }

    static func loadMeter(_ section: ConfigSection, resolve: (String) -> String) -> Meter? {
        let name = section.identifier("name")
        let endpoint = loadEndpoint(section)
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

    /// The connection keys shared by meters and Modbus set-point targets.
    static func loadEndpoint(_ section: ConfigSection) -> ModbusEndpoint? {
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
        return endpoint
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
        let prefix = section.string("topic_prefix", required: false) ?? "lightnode/v1"
        section.checkTopic("topic_prefix", prefix)
        let rate = section.int("drain_messages_per_s", in: 0...10_000, default: 20)
        let jitter = section.int("reconnect_jitter_s", in: 0...3600, default: 10)
        let broker = BrokerConfig.load(section, resolve: resolve)
        section.rejectUnknownKeys()
        guard let rate, let jitter, let broker else { return nil }
        return MQTT(broker: broker, topicPrefix: prefix, drainMessagesPerSecond: rate, reconnectJitterSeconds: jitter)
    }

    static func loadSetPoints(_ section: ConfigSection, meters: [Meter], resolve: (String) -> String) -> SetPoints? {
        var keys: [PublicKey] = []
        let keyTexts = section.strings("trusted_keys")
        if keyTexts?.isEmpty == true {
            section.problem("trusted_keys", "needs at least one key: without one every set-point is rejected")
        }
        for text in keyTexts ?? [] {
            do {
                keys.append(try PublicKey(parsing: text))
            } catch {
                section.problem("trusted_keys", "\"\(text)\" is not an Ed25519 public key (base64 of 32 bytes or cs1.…): \(error)")
            }
        }
        let limit = 100_000_000  // 100 MW: beyond any single POD
        let minW = section.int("min_w", in: -limit...limit)
        let maxW = section.int("max_w", in: -limit...limit)
        if let minW, let maxW, minW >= maxW { section.problem("max_w", "must be greater than min_w (\(minW))") }
        let maxAge = section.int("max_age_s", in: 5...86_400, default: 300)
        let meter = section.string("meter", required: false) ?? meters.first?.name
        if let meter, !meters.isEmpty, !meters.contains(where: { $0.name == meter }) {
            section.problem("meter", "no [[meters]] entry is named \"\(meter)\"")
        }
        var targets: [SetPointTargetConfig] = []
        for target in section.sections("targets", required: false) {
            switch target.choice("kind", ["modbus", "mqtt"]) {
            case "modbus": if let modbus = loadModbusTarget(target) { targets.append(.modbus(modbus)) }
            case "mqtt": if let mqtt = loadMQTTTarget(target, resolve: resolve) { targets.append(.mqtt(mqtt)) }
            default: break
            }
        }
        section.rejectUnknownKeys()
        guard let minW, let maxW, let maxAge, let meter else { return nil }
        return SetPoints(trustedKeys: keys, minW: Int64(minW), maxW: Int64(maxW), maxAgeSeconds: maxAge, meter: meter,
                         targets: targets)
    }

    static func loadModbusTarget(_ section: ConfigSection) -> ModbusTargetConfig? {
        let endpoint = loadEndpoint(section)
        let unit = section.int("unit_id", in: 0...247, default: 1)
        let timeoutMs = section.int("timeout_ms", in: 10...60_000, default: 500)
        let retries = section.int("retries", in: 0...10, default: 2)
        let address = section.int("address", in: 0...65535)
        let type = section.choice("type", RegisterType.allCases.map(\.rawValue), default: "int32").flatMap(RegisterType.init(rawValue:))
        let wordOrder = section.choice("word_order", WordOrder.allCases.map(\.rawValue), default: "big").flatMap(WordOrder.init(rawValue:))
        let scale = section.double("scale", default: 1)
        let idle = section.double("idle_value", default: 0)
        section.rejectUnknownKeys()
        if scale == 0 { section.problem("scale", "must not be 0") }
        guard let endpoint, let unit, let timeoutMs, let retries, let address, let type, let wordOrder, let scale, let idle,
              scale != 0 else { return nil }
        if address + type.registerCount > 65536 {
            section.problem("address", "\(type.rawValue) at \(address) runs past the last register (65535)")
            return nil
        }
        let register = Register(quantity: .activePower, function: .holding, address: address, type: type,
                                wordOrder: wordOrder, scale: scale)
        if register.encode(idle) == nil { section.problem("idle_value", "\(idle) does not fit a \(type.rawValue) at scale \(scale)") }
        return ModbusTargetConfig(endpoint: endpoint, unit: unit, timeoutMs: timeoutMs, retries: retries,
                                  register: register, idleValue: idle)
    }

    static func loadMQTTTarget(_ section: ConfigSection, resolve: (String) -> String) -> MQTTTargetConfig? {
        let topic = section.string("topic")
        if let topic { section.checkTopic("topic", topic) }
        let retain = section.bool("retain", default: true)
        let broker = BrokerConfig.load(section, resolve: resolve)
        section.rejectUnknownKeys()
        guard let topic, let retain, let broker else { return nil }
        return MQTTTargetConfig(broker: broker, topic: topic, retain: retain)
    }
}
