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

// Queries
extension PostgresStore {
    public func entries(node: String, from: Timestamp, to: Timestamp) async throws -> [RawEntry] {
        let logger = logger
        let (blocks, staged) = try await transaction { db in
            var blocks: [RawBlock] = []
            for try await row in try await db.query("""
                SELECT \(unescaped: Self.blockColumns) FROM raw_blocks
                WHERE node = \(node) AND t_first < \(to.millisecondsSince1970) AND t_last >= \(from.millisecondsSince1970) ORDER BY first_seq
                """, logger: logger).decode(BlockRow.self) {
                blocks.append(Self.block(row, node: node))
            }
            var staged: [(seq: UInt64, body: [UInt8], certified: Bool)] = []
            for try await (seq, body, certified) in try await db.query("""
                SELECT e.seq, e.body, \(unescaped: SCDSchema.certifiedCondition) FROM raw_entries e
                WHERE e.node = \(node) AND t >= \(from.millisecondsSince1970) AND t < \(to.millisecondsSince1970) ORDER BY seq
                """, logger: logger).decode((Int64, ByteBuffer, Bool).self) {
                staged.append((UInt64(seq), body.bytes, certified))
            }
            return (blocks, staged)
        }
        return try RawEntry.collect(blocks: blocks, staged: staged, from: from, to: to)
    }

    public func upsertMeasures(_ measures: [QuarterMeasure]) async throws {
        // One row per (pod, start) in a statement: the last computed wins.
        var latest: [String: QuarterMeasure] = [:]
        for measure in measures { latest["\(measure.pod) \(measure.start.millisecondsSince1970)"] = measure }
        let rows = Array(latest.values)
        guard !rows.isEmpty else { return }
        try await query("""
            INSERT INTO measures(pod, start, energy_wh, avg_w, coverage, samples, certified)
            SELECT * FROM unnest(\(rows.map(\.pod))::text[], \(rows.map(\.start.millisecondsSince1970))::bigint[],
              \(rows.map(\.energyWh))::float8[], \(rows.map(\.averageW))::float8[], \(rows.map(\.coverage))::float8[],
              \(rows.map { Int32($0.samples) })::integer[], \(rows.map(\.certified))::boolean[])
            ON CONFLICT (pod, start) DO UPDATE SET energy_wh = excluded.energy_wh, avg_w = excluded.avg_w,
              coverage = excluded.coverage, samples = excluded.samples, certified = excluded.certified
            """, logger: logger)
    }

    public func measures(pods: [String], from: Timestamp, to: Timestamp) async throws -> [QuarterMeasure] {
        var byPOD: [String: [QuarterMeasure]] = [:]
        for try await row in try await query("""
            SELECT pod, start, energy_wh, avg_w, coverage, samples, certified FROM measures
            WHERE pod = ANY(\(pods)) AND start >= \(from.millisecondsSince1970) AND start < \(to.millisecondsSince1970)
            """, logger: logger).decode((String, Int64, Double, Double, Double, Int32, Bool).self) {
            byPOD[row.0, default: []].append(QuarterMeasure(pod: row.0, start: Timestamp(millisecondsSince1970: row.1), energyWh: row.2,
                                                            averageW: row.3, coverage: row.4, samples: Int(row.5), certified: row.6))
        }
        return pods.flatMap { (byPOD.removeValue(forKey: $0) ?? []).sorted { $0.start < $1.start } }
    }

    public func rawStorageStats() async throws -> RawStorageStats {
        for try await row in try await query("""
            SELECT (SELECT count(*) FROM raw_entries), count(*), coalesce(sum(count), 0)::bigint,
              coalesce(sum(octet_length(data) + octet_length(first_prev) + octet_length(last_hash) + octet_length(last_sig)
                + octet_length(node) + 40), 0)::bigint
            FROM raw_blocks
            """, logger: logger).decode((Int64, Int64, Int64, Int64).self) {
            return RawStorageStats(stagedEntries: Int(row.0), blocks: Int(row.1), blockEntries: Int(row.2), blockBytes: Int(row.3))
        }
        throw SCDError("no storage statistics")
    }
}
