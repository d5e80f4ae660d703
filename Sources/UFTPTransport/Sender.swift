import AsyncHTTPClient
import Foundation
import GridCore
import Logging
import UFTP
import NIOCore
import ServiceLifecycle

/// An outgoing SignedMessage due for an attempt.
public struct OutgoingMessage: Sendable {
    public var id: Int64
    public var endpoint: String
    public var document: [UInt8]
    /// Attempts made before this one.
    public var attempts: Int
    public var queued: Timestamp
    /// For the log: type and MessageID.
    public var label: String

    public init(id: Int64, endpoint: String, document: [UInt8], attempts: Int, queued: Timestamp, label: String) {
        self.id = id
        self.endpoint = endpoint
        self.document = document
        self.attempts = attempts
        self.queued = queued
        self.label = label
    }
}

/// The durable queue the sender works from; the coordinator keeps it in the SCD, so a restart
/// (of this side or the receiver) loses no outgoing message.
public protocol UFTPOutbox: Sendable {
    /// Messages due at `now`, each claimed for `leaseMs` (another sender, or this one after a
    /// crash, attempts it again only once the claim runs out): for each endpoint with messages
    /// due, the one queued first. So an endpoint gets one message at a time, in the order
    /// queued (a conversation's messages arrive in order, and receivers that take one message at
    /// a time, such as the reference implementation, which refuses some that arrive together, are
    /// served), while a message waiting to be retried holds up none queued after it.
    func claim(now: Timestamp, leaseMs: Int64, limit: Int) async throws -> [OutgoingMessage]
    func record(_ message: OutgoingMessage, attempts: Int, outcome: DeliveryOutcome) async throws
}

/// What an attempt came to.
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    case retry(at: Timestamp, problem: String)
    case failed(problem: String)
}

/// UFTP's delivery rules (Appendix 4 §6.4): only 200 (any 2xx here) succeeds and only an
/// unambiguous 4xx fails for good; 404, 408, 419, 429, 5xx, other statuses, timeouts and resets
/// are retried with exponential back-off, for a day (the specification asks for at least an hour).
public struct DeliveryPolicy: Sendable {
    public var firstDelayMs: Int64 = 1_000
    public var maximumDelayMs: Int64 = 15 * 60_000
    public var giveUpAfterMs: Int64 = 24 * 3_600_000

    public init() {}

    /// Whether a status ends the delivery: true for success and for a final refusal.
    public static func isFinal(status: Int) -> Bool {
        switch status {
        case 200..<300: true
        case 404, 408, 419, 425, 429: false
        case 400..<500: true
        default: false
        }
    }

    /// The outcome of attempt number `attempts` (1 for the first) of `message`.
    public func outcome(status: Int?, problem: String, attempts: Int, queued: Timestamp, now: Timestamp) -> DeliveryOutcome {
        if let status, (200..<300).contains(status) { return .delivered }
        if let status, Self.isFinal(status: status) { return .failed(problem: problem) }
        let delay = min(maximumDelayMs, firstDelayMs << Int64(min(attempts - 1, 30)))
        let next = now.adding(milliseconds: delay)
        guard next.millisecondsSince1970 - queued.millisecondsSince1970 <= giveUpAfterMs else {
            return .failed(problem: "no success within \(giveUpAfterMs / 3_600_000) h; last: \(problem)")
        }
        return .retry(at: next, problem: problem)
    }
}

/// Posts queued messages to their endpoints (AsyncHTTPClient: `text/xml; charset=utf-8`,
/// Content-Length, redirects followed), a few endpoints at a time, as they fall due.
public final class UFTPSender: Service {
    let outbox: any UFTPOutbox
    let policy: DeliveryPolicy
    /// Where endpoints queued for discovery (`PendingEndpoint`) are looked up.
    let directory: (any ParticipantDirectory)?
    let logger: Logger
    let client: HTTPClient
    /// Messages claimed and attempted at once.
    static let concurrency = 8
    static let connectTimeout: TimeAmount = .seconds(10)
    static let requestTimeout: TimeAmount = .seconds(30)
    /// A claim outlasts one attempt (connect, then the request) with room to record its outcome;
    /// only what is attempted right away is claimed, so no claim lapses while it waits its turn.
    static let leaseMs = (connectTimeout + requestTimeout).nanoseconds / 1_000_000 + 30_000

    public init(outbox: any UFTPOutbox, policy: DeliveryPolicy = DeliveryPolicy(), directory: (any ParticipantDirectory)? = nil,
                logger: Logger) {
        self.outbox = outbox
        self.policy = policy
        self.directory = directory
        self.logger = logger
        var configuration = HTTPClient.Configuration(redirectConfiguration: .follow(max: 5, allowCycles: false),
                                                     timeout: .init(connect: Self.connectTimeout, read: Self.requestTimeout))
        configuration.decompression = .disabled
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let due: [OutgoingMessage]
            do {
                due = try await outbox.claim(now: .now(), leaseMs: Self.leaseMs, limit: Self.concurrency)
            } catch {
                logger.error("uftp: reading the outgoing queue failed: \(error)")
                due = []
            }
            await withTaskGroup(of: Void.self) { group in
                for message in due { group.addTask { await self.attempt(message) } }
            }
            if due.isEmpty { try? await Task.sleep(for: .milliseconds(500)) }
        }
        try await client.shutdown()
    }

    /// One attempt, its outcome recorded.
    func attempt(_ message: OutgoingMessage) async {
        let (status, problem) = await post(message)
        let attempts = message.attempts + 1
        let outcome = policy.outcome(status: status, problem: problem, attempts: attempts, queued: message.queued, now: .now())
        switch outcome {
        case .delivered: logger.info("uftp: delivered \(message.label) to \(message.endpoint)")
        case .retry(let at, let problem): logger.warning("uftp: \(message.label) to \(message.endpoint): \(problem); attempt \(attempts + 1) at \(at.rfc3339)")
        case .failed(let problem): logger.error("uftp: giving up \(message.label) to \(message.endpoint): \(problem)")
        }
        do {
            try await outbox.record(message, attempts: attempts, outcome: outcome)
        } catch {
            logger.error("uftp: recording the delivery of \(message.label) failed: \(error)")
        }
    }

    /// The status, or nil when no answer came (refused, reset, timed out), and what went wrong.
    func post(_ message: OutgoingMessage) async -> (status: Int?, problem: String) {
        var endpoint = message.endpoint
        if let (domain, role) = PendingEndpoint.parse(endpoint) {
            // No answer either way: a temporary failure, tried again with the back-off.
            do {
                guard let found = try await directory?.participant(domain: domain, role: role) else {
                    return (nil, "\(domain.text) as \(role.rawValue) is not known")
                }
                endpoint = found.endpoint
            } catch {
                return (nil, "discovery: \(error)")
            }
        }
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "text/xml; charset=utf-8")
        request.body = .bytes(ByteBuffer(bytes: message.document))
        do {
            let response = try await client.execute(request, timeout: Self.requestTimeout)
            let body = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
            let status = Int(response.status.code)
            return (status, "HTTP \(status)\(body.isEmpty ? "" : ": " + body.trimmingCharacters(in: .whitespacesAndNewlines))")
        } catch {
            return (nil, "\(error)")
        }
    }
}
