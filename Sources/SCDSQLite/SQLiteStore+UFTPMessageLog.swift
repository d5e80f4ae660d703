import Foundation
import Certification
import GridCore
import Ledger
import Sodium
import SQLite
import SCD
import Synchronization

// UFTP message log
extension SQLiteStore {
    public func addUFTPMessage(_ message: UFTPMessageRecord) async throws -> Int64 {
        try await writer.run { db in try Self.insert(message, into: db) }
    }

    static func insert(_ message: UFTPMessageRecord, into db: Connection) throws -> Int64 {
        try db.prepare("""
            INSERT INTO uftp_messages(direction, type, message_id, conversation_id, sender_domain, sender_role,
              recipient_domain, t, signed, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).bind(1, message.direction.rawValue).bind(2, message.type).bind(3, message.messageID)
            .bind(4, message.conversationID).bind(5, message.senderDomain).bind(6, message.senderRole)
            .bind(7, message.recipientDomain).bind(8, message.time.millisecondsSince1970)
            .bind(9, blob: message.signed).bind(10, blob: message.payload).run()
        return db.lastInsertRowID
    }

    public func recordUFTPRevision(sender: String, type: String, scope: String, revision: Int64) async throws -> Int64? {
        try await writer.run { db in
            let taken = try db.prepare("""
                INSERT INTO uftp_revisions(sender_domain, type, scope, revision) VALUES (?, ?, ?, ?)
                ON CONFLICT (sender_domain, type, scope) DO UPDATE SET revision = excluded.revision
                  WHERE excluded.revision >= uftp_revisions.revision
                RETURNING revision
                """).bind(1, sender).bind(2, type).bind(3, scope).bind(4, revision).step()
            if taken { return nil }
            let higher = try db.prepare("SELECT revision FROM uftp_revisions WHERE sender_domain = ? AND type = ? AND scope = ?")
                .bind(1, sender).bind(2, type).bind(3, scope)
            return try higher.step() ? higher.int64(0) : nil
        }
    }

    public func uftpMessages(_ request: UFTPMessageQuery) async throws -> [UFTPMessageRecord] {
        try await reader.run { db in
            let (conditions, values) = request.conditions { "?\($0)" }
            let query = try db.prepare("""
                SELECT m.id, m.direction, m.type, m.message_id, m.conversation_id, m.sender_domain, m.sender_role,
                  m.recipient_domain, m.t, m.signed, m.payload, o.state, o.attempts, o.next_attempt, o.problem
                FROM uftp_messages m LEFT JOIN uftp_outbox o ON o.message = m.id
                WHERE \(conditions)m.id > ?\(values.count + 1) ORDER BY m.id LIMIT ?\(values.count + 2)
                """)
            for (index, value) in values.enumerated() { query.bind(Int32(index + 1), value) }
            query.bind(Int32(values.count + 1), request.after ?? 0).bind(Int32(values.count + 2), Int64(request.limit))
            var messages: [UFTPMessageRecord] = []
            while try query.step() {
                let delivery = query.optionalText(11).flatMap(UFTPDeliveryStatus.State.init(rawValue:)).map { state in
                    UFTPDeliveryStatus(state: state, attempts: Int(query.int64(12)),
                                       nextAttempt: Timestamp(millisecondsSince1970: query.int64(13)), problem: query.optionalText(14))
                }
                messages.append(UFTPMessageRecord(
                    id: query.int64(0), direction: UFTPMessageRecord.Direction(rawValue: query.text(1)) ?? .inbound,
                    type: query.text(2), messageID: query.text(3), conversationID: query.text(4),
                    senderDomain: query.text(5), senderRole: query.text(6), recipientDomain: query.text(7),
                    time: Timestamp(millisecondsSince1970: query.int64(8)), signed: query.blob(9), payload: query.blob(10),
                    delivery: delivery))
            }
            return messages
        }
    }

    public func queueUFTPMessage(_ message: UFTPMessageRecord, endpoint: String) async throws -> Int64 {
        try await writer.run { db in
            try db.transaction {
                let id = try Self.insert(message, into: db)
                try db.prepare("INSERT INTO uftp_outbox(message, endpoint, state, attempts, next_attempt) VALUES (?, ?, 'pending', 0, ?)")
                    .bind(1, id).bind(2, endpoint).bind(3, message.time.millisecondsSince1970).run()
                return id
            }
        }
    }

    public func claimUFTPDeliveries(now: Timestamp, leaseMs: Int64, limit: Int) async throws -> [UFTPDelivery] {
        try await writer.run { db in
            try db.transaction {
                let due = try db.prepare("""
                    WITH RECURSIVE \(SCDSchema.pendingEndpoints)
                    SELECT o.message, o.endpoint, o.attempts, m.signed, m.t, m.type, m.message_id
                    FROM uftp_outbox o JOIN uftp_messages m ON m.id = o.message
                    WHERE o.message IN (\(SCDSchema.firstDue("?")))
                    ORDER BY o.next_attempt LIMIT ?
                    """).bind(1, now.millisecondsSince1970).bind(2, Int64(limit))
                var claimed: [UFTPDelivery] = []
                while try due.step() {
                    claimed.append(UFTPDelivery(message: due.int64(0), endpoint: due.text(1), signed: due.blob(3), attempts: Int(due.int64(2)),
                                                queued: Timestamp(millisecondsSince1970: due.int64(4)), type: due.text(5), messageID: due.text(6)))
                }
                let lease = try db.prepare("UPDATE uftp_outbox SET next_attempt = ? WHERE message = ?")
                for delivery in claimed {
                    try lease.bind(1, now.millisecondsSince1970 + leaseMs).bind(2, delivery.message).run()
                }
                return claimed
            }
        }
    }

    public func recordUFTPDelivery(message: Int64, _ status: UFTPDeliveryStatus) async throws {
        try await writer.run { db in
            try db.prepare("UPDATE uftp_outbox SET state = ?, attempts = ?, next_attempt = ?, problem = ? WHERE message = ?")
                .bind(1, status.state.rawValue).bind(2, Int64(status.attempts)).bind(3, status.nextAttempt.millisecondsSince1970)
                .bind(4, status.problem).bind(5, message).run()
        }
    }
}
