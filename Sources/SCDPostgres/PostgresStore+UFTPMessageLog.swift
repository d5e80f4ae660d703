import Certification
import Foundation
import GridCore
import Ledger
import Logging
import NIOCore
import NIOSSL
import PostgresNIO
import SCD
import Sodium

// UFTP message log
extension PostgresStore {
    public func addUFTPMessage(_ message: UFTPMessageRecord) async throws -> Int64 {
        try await transaction { db in try await Self.insert(message, into: db, logger: self.logger) }
    }

    static func insert(_ message: UFTPMessageRecord, into db: PostgresConnection, logger: Logger) async throws -> Int64 {
        let rows = try await db.query("""
            INSERT INTO uftp_messages(direction, type, message_id, conversation_id, sender_domain, sender_role,
              recipient_domain, t, signed, payload)
            VALUES (\(message.direction.rawValue), \(message.type), \(message.messageID), \(message.conversationID),
              \(message.senderDomain), \(message.senderRole), \(message.recipientDomain), \(message.time.millisecondsSince1970),
              \(ByteBuffer(bytes: message.signed)), \(ByteBuffer(bytes: message.payload)))
            RETURNING id
            """, logger: logger)
        for try await id in rows.decode(Int64.self) { return id }
        throw SCDError("storing a UFTP message returned no id")
    }

    public func recordUFTPRevision(sender: String, type: String, scope: String, revision: Int64) async throws -> Int64? {
        try await transaction { db in
            let taken = try await db.query("""
                INSERT INTO uftp_revisions(sender_domain, type, scope, revision) VALUES (\(sender), \(type), \(scope), \(revision))
                ON CONFLICT (sender_domain, type, scope) DO UPDATE SET revision = excluded.revision
                  WHERE excluded.revision >= uftp_revisions.revision
                RETURNING revision
                """, logger: self.logger)
            for try await _ in taken.decode(Int64.self) { return nil }
            let higher = try await db.query("""
                SELECT revision FROM uftp_revisions WHERE sender_domain = \(sender) AND type = \(type) AND scope = \(scope)
                """, logger: self.logger)
            for try await revision in higher.decode(Int64.self) { return revision }
            return nil
        }
    }

    public func uftpMessages(_ request: UFTPMessageQuery) async throws -> [UFTPMessageRecord] {
        let (conditions, values) = request.conditions { "$\($0)" }
        var binds = PostgresBindings(capacity: values.count + 2)
        for value in values { binds.append(value) }
        binds.append(request.after ?? 0)
        binds.append(Int64(request.limit))
        let rows = try await query(PostgresQuery(unsafeSQL: """
            SELECT m.id, m.direction, m.type, m.message_id, m.conversation_id, m.sender_domain, m.sender_role,
              m.recipient_domain, m.t, m.signed, m.payload, o.state, o.attempts, o.next_attempt, o.problem
            FROM uftp_messages m LEFT JOIN uftp_outbox o ON o.message = m.id
            WHERE \(conditions)m.id > $\(values.count + 1) ORDER BY m.id LIMIT $\(values.count + 2)
            """, binds: binds), logger: logger)
        var messages: [UFTPMessageRecord] = []
        typealias Row = (Int64, String, String, String, String, String, String, String, Int64, ByteBuffer, ByteBuffer,
                         String?, Int32?, Int64?, String?)
        for try await row in rows.decode(Row.self) {
            let delivery = row.11.flatMap(UFTPDeliveryStatus.State.init(rawValue:)).map { state in
                UFTPDeliveryStatus(state: state, attempts: Int(row.12 ?? 0),
                                   nextAttempt: Timestamp(millisecondsSince1970: row.13 ?? 0), problem: row.14)
            }
            messages.append(UFTPMessageRecord(
                id: row.0, direction: UFTPMessageRecord.Direction(rawValue: row.1) ?? .inbound, type: row.2, messageID: row.3,
                conversationID: row.4, senderDomain: row.5, senderRole: row.6, recipientDomain: row.7,
                time: Timestamp(millisecondsSince1970: row.8), signed: row.9.bytes, payload: row.10.bytes, delivery: delivery))
        }
        return messages
    }

    public func queueUFTPMessage(_ message: UFTPMessageRecord, endpoint: String) async throws -> Int64 {
        try await transaction { db in
            let id = try await Self.insert(message, into: db, logger: self.logger)
            try await db.query("""
                INSERT INTO uftp_outbox(message, endpoint, state, attempts, next_attempt)
                VALUES (\(id), \(endpoint), 'pending', 0, \(message.time.millisecondsSince1970))
                """, logger: self.logger)
            return id
        }
    }

    public func claimUFTPDeliveries(now: Timestamp, leaseMs: Int64, limit: Int) async throws -> [UFTPDelivery] {
        // The first due message of each endpoint (UFTPOutbox.claim); SKIP LOCKED: instances
        // claiming at once take different messages.
        let rows = try await query("""
            WITH RECURSIVE \(unescaped: SCDSchema.pendingEndpoints)
            UPDATE uftp_outbox o SET next_attempt = \(now.millisecondsSince1970 + leaseMs) FROM uftp_messages m
            WHERE m.id = o.message AND o.message IN (
              SELECT message FROM uftp_outbox WHERE message IN (\(unescaped: SCDSchema.firstDue(String(now.millisecondsSince1970))))
              ORDER BY next_attempt LIMIT \(Int64(limit)) FOR UPDATE SKIP LOCKED)
            RETURNING o.message, o.endpoint, o.attempts, m.signed, m.t, m.type, m.message_id
            """, logger: logger)
        var claimed: [UFTPDelivery] = []
        for try await row in rows.decode((Int64, String, Int32, ByteBuffer, Int64, String, String).self) {
            claimed.append(UFTPDelivery(message: row.0, endpoint: row.1, signed: row.3.bytes, attempts: Int(row.2),
                                        queued: Timestamp(millisecondsSince1970: row.4), type: row.5, messageID: row.6))
        }
        return claimed.sorted { $0.message < $1.message }
    }

    public func recordUFTPDelivery(message: Int64, _ status: UFTPDeliveryStatus) async throws {
        try await query("""
            UPDATE uftp_outbox SET state = \(status.state.rawValue), attempts = \(Int32(status.attempts)),
              next_attempt = \(status.nextAttempt.millisecondsSince1970), problem = \(status.problem)
            WHERE message = \(message)
            """, logger: logger)
    }
}
