import ConfigFile
import Sodium

/// A UFTP participant in one of its roles: where its messages for that role are posted, and the
/// keys that sign what it sends (two while it rotates).
public struct Participant: Sendable, Equatable {
    public var domain: InternetDomain
    public var role: USEFRole
    /// The endpoint URL, e.g. `https://dso.example.com/shapeshifter/api/v3/message`.
    public var endpoint: String
    public var keys: [PublicKey]

    public init(domain: InternetDomain, role: USEFRole, endpoint: String, keys: [PublicKey]) {
        self.domain = domain
        self.role = role
        self.endpoint = endpoint
        self.keys = keys
    }
}

/// Finds a participant by domain and role: from a configuration file, or (in the transport) from
/// DNS. Nil means not known, which a receiver answers with 419 and a sender retries.
public protocol ParticipantDirectory: Sendable {
    func participant(domain: InternetDomain, role: USEFRole) async throws -> Participant?
}

/// `participants_file`: the participants of a deployment that does not use DNS discovery.
///
/// ```toml
/// [[participant]]
/// domain = "agr.example.com"
/// role = "AGR"
/// endpoint = "https://agr.example.com/shapeshifter/api/v3/message"
/// keys = ["cs1.…"]          # one, or two during a rotation; cs1. strings or base64
/// ```
public struct ParticipantsFile: ParticipantDirectory {
    public let participants: [Participant]

    /// Reads and checks the whole file; every problem is reported with its place.
    public init(path: String) throws(ConfigError) {
        let issues = ConfigIssues()
        var participants: [Participant] = []
        if let root = ConfigSection.load(file: path, issues: issues) {
            for section in root.sections("participant") {
                if let participant = Self.participant(section) {
                    if participants.contains(where: { $0.domain == participant.domain && $0.role == participant.role }) {
                        section.problem("domain", "\(participant.domain) is listed twice as \(participant.role.rawValue)")
                    }
                    participants.append(participant)
                }
                section.rejectUnknownKeys()
            }
            root.rejectUnknownKeys()
        }
        try issues.throwIfAny()
        self.participants = participants
    }

    public init(participants: [Participant]) {
        self.participants = participants
    }

    public func participant(domain: InternetDomain, role: USEFRole) -> Participant? {
        participants.first { $0.domain == domain && $0.role == role }
    }

    private static func participant(_ section: ConfigSection) -> Participant? {
        var domain: InternetDomain?
        if let text = section.string("domain") {
            do { domain = try InternetDomain(validating: text) } catch { section.problem("domain", error.problem) }
        }
        let role = section.choice("role", USEFRole.allCases.map(\.rawValue)).flatMap(USEFRole.init(rawValue:))
        var endpoint: String?
        if let text = section.string("endpoint") {
            if Self.isHTTPURL(text) { endpoint = text } else { section.problem("endpoint", "must be an http:// or https:// URL, not \"\(text)\"") }
        }
        var keys: [PublicKey] = []
        if let texts = section.strings("keys") {
            if !(1...2).contains(texts.count) { section.problem("keys", "must list one key, or two during a rotation") }
            for (index, text) in texts.enumerated() {
                do { keys.append(try PublicKey(parsing: text)) } catch { section.problem("keys[\(index)]", error.description) }
            }
        }
        guard let domain, let role, let endpoint, !keys.isEmpty else { return nil }
        return Participant(domain: domain, role: role, endpoint: endpoint, keys: keys)
    }

    /// `http(s)://host[:port][/path]` with a host.
    public static func isHTTPURL(_ text: String) -> Bool {
        for scheme in ["https://", "http://"] where text.hasPrefix(scheme) {
            let rest = text.dropFirst(scheme.count)
            let host = rest.prefix { $0 != "/" && $0 != ":" }
            return !host.isEmpty && !text.contains(where: \.isWhitespace)
        }
        return false
    }
}
