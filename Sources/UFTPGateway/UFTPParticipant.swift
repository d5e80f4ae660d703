import ConfigFile
import Foundation
import GridCore
import UFTP
import UFTPTransport

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

    /// The section read, or nil with its problems recorded.
    public static func load(_ section: ConfigSection, resolve: (String) -> String) -> UFTPParticipant? {
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
        guard let domain, !roles.isEmpty, let keyFile, participants != nil || discover, let ispMinutes, let zone, let rate, let croMode
        else { return nil }
        return UFTPParticipant(domain: domain, roles: roles, signingKeyFile: resolve(keyFile),
                               participantsFile: participants.map(resolve), dnsDiscovery: dns, barredSenders: barred,
                               ispMinutes: ispMinutes, marketTimeZone: zone,
                               rateLimitPerSecond: rate, croMode: croMode, croDomain: croDomain)
    }
}
