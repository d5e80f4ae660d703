import Foundation
import GridCore
import SCD
import Sodium
import UFTPGateway

/// A notification owed to `[market] notify_url` (docs/market.md, "Notifications"): kept until
/// delivered, POSTed with a signature the receiver checks with the set-point key's public half,
/// retried with back-off for a day.
package struct MarketNotification: Codable, Sendable, MarketRecord {
    package var id: String
    /// The market day it was raised on (the market's calendar).
    package var day: String
    package var event: String
    /// The JSON POSTed, exactly: `{"id":…,"event":…,"t":…,"data":…}`.
    package var body: String
    package var created: Int64
    package var attempts: Int
    package var nextAttempt: Int64
    package var delivered: Int64?
    var lastError: String?
    /// Given up: not delivered within `deliveryWindowMs`.
    package var failed: Bool

    enum CodingKeys: String, CodingKey {
        case id, day, event, body, created, attempts, nextAttempt = "next_attempt", delivered, lastError = "last_error", failed
    }

    package static var kind: MarketDocument.Kind { .notification }
    package var recordID: String { id }
}

extension Marketplace {
    /// Retries after 1 s, doubling to an hour; a notification not delivered within a day is given up.
    static let deliveryWindowMs: Int64 = 86_400_000

    /// Raises an event: owed to `notify_url` when one is configured, kept until delivered.
    package func notify(event: String, _ value: some Encodable) async {
        guard let url = config.notifyURL, let data = try? MarketJSON.encode(value) else { return }
        let now = clock(), id = UUID().uuidString.lowercased()
        var body = JSONObjectWriter()
        body.string("id", id)
        body.string("event", event)
        body.string("t", now.rfc3339)
        var text = String(decoding: body.finish().dropLast(), as: UTF8.self)
        text += #","data":"# + String(decoding: data, as: UTF8.self) + "}"
        let notification = MarketNotification(id: id, day: calendar.day(of: now), event: event, body: text, created: now.millisecondsSince1970,
                                              attempts: 0, nextAttempt: now.millisecondsSince1970, failed: false)
        owed[id] = notification
        do { try await store.put(notification, replace: true) } catch { logger.error("market: notification \(id) to \(url) not kept: \(error)") }
    }

    /// The POST's headers: `Signature: t=<ms>,ed25519=<base64>`, the set-point key's signature of
    /// `<ms>.<body>` (the time in it bounds a replay).
    func signatureHeader(_ notification: MarketNotification, at now: Timestamp) -> (name: String, value: String) {
        let stamp = "\(now.millisecondsSince1970)"
        let signature = setPointKey.sign(Array((stamp + "." + notification.body).utf8))
        return ("Signature", "t=\(stamp),ed25519=\(Base64.encode(signature.bytes))")
    }

    /// Delivers what is due to `notify_url`, one at a time in the order raised.
    func deliverNotifications(now: Timestamp) async {
        if !loadedOwed {
            let today = calendar.day(of: now)
            let days = (calendar.day(after: today, by: -1) ?? today)...today
            for notification in (try? await store.records(MarketNotification.self, days: days)) ?? []
            where notification.delivered == nil && !notification.failed {
                owed[notification.id] = notification
            }
            loadedOwed = true
        }
        guard let url = config.notifyURL else { return }
        let nowMs = now.millisecondsSince1970
        for id in owed.values.filter({ $0.nextAttempt <= nowMs }).sorted(by: { ($0.created, $0.id) < ($1.created, $1.id) }).map(\.id) {
            guard var notification = owed[id] else { continue }
            let header = signatureHeader(notification, at: now)
            notification.attempts += 1
            do {
                let status = try await outlets.post(url, Array(notification.body.utf8), [header])
                if (200..<300).contains(status) {
                    notification.delivered = nowMs
                    notification.lastError = nil
                } else {
                    notification.lastError = "\(url) answered \(status)"
                }
            } catch {
                notification.lastError = "\(url): \(error)"
            }
            if notification.delivered == nil {
                notification.nextAttempt = nowMs + min(3_600_000, 1000 << min(notification.attempts - 1, 12))
                notification.failed = nowMs - notification.created >= Self.deliveryWindowMs
                logger.warning("market notification \(notification.event) \(id): \(notification.lastError ?? "")\(notification.failed ? "; given up" : "")")
            }
            owed[id] = notification.delivered == nil && !notification.failed ? notification : nil
            do { try await store.put(notification, replace: true) } catch { logger.error("market: notification \(id) not recorded: \(error)") }
        }
    }

    /// The notifications raised on `day`, oldest first.
    package func notifications(day: String) async throws -> [MarketNotification] {
        try await store.records(MarketNotification.self, days: day...day).sorted { ($0.created, $0.id) < ($1.created, $1.id) }
    }
}
