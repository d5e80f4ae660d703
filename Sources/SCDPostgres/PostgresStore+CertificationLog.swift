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

// Certification log
extension PostgresStore {
    public func logSize() async throws -> UInt64 {
        try await client.withConnection { db in try await Self.logSize(db, logger: self.logger) }
    }

    public func logTiles(_ ids: Set<LogTiles.TileID>) async throws -> [LogTiles.TileID: [SHA256Digest]] {
        try await client.withConnection { db in try await Self.tiles(db, Array(ids), logger: self.logger) }
    }

    public func addCheckpoint(_ checkpoint: StoredCheckpoint) async throws {
        try await query("""
            INSERT INTO log_checkpoints(size, note, t) VALUES (\(Int64(checkpoint.size)), \(checkpoint.note),
              \(checkpoint.time.millisecondsSince1970)) ON CONFLICT (size) DO NOTHING
            """, logger: logger)
    }

    public func checkpoint(size: UInt64?) async throws -> StoredCheckpoint? {
        let wanted = size.map { Int64($0) }
        for try await (size, note, time) in try await query("""
            SELECT size, note, t FROM log_checkpoints WHERE \(wanted)::bigint IS NULL OR size = \(wanted) ORDER BY size DESC LIMIT 1
            """, logger: logger).decode((Int64, String, Int64).self) {
            return StoredCheckpoint(size: UInt64(size), note: note, time: Timestamp(millisecondsSince1970: time))
        }
        return nil
    }

    public func sealedBlock(node: String, seq: UInt64) async throws -> SealedBlock? {
        guard let seqColumn = Bounds.seq(seq) else { return nil }
        for try await row in try await query("""
            SELECT \(unescaped: Self.blockColumns), log_index FROM raw_blocks
            WHERE node = \(node) AND first_seq <= \(seqColumn) ORDER BY first_seq DESC LIMIT 1
            """, logger: logger).decode((Int64, Int32, Int64, Int64, ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer, Int64).self) {
            let block = Self.block((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7), node: node)
            return seq <= block.lastSeq ? SealedBlock(block: block, logIndex: UInt64(row.8)) : nil
        }
        return nil
    }
}
