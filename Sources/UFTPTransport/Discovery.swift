import CResolv
import Dispatch
import Foundation
import GridCore
import Sodium
import Synchronization
import UFTP

/// UFTP service discovery in DNS (UFTP §6.2): for a participant's domain and role,
///
///     _usef.<domain>                 TXT    the specification version, e.g. "3.1.0"
///     _<role>._usef.<domain>         TXT    one or two (during a rotation) public keys
///     _http._<role>._usef.<domain>   CNAME  the host of its endpoint
///
/// The endpoint is `https://<host>/shapeshifter/api/v<major>/message` (the template can say
/// otherwise, for a test or a proxy). The specification requires DNSSEC: by default an answer
/// the resolver has not validated (no AD bit) is not used. Answers are kept for their TTL (at
/// least a minute, at most an hour); a failed lookup is a temporary failure (the receiver
/// answers 419, the sender tries again) and is kept for half a minute, so that unsigned
/// messages naming new domains cannot make the platform query DNS without end; at most 16
/// lookups run at once, beyond that a lookup fails at once.
public final class DNSDiscovery: ParticipantDirectory {
    public struct Options: Sendable {
        /// A resolver to ask instead of /etc/resolv.conf's (IPv4 address and port).
        public var server: (host: String, port: Int)?
        public var requireDNSSEC: Bool
        /// `{host}` and `{major}` are replaced.
        public var endpointTemplate: String
        public var timeoutSeconds: Int

        public init(server: (host: String, port: Int)? = nil, requireDNSSEC: Bool = true,
                    endpointTemplate: String = "https://{host}/shapeshifter/api/v{major}/message", timeoutSeconds: Int = 2) {
            self.server = server
            self.requireDNSSEC = requireDNSSEC
            self.endpointTemplate = endpointTemplate
            self.timeoutSeconds = timeoutSeconds
        }
    }

    /// Why a participant could not be discovered.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let options: Options
    private let cache = Mutex<[String: (found: Result<Participant, Failure>, expires: UInt64)]>([:])
    private let running = Atomic<Int>(0)
    static let concurrentLookups = 16
    static let failureSeconds: UInt64 = 30
    /// Entries kept; past it, expired ones are dropped.
    static let cacheSize = 10_000
    /// DNS queries block: they run here, not on the cooperative pool.
    private let queue = DispatchQueue(label: "uftp.dns", attributes: .concurrent)

    public init(options: Options = Options()) {
        self.options = options
    }

    public func participant(domain: InternetDomain, role: USEFRole) async throws -> Participant? {
        let key = "\(role.rawValue) \(domain.text)"
        let now = MonotonicClock.nanoseconds()
        if let cached = cache.withLock({ $0[key] }), cached.expires > now { return try cached.found.get() }
        guard running.add(1, ordering: .relaxed).newValue <= Self.concurrentLookups else {
            running.subtract(1, ordering: .relaxed)
            throw Failure(description: "\(domain.text): too many lookups at once; try again")
        }
        defer { running.subtract(1, ordering: .relaxed) }
        let found: Result<(Participant, UInt32), Failure> = await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: Result { () throws(Failure) in try self.discover(domain: domain, role: role) }) }
        }
        let seconds = (try? found.get()).map { UInt64(min(max($0.1, 60), 3_600)) } ?? Self.failureSeconds
        cache.withLock { cache in
            if cache.count >= Self.cacheSize { cache = cache.filter { $0.value.expires > now } }
            cache[key] = (found.map(\.0), now + seconds * 1_000_000_000)
        }
        return try found.get().0
    }

    /// The three lookups, and the shortest TTL among their answers.
    func discover(domain: InternetDomain, role: USEFRole) throws(Failure) -> (Participant, UInt32) {
        let base = "_usef.\(domain.text)"
        let label = "_\(role.rawValue.lowercased()).\(base)"
        let version = try query(base, type: ns_t_txt)
        guard let text = version.texts.first, let major = text.split(separator: ".").first, Int(major) != nil else {
            throw Failure(description: "\(base) TXT does not name a version (\(version.texts))")
        }
        let keys = try query(label, type: ns_t_txt)
        let strings = keys.texts.joined(separator: " ").split(separator: " ").map(String.init)
        guard (1...2).contains(strings.count) else { throw Failure(description: "\(label) TXT must hold one or two keys, not \(strings.count)") }
        var publicKeys: [PublicKey] = []
        for string in strings {
            do { publicKeys.append(try PublicKey(parsing: string)) } catch { throw Failure(description: "\(label) TXT: \(error)") }
        }
        let http = try query("_http.\(label)", type: ns_t_cname)
        guard var host = http.names.first else { throw Failure(description: "_http.\(label) has no CNAME") }
        if host.hasSuffix(".") { host.removeLast() }
        // Spliced into a URL: a host name, nothing that could name a port, a path or a query.
        guard (try? InternetDomain(validating: host)) != nil else {
            throw Failure(description: "_http.\(label) CNAME \(host.prefix(80)) is not a host name")
        }
        let endpoint = options.endpointTemplate.replacingOccurrences(of: "{host}", with: host)
            .replacingOccurrences(of: "{major}", with: String(major))
        return (Participant(domain: domain, role: role, endpoint: endpoint, keys: publicKeys), min(version.ttl, keys.ttl, http.ttl))
    }

    /// The answer's TXT strings (each record's strings joined) and CNAME targets, of `name` only.
    struct Answer {
        var texts: [String] = []
        var names: [String] = []
        var ttl: UInt32 = .max
    }

    func query(_ name: String, type: ns_type) throws(Failure) -> Answer {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var error: Int32 = 0
        let length = buffer.withUnsafeMutableBufferPointer { answer in
            // No server: the system's resolvers.
            shim_dns_query(options.server?.host, Int32(options.server?.port ?? 0), name, Int32(type.rawValue),
                           options.requireDNSSEC ? 1 : 0, Int32(options.timeoutSeconds), answer.baseAddress, Int32(answer.count), &error)
        }
        guard length > 0 else {
            let why = switch error {
            case HOST_NOT_FOUND: "no such name"
            case NO_DATA: "no record of that type"
            case TRY_AGAIN: "no answer (server failure or timeout)"
            default: "the query failed (\(error))"
            }
            throw Failure(description: "\(name): \(why)")
        }
        // Over TCP glibc reports an answer's whole length even when it did not fit the buffer.
        guard Int(length) <= buffer.count else { throw Failure(description: "\(name): an answer of \(length) bytes, more than \(buffer.count)") }
        return try buffer.withUnsafeBufferPointer { bytes throws(Failure) in try Self.parse(bytes, count: Int(length), name: name, type: type,
                                                                                               requireDNSSEC: options.requireDNSSEC) }
    }

    /// libresolv's parser over the answer: the records of `type` owned by `name`.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>, count: Int, name: String, type: ns_type,
                      requireDNSSEC: Bool) throws(Failure) -> Answer {
        var message = ns_msg()
        guard ns_initparse(bytes.baseAddress, Int32(count), &message) == 0 else { throw Failure(description: "\(name): a malformed answer") }
        if requireDNSSEC && shim_dns_authenticated(&message) == 0 {
            throw Failure(description: "\(name): the answer is not DNSSEC-validated (the resolver did not set AD)")
        }
        var answer = Answer()
        for index in 0..<shim_dns_answers(&message) {
            var record = ns_rr()
            guard ns_parserr(&message, ns_s_an, index, &record) == 0 else { throw Failure(description: "\(name): a malformed record") }
            let owner = withUnsafeBytes(of: record.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard record.type == UInt16(type.rawValue), owner.lowercased() == name.lowercased(), let data = record.rdata else { continue }
            answer.ttl = min(answer.ttl, record.ttl)
            let rdata = UnsafeBufferPointer(start: data, count: Int(record.rdlength))
            if type == ns_t_txt {
                // <length><bytes>… : one record's strings make one text.
                var text = [UInt8](), at = 0
                while at < rdata.count {
                    let size = Int(rdata[at])
                    guard at + 1 + size <= rdata.count else { throw Failure(description: "\(name): a malformed TXT record") }
                    text += rdata[(at + 1)..<(at + 1 + size)]
                    at += 1 + size
                }
                answer.texts.append(String(decoding: text, as: UTF8.self))
            } else {
                var target = [CChar](repeating: 0, count: Int(NS_MAXDNAME))
                guard ns_name_uncompress(message._msg, message._eom, data, &target, target.count) >= 0 else {
                    throw Failure(description: "\(name): a malformed CNAME")
                }
                answer.names.append(String(decoding: target.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        guard !(type == ns_t_txt ? answer.texts.isEmpty : answer.names.isEmpty) else {
            throw Failure(description: "\(name): no record of that type")
        }
        return answer
    }
}

/// Directories asked in order, the first that knows the participant answering: the participants
/// file before DNS, so that a local entry overrides what DNS publishes.
public struct ParticipantDirectories: ParticipantDirectory {
    public let directories: [any ParticipantDirectory]

    public init(_ directories: [any ParticipantDirectory]) {
        self.directories = directories
    }

    public func participant(domain: InternetDomain, role: USEFRole) async throws -> Participant? {
        for directory in directories {
            if let found = try await directory.participant(domain: domain, role: role) { return found }
        }
        return nil
    }
}

/// The endpoint of a message queued before its recipient could be discovered (DNS did not answer):
/// `uftp-discover:<ROLE>/<domain>` in the queue. The sender looks it up before each attempt and
/// keeps trying, with its back-off, until it is found or the message expires (UFTP §6.2: a
/// message stays in discovery until its data is available).
public enum PendingEndpoint {
    static let scheme = "uftp-discover:"

    public static func make(domain: InternetDomain, role: USEFRole) -> String { "\(scheme)\(role.rawValue)/\(domain.text)" }

    public static func parse(_ endpoint: String) -> (domain: InternetDomain, role: USEFRole)? {
        guard endpoint.hasPrefix(scheme) else { return nil }
        let parts = endpoint.dropFirst(scheme.count).split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let role = USEFRole(rawValue: String(parts[0])),
              let domain = try? InternetDomain(validating: String(parts[1])) else { return nil }
        return (domain, role)
    }
}
