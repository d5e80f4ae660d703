import ConfigFile
import Foundation
import GridCore
import MarketOperations
import ReadingsIngest
import UFTP
import UFTPGateway

/// The coordinator's configuration (TOML; keys in docs/configuration.md and DESIGN §6). Relative
/// paths are resolved against the configuration file's folder. Each section is read by the
/// module it configures; this type only gathers them and checks what spans two sections.
public struct CoordinatorConfig: Sendable {
    public enum StoreLocation: Sendable, Equatable {
        case sqlite(path: String)
        case postgres(url: String)
    }

    public let file: String
    public let store: StoreLocation
    public let retentionDays: Int
    public let mqtt: ReadingsSubscription
    public let listenHost: String
    public let listenPort: Int
    public let maxRequestBytes: Int
    /// The console's session cookie carries `Secure` (TLS terminated in front of the coordinator).
    public let secureCookies: Bool
    public let ingest: IngestSettings
    public let certification: CertificationSettings
    public let uftp: UFTPParticipant?
    public let market: MarketConfig
    /// `[clock]`: a simulated wall clock (demonstrations, training), nil for the real one.
    public let clock: SimulatedClock?

    public static func load(file: String) throws(ConfigError) -> CoordinatorConfig {
        let issues = ConfigIssues()
        guard let root = ConfigSection.load(file: file, issues: issues) else { throw ConfigError(issues: issues.list) }
        let resolve = root.resolvePath
        let scd = root.section("scd")
        let store = scd.flatMap { storeLocation($0, resolve: resolve) }
        let retentionDays = scd?.int("retention_days", in: 1...3650, default: 35)
        scd?.rejectUnknownKeys()
        let mqtt = ReadingsSubscription.load(root.section("mqtt"), resolve: resolve)
        let http = root.section("http").flatMap(HTTPSettings.load)
        let ingest = IngestSettings.load(root.section("ingest", required: false))
        let certification = CertificationSettings.load(root.section("certification", required: false), resolve: resolve)
        let uftp = root.section("uftp", required: false).flatMap { UFTPParticipant.load($0, resolve: resolve) }
        let marketSection = root.section("market", required: false)
        let market = MarketConfig.load(marketSection, resolve: resolve)
        // Without a [market] section its default time zone can only be missing from the system.
        if market == nil, marketSection == nil { root.problem("market.time_zone", "the default Europe/Amsterdam is not a known time zone (install tzdata)") }
        if let market, let marketSection { check(market, against: uftp, in: marketSection) }
        let clock = root.section("clock", required: false).flatMap(simulatedClock)
        root.rejectUnknownKeys()

        try issues.throwIfAny()
        return CoordinatorConfig(
            file: file, store: store!, retentionDays: retentionDays!, mqtt: mqtt!,
            listenHost: http!.host, listenPort: http!.port, maxRequestBytes: http!.maxRequestBytes, secureCookies: http!.secureCookies,
            ingest: ingest, certification: certification, uftp: uftp, market: market!, clock: clock)
    }

    /// `[scd] url`: a SQLite file or a PostgreSQL server.
    private static func storeLocation(_ scd: ConfigSection, resolve: (String) -> String) -> StoreLocation? {
        guard let url = scd.string("url") else { return nil }
        if url.hasPrefix("sqlite://") {
            let path = String(url.dropFirst("sqlite://".count))
            if path.isEmpty { scd.problem("url", "sqlite:// needs a file path") } else { return .sqlite(path: resolve(path)) }
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            return .postgres(url: url)
        } else {
            scd.problem("url", "must start with sqlite:// or postgres://")
        }
        return nil
    }

    /// `[http]`: where the API, console and UFTP endpoint listen.
    private struct HTTPSettings {
        let host: String
        let port: Int
        let maxRequestBytes: Int
        let secureCookies: Bool

        static func load(_ http: ConfigSection) -> HTTPSettings? {
            var host: String?
            var port: Int?
            if let listen = http.string("listen") {
                if let colon = listen.lastIndex(of: ":"), let value = Int(listen[listen.index(after: colon)...]),
                   (0...65535).contains(value), colon != listen.startIndex {
                    host = String(listen[..<colon])
                    port = value
                } else {
                    http.problem("listen", "must be HOST:PORT, not \"\(listen)\"")
                }
            }
            let maxRequestBytes = http.int("max_request_bytes", in: 1024...(64 << 20), default: 1 << 20)
            let secureCookies = http.bool("secure_cookies", default: false) ?? false
            http.rejectUnknownKeys()
            guard let host, let port, let maxRequestBytes else { return nil }
            return HTTPSettings(host: host, port: port, maxRequestBytes: maxRequestBytes, secureCookies: secureCookies)
        }
    }

    /// What `[market]` asks of `[uftp]`: the market's entries over UFTP are numbered in UFTP's
    /// ISPs and Periods, so the two must agree, and each UFTP counterparty needs its role.
    private static func check(_ market: MarketConfig, against uftp: UFTPParticipant?, in section: ConfigSection) {
        if let uftp, !(market.uftpAggregators + market.uftpDSOs).isEmpty,
           uftp.marketTimeZone.identifier != market.calendar.timeZone.identifier || uftp.ispMinutes != market.calendar.ispMinutes {
            section.problem("time_zone", "the market's time zone and ISP (\(market.calendar.timeZone.identifier), \(market.calendar.ispMinutes) min) must be [uftp]'s (\(uftp.marketTimeZone.identifier), \(uftp.ispMinutes) min)")
        }
        for (key, domains, role) in [("uftp_aggregators", market.uftpAggregators, USEFRole.dso),
                                     ("uftp_dsos", market.uftpDSOs, USEFRole.agr)] where !domains.isEmpty {
            if uftp?.roles.contains(role) != true { section.problem(key, "needs [uftp] with the \(role.rawValue) role") }
            for domain in domains where (try? InternetDomain(validating: domain)) == nil {
                section.problem(key, "\"\(domain)\" is not an internet domain")
            }
        }
    }

    /// `[clock]`: a simulated wall clock.
    private static func simulatedClock(_ section: ConfigSection) -> SimulatedClock? {
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
        guard let start, let speed else { return nil }
        return SimulatedClock(start: start, realStart: realStart, speed: Double(speed))
    }
}
