import Foundation
import Certification
import GridCore
import Ledger
import Sodium
import SQLite
import SCD
import Synchronization

// Registry
extension SQLiteStore {
    public func addNodes(_ nodes: [NodeRecord]) async throws {
        try await writer.run { db in
            try db.transaction {
                let pod = try db.prepare("INSERT OR IGNORE INTO pods(id) VALUES (?)")
                let node = try db.prepare("""
                    INSERT INTO nodes(id, pod, meter) VALUES (?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET pod = excluded.pod, meter = excluded.meter
                    """)
                let key = try db.prepare("""
                    INSERT INTO node_keys(node, key, added) SELECT ?, ?, coalesce(max(added), 0) + 1 FROM node_keys WHERE node = ?
                    ON CONFLICT(node, key) DO NOTHING
                    """)
                for record in nodes {
                    try pod.bind(1, record.pod).run()
                    try node.bind(1, record.id).bind(2, record.pod).bind(3, record.meter).run()
                    // Oldest first, so the last given becomes the newest key.
                    for publicKey in record.keys.reversed() {
                        try key.bind(1, record.id).bind(2, blob: publicKey.bytes).bind(3, record.id).run()
                    }
                }
            }
        }
    }

    public func nodes() async throws -> [NodeRecord] {
        try await reader.run { db in try Self.nodes(db, id: nil, pod: nil) }
    }

    public func node(_ id: String) async throws -> NodeRecord? {
        try await reader.run { db in try Self.nodes(db, id: id, pod: nil).first }
    }

    public func nodes(pod: String) async throws -> [NodeRecord] {
        try await reader.run { db in try Self.nodes(db, id: nil, pod: pod) }
    }

    static func nodes(_ db: Connection, id: String?, pod: String?) throws -> [NodeRecord] {
        let query = try db.prepare("""
            SELECT n.id, n.pod, n.meter, n.quarantine, k.key FROM nodes n LEFT JOIN node_keys k ON k.node = n.id
            WHERE (?1 IS NULL OR n.id = ?1) AND (?2 IS NULL OR n.pod = ?2) ORDER BY n.id, k.added DESC
            """).bind(1, id).bind(2, pod)
        var nodes: [NodeRecord] = []
        while try query.step() {
            let nodeID = query.text(0)
            if nodes.last?.id != nodeID {
                nodes.append(NodeRecord(id: nodeID, pod: query.text(1), meter: query.text(2), keys: [],
                                        quarantine: query.optionalText(3)))
            }
            if !query.isNull(4) { nodes[nodes.count - 1].keys.append(PublicKey(unchecked: query.blob(4))) }
        }
        return nodes
    }

    public func releaseQuarantine(node: String) async throws {
        try await writer.run { db in
            try db.prepare("UPDATE nodes SET quarantine = NULL WHERE id = ?").bind(1, node).run()
        }
    }

    public func upsertPOD(_ pod: PODRecord) async throws {
        try await writer.run { db in
            try db.prepare("""
                INSERT INTO pods(id, customer, connection_ean, congestion_point, aggregator, brp, fr_owner)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET customer = excluded.customer, connection_ean = excluded.connection_ean,
                  congestion_point = excluded.congestion_point, aggregator = excluded.aggregator,
                  brp = excluded.brp, fr_owner = excluded.fr_owner
                """).bind(1, pod.id).bind(2, pod.customer).bind(3, pod.connectionEAN).bind(4, pod.congestionPoint)
                .bind(5, pod.aggregator).bind(6, pod.brp).bind(7, pod.frOwner).run()
        }
    }

    public func pod(_ id: String) async throws -> PODRecord? {
        try await reader.run { db in try Self.pods(db, id: id, aggregator: nil, after: nil, limit: 1).first }
    }

    public func pods(aggregator: String?, after: String?, limit: Int) async throws -> [PODRecord] {
        try await reader.run { db in try Self.pods(db, id: nil, aggregator: aggregator, after: after, limit: limit) }
    }

    public func pods(congestionPoint: String) async throws -> [PODRecord] {
        try await reader.run { db in
            try Self.pods(db, id: nil, aggregator: nil, congestionPoint: congestionPoint, after: nil, limit: Int(Int32.max))
        }
    }

    static func pods(_ db: Connection, id: String?, aggregator: String?, congestionPoint: String? = nil, after: String?,
                             limit: Int) throws -> [PODRecord] {
        let query = try db.prepare("""
            SELECT id, customer, connection_ean, congestion_point, aggregator, brp, fr_owner FROM pods
            WHERE (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR aggregator = ?2) AND (?5 IS NULL OR congestion_point = ?5)
              AND (?3 IS NULL OR id > ?3) ORDER BY id LIMIT ?4
            """).bind(1, id).bind(2, aggregator).bind(3, after).bind(4, Int64(limit)).bind(5, congestionPoint)
        var pods: [PODRecord] = []
        while try query.step() {
            pods.append(PODRecord(id: query.text(0), customer: query.optionalText(1), connectionEAN: query.optionalText(2),
                                  congestionPoint: query.optionalText(3), aggregator: query.optionalText(4),
                                  brp: query.optionalText(5), frOwner: query.optionalText(6)))
        }
        return pods
    }

    public func addToken(_ token: TokenRecord) async throws {
        try await writer.run { db in
            try db.prepare("INSERT INTO tokens(hash, role, participant) VALUES (?, ?, ?)")
                .bind(1, blob: token.hash.bytes).bind(2, token.role.rawValue).bind(3, token.participant).run()
        }
    }

    public func token(hash: SHA256Digest) async throws -> TokenRecord? {
        try await reader.run { db in
            let query = try db.prepare("SELECT role, participant FROM tokens WHERE hash = ?").bind(1, blob: hash.bytes)
            guard try query.step(), let role = Role(rawValue: query.text(0)) else { return nil }
            return TokenRecord(hash: hash, role: role, participant: query.optionalText(1))
        }
    }

    public func putCustomerList(day: String, aggregator: String, pods: [String]) async throws {
        try await writer.run { db in
            try db.transaction {
                try db.prepare("DELETE FROM customer_lists WHERE day = ? AND aggregator = ?").bind(1, day).bind(2, aggregator).run()
                let insert = try db.prepare("INSERT OR REPLACE INTO customer_lists(day, pod, aggregator) VALUES (?, ?, ?)")
                for pod in pods { try insert.bind(1, day).bind(2, pod).bind(3, aggregator).run() }
            }
        }
    }

    public func customerList(day: String, aggregator: String?) async throws -> [CustomerListEntry] {
        try await reader.run { db in
            let query = try db.prepare("""
                SELECT c.pod, c.aggregator, p.congestion_point FROM customer_lists c JOIN pods p ON p.id = c.pod
                WHERE c.day = ?1 AND (?2 IS NULL OR c.aggregator = ?2) ORDER BY c.pod
                """).bind(1, day).bind(2, aggregator)
            var entries: [CustomerListEntry] = []
            while try query.step() {
                entries.append(CustomerListEntry(pod: query.text(0), aggregator: query.text(1), congestionPoint: query.optionalText(2)))
            }
            return entries
        }
    }

    public func putBaseline(_ baseline: Baseline) async throws {
        try await writer.run { db in
            try db.prepare("INSERT OR REPLACE INTO baselines(pod, day, brp, energy_wh) VALUES (?, ?, ?, ?)")
                .bind(1, baseline.pod).bind(2, baseline.day).bind(3, baseline.brp).bind(4, blob: baseline.packed).run()
        }
    }

    public func baselines(pods: [String], day: String) async throws -> [Baseline] {
        try await reader.run { db in
            let query = try db.prepare("SELECT brp, energy_wh FROM baselines WHERE pod = ? AND day = ?")
            var baselines: [Baseline] = []
            for pod in pods {
                query.reset()
                if try query.bind(1, pod).bind(2, day).step() {
                    baselines.append(Baseline(pod: pod, day: day, brp: query.text(0), energyWh: Baseline.unpack(query.blob(1))))
                }
            }
            return baselines
        }
    }
}
