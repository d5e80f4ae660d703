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

// Registry
extension PostgresStore {
    public func addNodes(_ nodes: [NodeRecord]) async throws {
        guard !nodes.isEmpty else { return }
        try await transaction { db in
            try await db.query("""
                INSERT INTO pods(id) SELECT DISTINCT p FROM unnest(\(nodes.map(\.pod))::text[]) AS p ON CONFLICT DO NOTHING
                """, logger: self.logger)
            try await db.query("""
                INSERT INTO nodes(id, pod, meter)
                SELECT * FROM unnest(\(nodes.map(\.id))::text[], \(nodes.map(\.pod))::text[], \(nodes.map(\.meter))::text[])
                ON CONFLICT (id) DO UPDATE SET pod = excluded.pod, meter = excluded.meter
                """, logger: self.logger)
            // Oldest first, so the last given becomes the newest key; `added` orders a node's keys.
            let keys = nodes.flatMap { node in node.keys.reversed().enumerated().map { (node.id, $0.element, Int32($0.offset)) } }
            try await db.query("""
                INSERT INTO node_keys(node, key, added)
                SELECT k.node, k.key, coalesce((SELECT max(added) FROM node_keys o WHERE o.node = k.node), 0) + 1 + k.position
                FROM unnest(\(keys.map(\.0))::text[], \(keys.map { ByteBuffer(bytes: $0.1.bytes) })::bytea[],
                  \(keys.map(\.2))::integer[]) AS k(node, key, position)
                ON CONFLICT (node, key) DO NOTHING
                """, logger: self.logger)
        }
    }

    public func nodes() async throws -> [NodeRecord] { try await nodes(id: nil, pod: nil) }

    public func node(_ id: String) async throws -> NodeRecord? { try await nodes(id: id, pod: nil).first }

    public func nodes(pod: String) async throws -> [NodeRecord] { try await nodes(id: nil, pod: pod) }

    func nodes(id: String?, pod: String?) async throws -> [NodeRecord] {
        let rows = try await query("""
            SELECT n.id, n.pod, n.meter, n.quarantine, k.key FROM nodes n LEFT JOIN node_keys k ON k.node = n.id
            WHERE (\(id)::text IS NULL OR n.id = \(id)) AND (\(pod)::text IS NULL OR n.pod = \(pod)) ORDER BY n.id, k.added DESC
            """, logger: logger)
        var nodes: [NodeRecord] = []
        for try await (nodeID, pod, meter, quarantine, key) in rows.decode((String, String, String, String?, ByteBuffer?).self) {
            if nodes.last?.id != nodeID {
                nodes.append(NodeRecord(id: nodeID, pod: pod, meter: meter, keys: [], quarantine: quarantine))
            }
            if let key { nodes[nodes.count - 1].keys.append(PublicKey(unchecked: Array(key.readableBytesView))) }
        }
        return nodes
    }

    public func releaseQuarantine(node: String) async throws {
        try await query("UPDATE nodes SET quarantine = NULL WHERE id = \(node)", logger: logger)
    }

    public func upsertPOD(_ pod: PODRecord) async throws {
        try await query("""
            INSERT INTO pods(id, customer, connection_ean, congestion_point, aggregator, brp, fr_owner)
            VALUES (\(pod.id), \(pod.customer), \(pod.connectionEAN), \(pod.congestionPoint), \(pod.aggregator), \(pod.brp), \(pod.frOwner))
            ON CONFLICT (id) DO UPDATE SET customer = excluded.customer, connection_ean = excluded.connection_ean,
              congestion_point = excluded.congestion_point, aggregator = excluded.aggregator,
              brp = excluded.brp, fr_owner = excluded.fr_owner
            """, logger: logger)
    }

    public func pod(_ id: String) async throws -> PODRecord? { try await pods(id: id, aggregator: nil, after: nil, limit: 1).first }

    public func pods(aggregator: String?, after: String?, limit: Int) async throws -> [PODRecord] {
        try await pods(id: nil, aggregator: aggregator, after: after, limit: limit)
    }

    public func pods(congestionPoint: String) async throws -> [PODRecord] {
        try await pods(id: nil, aggregator: nil, congestionPoint: congestionPoint, after: nil, limit: Int(Int32.max))
    }

    func pods(id: String?, aggregator: String?, congestionPoint: String? = nil, after: String?, limit: Int) async throws -> [PODRecord] {
        let rows = try await query("""
            SELECT id, customer, connection_ean, congestion_point, aggregator, brp, fr_owner FROM pods
            WHERE (\(id)::text IS NULL OR id = \(id)) AND (\(aggregator)::text IS NULL OR aggregator = \(aggregator))
              AND (\(congestionPoint)::text IS NULL OR congestion_point = \(congestionPoint))
              AND (\(after)::text IS NULL OR id > \(after)) ORDER BY id LIMIT \(Int64(limit))
            """, logger: logger)
        var pods: [PODRecord] = []
        for try await row in rows.decode((String, String?, String?, String?, String?, String?, String?).self) {
            pods.append(PODRecord(id: row.0, customer: row.1, connectionEAN: row.2, congestionPoint: row.3,
                                  aggregator: row.4, brp: row.5, frOwner: row.6))
        }
        return pods
    }

    public func addToken(_ token: TokenRecord) async throws {
        try await query("""
            INSERT INTO tokens(hash, role, participant) VALUES (\(ByteBuffer(bytes: token.hash.bytes)), \(token.role.rawValue), \(token.participant))
            """, logger: logger)
    }

    public func token(hash: SHA256Digest) async throws -> TokenRecord? {
        let rows = try await query("SELECT role, participant FROM tokens WHERE hash = \(ByteBuffer(bytes: hash.bytes))",
                                          logger: logger)
        for try await (role, participant) in rows.decode((String, String?).self) {
            guard let role = Role(rawValue: role) else { return nil }
            return TokenRecord(hash: hash, role: role, participant: participant)
        }
        return nil
    }

    public func putCustomerList(day: String, aggregator: String, pods: [String]) async throws {
        try await transaction { db in
            try await db.query("DELETE FROM customer_lists WHERE day = \(day) AND aggregator = \(aggregator)", logger: self.logger)
            try await db.query("""
                INSERT INTO customer_lists(day, pod, aggregator) SELECT \(day), p, \(aggregator) FROM unnest(\(pods)::text[]) AS p
                ON CONFLICT (day, pod) DO UPDATE SET aggregator = excluded.aggregator
                """, logger: self.logger)
        }
    }

    public func customerList(day: String, aggregator: String?) async throws -> [CustomerListEntry] {
        var entries: [CustomerListEntry] = []
        for try await (pod, owner, point) in try await query("""
            SELECT c.pod, c.aggregator, p.congestion_point FROM customer_lists c JOIN pods p ON p.id = c.pod
            WHERE c.day = \(day) AND (\(aggregator)::text IS NULL OR c.aggregator = \(aggregator)) ORDER BY c.pod
            """, logger: logger).decode((String, String, String?).self) {
            entries.append(CustomerListEntry(pod: pod, aggregator: owner, congestionPoint: point))
        }
        return entries
    }

    public func putBaseline(_ baseline: Baseline) async throws {
        try await query("""
            INSERT INTO baselines(pod, day, brp, energy_wh) VALUES (\(baseline.pod), \(baseline.day), \(baseline.brp),
              \(ByteBuffer(bytes: baseline.packed)))
            ON CONFLICT (pod, day) DO UPDATE SET brp = excluded.brp, energy_wh = excluded.energy_wh
            """, logger: logger)
    }

    public func baselines(pods: [String], day: String) async throws -> [Baseline] {
        var baselines: [Baseline] = []
        for try await (pod, brp, values) in try await query("""
            SELECT pod, brp, energy_wh FROM baselines WHERE pod = ANY(\(pods)) AND day = \(day)
            """, logger: logger).decode((String, String, ByteBuffer).self) {
            baselines.append(Baseline(pod: pod, day: day, brp: brp, energyWh: Baseline.unpack(values.bytes)))
        }
        return baselines
    }
}
