import Foundation
import Certification
import GridCore
import Ledger
import Sodium
import SQLite
import SCD
import Synchronization

// Certification log
extension SQLiteStore {
    public func logSize() async throws -> UInt64 {
        try await reader.run { db in try Self.logSize(db) }
    }

    public func logTiles(_ ids: Set<LogTiles.TileID>) async throws -> [LogTiles.TileID: [SHA256Digest]] {
        try await reader.run { db in try Self.tiles(db, ids) }
    }

    public func addCheckpoint(_ checkpoint: StoredCheckpoint) async throws {
        try await writer.run { db in
            try db.prepare("INSERT INTO log_checkpoints(size, note, t) VALUES (?, ?, ?) ON CONFLICT(size) DO NOTHING")
                .bind(1, Int64(checkpoint.size)).bind(2, checkpoint.note).bind(3, checkpoint.time.millisecondsSince1970).run()
        }
    }

    public func checkpoint(size: UInt64?) async throws -> StoredCheckpoint? {
        try await reader.run { db in
            let query = try db.prepare("""
                SELECT size, note, t FROM log_checkpoints WHERE ?1 IS NULL OR size = ?1 ORDER BY size DESC LIMIT 1
                """).bind(1, size.map { Int64($0) })
            guard try query.step() else { return nil }
            return StoredCheckpoint(size: UInt64(query.int64(0)), note: query.text(1),
                                    time: Timestamp(millisecondsSince1970: query.int64(2)))
        }
    }

    public func sealedBlock(node: String, seq: UInt64) async throws -> SealedBlock? {
        guard let seqColumn = Bounds.seq(seq) else { return nil }
        return try await reader.run { db in
            let query = try db.prepare("""
                SELECT \(Self.blockColumns), log_index FROM raw_blocks WHERE node = ? AND first_seq <= ?
                ORDER BY first_seq DESC LIMIT 1
                """).bind(1, node).bind(2, seqColumn)
            guard try query.step(), !query.isNull(8) else { return nil }
            let block = Self.block(query, node: node)
            return seq <= block.lastSeq ? SealedBlock(block: block, logIndex: UInt64(query.int64(8))) : nil
        }
    }
}
