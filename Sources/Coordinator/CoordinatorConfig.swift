import ConfigFile
import GridCore
import Foundation
import MQTT
import UFTP
import UFTPTransport

/// The coordinator's configuration (TOML; keys in docs/configuration.md and DESIGN §6). Relative
/// paths are resolved against the configuration file's folder.
public struct CoordinatorConfig: Sendable {
    public enum StoreLocation: Sendable, Equatable {
        case sqlite(path: String)
        case postgres(url: String)
    }

    public struct MQTT: Sendable {
        public let broker: BrokerConfig
        public let topicPrefix: String
        public let shareGroup: String
        public let clientID: String

        /// `$share/{group}/{prefix}/+/readings`: several instances split the nodes' readings.
        public var readingsSubscription: String { "$share/\(shareGroup)/\(topicPrefix)/+/readings" }
    }

    public struct Ingest: Sendable {
        /// A reading stays uncertified at most this long.
        public let certifyWithinSeconds: Int
        /// The Light Nodes' acquisition interval: the samples a quarter hour should hold.
        public let intervalMs: Int
        public let maxPayloadBytes: Int
        public let commitIntervalMs: Int

        /// A run of entries is verified once its oldest has waited this long: late, so that a node
        /// costs about one Ed25519 verification per bound (at half the bound it cost two, 13% of
        /// the ingest's CPU at 25,000 readings/s), yet with a quarter of the bound (at least 2 s)
        /// left for the 1-s scheduler and a burst of due verifications (100,000 take about 5 s).
        public var certifyAfterMs: Int64 {
            let bound = Int64(certifyWithinSeconds) * 1000
            return bound - max(bound / 4, 2000)
        }
    }

    public struct Certification: Sendable {
        /// The log's Ed25519 key (made on first start when missing).
        public let signingKeyFile: String
        /// The checkpoint origin and signed-note key name.
        public let origin: String
        public let checkpointIntervalSeconds: Int
    }

    /// `[uftp]`: this platform as a UFTP participant. Absent: no UFTP endpoint.
    public struct UFTPParticipant: Sendable {
        public let domain: InternetDomain
        public let roles: [USEFRole]
        /// The CS1 signing key (base64 64-byte secret, mode 0600; `coordinator uftp key` makes one).
        public let signingKeyFile: String
        /// The other participants: domain, role, endpoint and keys (docs/uftp.md); asked before DNS.
        public let participantsFile: String?
        /// UFTP service discovery in DNS (`dns_discovery = true`), or nil.
        public let dnsDiscovery: DNSDiscovery.Options?
        /// Senders this endpoint blocks: their messages are answered `Barred Sender`.
        public let barredSenders: Set<InternetDomain>
        /// The market's ISP length and time zone, which messages must match.
        public let ispMinutes: Int
        public let marketTimeZone: TimeZone
        /// Messages a second each sender may post (twice that in a burst); beyond, HTTP 429.
        public let rateLimitPerSecond: Int
        /// As CRO: whether only registered DSOs and aggregators may use the Common Reference.
        let croMode: CommonReference.Mode
        /// As DSO: the CRO whose Common Reference aggregators' D-Prognoses and offers are checked
        /// against (this platform's own domain when it plays the CRO), or nil for no such check.
        let croDomain: InternetDomain?
    }

    public let file: String
    public let store: StoreLocation
    public let retentionDays: Int
    public let mqtt: MQTT
    public let listenHost: String
    public let listenPort: Int
    public let maxRequestBytes: Int
    /// The console's session cookie carries `Secure` (TLS terminated in front of the coordinator).
    public let secureCookies: Bool
    public let ingest: Ingest
    public let certification: Certification
    public let uftp: UFTPParticipant?
    public let market: MarketConfig
    /// `[clock]`: a simulated wall clock (demonstrations, training), nil for the real one.
    public let clock: SimulatedClock?

    public static func load(file: String) throws(ConfigError) -> CoordinatorConfig {
        let issues = ConfigIssues()
        guard let root = ConfigSection.load(file: file, issues: issues) else { throw ConfigError(issues: issues.list) }
        let resolve = root.resolvePath

        let scd = root.section("scd")
        var store: StoreLocation?
        if let url = scd?.string("url") {
            if url.hasPrefix("sqlite://") {
                let path = String(url.dropFirst("sqlite://".count))
                if path.isEmpty { scd?.problem("url", "sqlite:// needs a file path") } else { store = .sqlite(path: resolve(path)) }
            } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
                store = .postgres(url: url)
            } else {
                scd?.problem("url", "must start with sqlite:// or postgres://")
            }
        }
        let retentionDays = scd?.int("retention_days", in: 1...3650, default: 35)
        scd?.rejectUnknownKeys()

        let mqttSection = root.section("mqtt")
        let prefix = mqttSection?.string("topic_prefix", required: false) ?? "lightnode/v1"
        mqttSection?.checkTopic("topic_prefix", prefix)
        let group = mqttSection?.identifier("share_group")
        let clientID = mqttSection?.string("client_id", required: false) ?? "coordinator-\(group ?? "")"
        let broker = mqttSection.flatMap { BrokerConfig.load($0, resolve: resolve) }
        mqttSection?.rejectUnknownKeys()

        let http = root.section("http")
        var host: String?
        var port: Int?
        if let listen = http?.string("listen") {
            if let colon = listen.lastIndex(of: ":"), let value = Int(listen[listen.index(after: colon)...]),
               (0...65535).contains(value), colon != listen.startIndex {
                host = String(listen[..<colon])
                port = value
            } else {
                http?.problem("listen", "must be HOST:PORT, not \"\(listen)\"")
            }
        }
        let maxRequestBytes = http?.int("max_request_bytes", in: 1024...(64 << 20), default: 1 << 20)
        let secureCookies = http?.bool("secure_cookies", default: false) ?? false
        http?.rejectUnknownKeys()

        let ingestSection = root.section("ingest", required: false)
        let certifyWithin = ingestSection?.int("certify_within_s", in: 2...3600, default: 60) ?? 60
        let intervalMs = ingestSection?.int("interval_ms", in: 100...3_600_000, default: 4000) ?? 4000
        let maxPayload = ingestSection?.int("max_payload_bytes", in: 1024...(16 << 20), default: 256 << 10) ?? (256 << 10)
        let commitMs = ingestSection?.int("commit_interval_ms", in: 10...10_000, default: 250) ?? 250
        ingestSection?.rejectUnknownKeys()

        let log = root.section("certification", required: false)
        let keyFile = resolve(log?.string("signing_key_file", required: false) ?? "certification.key")
        let origin = log?.string("origin", required: false) ?? "scd.coordinator.local/log"
        if origin.isEmpty || origin.contains(where: { $0 == " " || $0 == "+" || $0 == "\n" }) {
            log?.problem("origin", "must be non-empty without spaces or +")
        }
        let checkpointInterval = log?.int("checkpoint_interval_s", in: 1...86_400, default: 60) ?? 60
        log?.rejectUnknownKeys()

        var uftp: UFTPParticipant?
        if let section = root.section("uftp", required: false) {
            var domain: InternetDomain?
            if let text = section.string("domain") {
                do { domain = try InternetDomain(validating: text) } catch { section.problem("domain", error.problem) }
            }
            var roles: [USEFRole] = []
            for text in section.strings("roles") ?? [] {
                if let role = USEFRole(rawValue: text), !roles.contains(role) {
                    roles.append(role)
                } else {
                    section.problem("roles", "\"\(text)\" is not one of DSO, CRO, AGR (each once)")
                }
            }
            if section.has("roles") && roles.isEmpty { section.problem("roles", "must name at least one role") }
            let keyFile = section.string("signing_key_file")
            let discover = section.bool("dns_discovery", default: false) ?? false
            let participants = section.string("participants_file", required: !discover)
            var dns: DNSDiscovery.Options?
            if discover {
                var options = DNSDiscovery.Options()
                if let text = section.string("dns_server", required: false) {
                    let parts = text.split(separator: ":")
                    if parts.count == 2, let port = Int(parts[1]), (1...65_535).contains(port),
                       parts[0].split(separator: ".").count == 4, parts[0].split(separator: ".").allSatisfy({ UInt8($0) != nil }) {
                        options.server = (String(parts[0]), port)
                    } else {
                        section.problem("dns_server", "must be an IPv4 address and port, e.g. \"127.0.0.1:53\", not \"\(text)\"")
                    }
                }
                options.requireDNSSEC = section.bool("dns_require_dnssec", default: true) ?? true
                if let template = section.string("dns_endpoint_template", required: false) {
                    if template.contains("{host}"), ParticipantsFile.isHTTPURL(template.replacingOccurrences(of: "{host}", with: "h")) {
                        options.endpointTemplate = template
                    } else {
                        section.problem("dns_endpoint_template", "must be an http(s) URL with {host}, not \"\(template)\"")
                    }
                }
                dns = options
            } else {
                for key in ["dns_server", "dns_require_dnssec", "dns_endpoint_template"] where section.has(key) {
                    section.problem(key, "applies only with dns_discovery = true")
                }
            }
            let ispMinutes = section.choice("isp_duration", ["PT15M", "PT30M", "PT60M"], default: "PT15M").map { Int($0.dropFirst(2).dropLast())! }
            let zoneName = section.string("market_time_zone", required: false) ?? "Europe/Amsterdam"
            let zone = TimeZone(identifier: zoneName)
            if zone == nil { section.problem("market_time_zone", "\"\(zoneName)\" is not a known time zone") }
            var barred: Set<InternetDomain> = []
            for text in section.strings("barred_senders", required: false) ?? [] {
                do { barred.insert(try InternetDomain(validating: text)) } catch { section.problem("barred_senders", "\"\(text)\": \(error.problem)") }
            }
            let rate = section.int("rate_limit_per_s", in: 1...1_000_000, default: 500)
            let croMode = section.choice("cro_mode", CommonReference.Mode.allCases.map(\.rawValue), default: "closed")
                .flatMap(CommonReference.Mode.init(rawValue:))
            var croDomain: InternetDomain?
            if let text = section.string("cro_domain", required: false) {
                do { croDomain = try InternetDomain(validating: text) } catch { section.problem("cro_domain", error.problem) }
                if !roles.contains(.dso) { section.problem("cro_domain", "applies only with the DSO role") }
                if croDomain == domain && !roles.contains(.cro) { section.problem("cro_domain", "names this platform, which does not play the CRO role") }
            }
            section.rejectUnknownKeys()
            if let domain, !roles.isEmpty, let keyFile, participants != nil || discover, let ispMinutes, let zone, let rate, let croMode {
                uftp = UFTPParticipant(domain: domain, roles: roles, signingKeyFile: resolve(keyFile),
                                       participantsFile: participants.map(resolve), dnsDiscovery: dns, barredSenders: barred,
                                       ispMinutes: ispMinutes, marketTimeZone: zone,
                                       rateLimitPerSecond: rate, croMode: croMode, croDomain: croDomain)
            }
        }
        let marketSection = root.section("market", required: false)
        let market = MarketConfig.load(marketSection, resolve: resolve)
        // Without a [market] section its default time zone can only be missing from the system.
        if market == nil, marketSection == nil { root.problem("market.time_zone", "the default Europe/Amsterdam is not a known time zone (install tzdata)") }
        // The market's entries over UFTP are numbered in UFTP's ISPs and Periods: the two must agree.
        if let uftp, let market, !(market.uftpAggregators + market.uftpDSOs).isEmpty,
           uftp.marketTimeZone.identifier != market.calendar.timeZone.identifier || uftp.ispMinutes != market.calendar.ispMinutes {
            marketSection?.problem("time_zone", "the market's time zone and ISP (\(market.calendar.timeZone.identifier), \(market.calendar.ispMinutes) min) must be [uftp]'s (\(uftp.marketTimeZone.identifier), \(uftp.ispMinutes) min)")
        }
        for (key, domains, role) in [("uftp_aggregators", market?.uftpAggregators ?? [], USEFRole.dso),
                                     ("uftp_dsos", market?.uftpDSOs ?? [], USEFRole.agr)] where !domains.isEmpty {
            if uftp?.roles.contains(role) != true { marketSection?.problem(key, "needs [uftp] with the \(role.rawValue) role") }
            for domain in domains where (try? InternetDomain(validating: domain)) == nil {
                marketSection?.problem(key, "\"\(domain)\" is not an internet domain")
            }
        }
        var clock: SimulatedClock?
        if let section = root.section("clock", required: false) {
            func instant(_ key: String, required: Bool) -> Timestamp? {
                guard let text = section.string(key, required: required) else { return nil }
                guard let value = Timestamp(rfc3339: text) else {
                    section.problem(key, "must be an RFC 3339 time such as 2026-11-25T22:15:00Z, not \"\(text)\"")
                    return nil
                }
                return value
            }
            let start = instant("start", required: true)
            let realStart = instant("real_start", required: false) ?? Timestamp.realNow()
            let speed = section.int("speed", in: 1...3600, default: 1)
            section.rejectUnknownKeys()
            if let start, let speed { clock = SimulatedClock(start: start, realStart: realStart, speed: Double(speed)) }
        }
        root.rejectUnknownKeys()

        try issues.throwIfAny()
        return CoordinatorConfig(
            file: file, store: store!, retentionDays: retentionDays!,
            mqtt: MQTT(broker: broker!, topicPrefix: prefix, shareGroup: group!, clientID: clientID),
            listenHost: host!, listenPort: port!, maxRequestBytes: maxRequestBytes!, secureCookies: secureCookies,
            ingest: Ingest(certifyWithinSeconds: certifyWithin, intervalMs: intervalMs, maxPayloadBytes: maxPayload,
                           commitIntervalMs: commitMs),
            certification: Certification(signingKeyFile: keyFile, origin: origin, checkpointIntervalSeconds: checkpointInterval),
            uftp: uftp, market: market!, clock: clock)
    }
}
