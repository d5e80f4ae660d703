import Foundation
import Certification
import GridCore
import Ledger
import Sodium
import SQLite
import SCD
import Synchronization

// Queries
extension SQLiteStore {
    public func entries(node: String, from: Timestamp, to: Timestamp) async throws -> [RawEntry] {
        try requireService()
        // The index before the snapshot: an entry sealed in between is found in its block and in
        // its row (which the cut has not reached, or the row is gone); `collect` keeps it once.
        let rows = staging.withLock { $0.index.entries(node: node).map(\.row) }
        let (blocks, staged) = try await reader.run { db in
            try db.transaction(immediate: false) {
                let blockQuery = try db.prepare("""
                    SELECT \(Self.blockColumns) FROM raw_blocks
                    WHERE node = ? AND t_first < ? AND t_last >= ? ORDER BY first_seq
                    """).bind(1, node).bind(2, to.millisecondsSince1970).bind(3, from.millisecondsSince1970)
                var blocks: [RawBlock] = []
                while try blockQuery.step() { blocks.append(Self.block(blockQuery, node: node)) }
                // By row, checking the row still is this node's entry: the index was read first.
                let stagedQuery = try db.prepare("""
                    SELECT seq, body, \(SCDSchema.certifiedCondition) FROM staged_entries AS e
                    WHERE id = ? AND node = ? AND t >= ? AND t < ?
                    """)
                var staged: [(seq: UInt64, body: [UInt8], certified: Bool)] = []
                for row in rows {
                    defer { stagedQuery.reset() }
                    stagedQuery.bind(1, row).bind(2, node).bind(3, from.millisecondsSince1970).bind(4, to.millisecondsSince1970)
                    if try stagedQuery.step() {
                        staged.append((UInt64(stagedQuery.int64(0)), stagedQuery.blob(1), stagedQuery.int64(2) != 0))
                    }
                }
                return (blocks, staged)
            }
        }
        return try RawEntry.collect(blocks: blocks, staged: staged, from: from, to: to)
    }

    public func upsertMeasures(_ measures: [QuarterMeasure]) async throws {
        guard !measures.isEmpty else { return }
        try await writer.run { db in
            try db.transaction {
                let upsert = try db.prepare("""
                    INSERT INTO measures(pod, start, energy_wh, avg_w, coverage, samples, certified) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(pod, start) DO UPDATE SET energy_wh = excluded.energy_wh, avg_w = excluded.avg_w,
                      coverage = excluded.coverage, samples = excluded.samples, certified = excluded.certified
                    """)
                for measure in measures {
                    try upsert.bind(1, measure.pod).bind(2, measure.start.millisecondsSince1970).bind(3, measure.energyWh)
                        .bind(4, measure.averageW).bind(5, measure.coverage).bind(6, Int64(measure.samples))
                        .bind(7, Int64(measure.certified ? 1 : 0)).run()
                }
            }
        }
    }

    public func measures(pods: [String], from: Timestamp, to: Timestamp) async throws -> [QuarterMeasure] {
        try await reader.run { db in
            let query = try db.prepare("""
                SELECT start, energy_wh, avg_w, coverage, samples, certified FROM measures
                WHERE pod = ? AND start >= ? AND start < ? ORDER BY start
                """)
            var measures: [QuarterMeasure] = []
            for pod in pods {
                query.reset()
                _ = query.bind(1, pod).bind(2, from.millisecondsSince1970).bind(3, to.millisecondsSince1970)
                while try query.step() {
                    measures.append(QuarterMeasure(pod: pod, start: Timestamp(millisecondsSince1970: query.int64(0)),
                                                   energyWh: query.double(1), averageW: query.double(2), coverage: query.double(3),
                                                   samples: Int(query.int64(4)), certified: query.int64(5) != 0))
                }
            }
            return measures
        }
    }

    public func rawStorageStats() async throws -> RawStorageStats {
        try await reader.run { [self] db in
            let query = try db.prepare("""
                SELECT count(*), coalesce(sum(count), 0),
                  coalesce(sum(length(data) + length(first_prev) + length(last_hash) + length(last_sig) + length(node) + 32), 0)
                FROM raw_blocks
                """)
            _ = try query.step()
            return RawStorageStats(stagedEntries: staging.withLock { $0.index.count }, blocks: Int(query.int64(0)),
                                   blockEntries: Int(query.int64(1)), blockBytes: Int(query.int64(2)))
        }
    }
}
