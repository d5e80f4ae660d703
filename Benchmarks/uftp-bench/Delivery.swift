// Delivery of queued messages: MESSAGES queued in the SCD (SQLite) to ENDPOINTS endpoints of a
// local receiver (Hummingbird) that answers 200 after LATENCY ms, sent by the coordinator's
// UFTPSender over the SCD's outbox; delivered messages per second until the queue is empty.
// Run: swift run -c release uftp-bench deliver [MESSAGES] [ENDPOINTS] [LATENCY_MS]
import Foundation
import GridCore
import Hummingbird
import Logging
import SCD
import SCDSQLite
import TestSupport
import UFTPTransport

/// The outbox over the SCD's delivery queue, as the coordinator's (Coordinator/UFTPExchange.swift),
/// counting what it records as delivered.
final class CountingOutbox: UFTPOutbox, @unchecked Sendable {
    let store: any SCDStore
    private let lock = NSLock()
    private var delivered = 0

    init(store: any SCDStore) { self.store = store }

    var deliveredCount: Int { lock.withLock { delivered } }

    func claim(now: Timestamp, leaseMs: Int64, limit: Int) async throws -> [OutgoingMessage] {
        try await store.claimUFTPDeliveries(now: now, leaseMs: leaseMs, limit: limit).map {
            OutgoingMessage(id: $0.message, endpoint: $0.endpoint, document: $0.signed, attempts: $0.attempts, queued: $0.queued,
                            label: "\($0.type) \($0.messageID)")
        }
    }

    func record(_ message: OutgoingMessage, attempts: Int, outcome: DeliveryOutcome) async throws {
        let status: UFTPDeliveryStatus
        switch outcome {
        case .delivered:
            status = UFTPDeliveryStatus(state: .delivered, attempts: attempts, nextAttempt: .now())
            lock.withLock { delivered += 1 }
        case .retry(let at, let problem): status = UFTPDeliveryStatus(state: .pending, attempts: attempts, nextAttempt: at, problem: problem)
        case .failed(let problem): status = UFTPDeliveryStatus(state: .failed, attempts: attempts, nextAttempt: .now(), problem: problem)
        }
        try await store.recordUFTPDelivery(message: message.id, status)
    }
}

func deliveryBenchmark(messages: Int, endpoints: Int, latencyMs: Int) async throws {
    let port = FreePort.allocate()
    let router = Router()
    router.post("/shapeshifter/api/v3/message/:endpoint") { _, _ -> HTTPResponse.Status in
        if latencyMs > 0 { try await Task.sleep(for: .milliseconds(latencyMs)) }
        return .ok
    }
    var quiet = Logger(label: "uftp-bench")
    quiet.logLevel = .error
    let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: quiet)
    let serving = Task { try await receiver.runService() }
    defer { serving.cancel() }
    try await Task.sleep(for: .milliseconds(500))

    let folder = TemporaryDirectory("uftp-bench")
    let store = try SQLiteStore(path: folder.file("scd.sqlite"))
    let document = Array(String(repeating: "x", count: 2_000).utf8)
    for n in 0..<messages {
        _ = try await store.queueUFTPMessage(UFTPMessageRecord(
            direction: .outbound, type: "FlexOrderResponse", messageID: "m-\(n)", conversationID: "c-\(n)", senderDomain: "dso.example.com",
            senderRole: "DSO", recipientDomain: "agr.example.com", time: .now(), signed: document, payload: document),
            endpoint: "http://127.0.0.1:\(port)/shapeshifter/api/v3/message/\(n % endpoints)")
    }
    let outbox = CountingOutbox(store: store)
    let sender = UFTPSender(outbox: outbox, logger: quiet)
    let start = MonotonicClock.nanoseconds()
    let sending = Task { try await sender.run() }
    while outbox.deliveredCount < messages { try await Task.sleep(for: .milliseconds(5)) }
    let seconds = Double(MonotonicClock.nanoseconds() - start) / 1e9
    sending.cancel()
    _ = try? await sending.value
    print(String(format: "deliver %d messages to %d endpoint(s), receiver latency %d ms: %.2f s, %.0f messages/s",
                 messages, endpoints, latencyMs, seconds, Double(messages) / seconds))
}
