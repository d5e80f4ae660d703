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

// Market
extension PostgresStore {
    @discardableResult
    public func putMarketDocument(_ document: MarketDocument, replace: Bool) async throws -> Bool {
        let body = ByteBuffer(bytes: document.body)
        let rows = replace
            ? try await query("""
                INSERT INTO market_documents(kind, id, day, body) VALUES (\(document.kind.rawValue), \(document.id), \(document.day), \(body))
                ON CONFLICT (kind, id) DO UPDATE SET day = excluded.day, body = excluded.body RETURNING 1
                """, logger: logger)
            : try await query("""
                INSERT INTO market_documents(kind, id, day, body) VALUES (\(document.kind.rawValue), \(document.id), \(document.day), \(body))
                ON CONFLICT (kind, id) DO NOTHING RETURNING 1
                """, logger: logger)
        for try await _ in rows.decode(Int32.self) { return true }
        return false
    }

    public func marketDocument(kind: MarketDocument.Kind, id: String) async throws -> MarketDocument? {
        for try await (day, body) in try await query("""
            SELECT day, body FROM market_documents WHERE kind = \(kind.rawValue) AND id = \(id)
            """, logger: logger).decode((String, ByteBuffer).self) {
            return MarketDocument(kind: kind, id: id, day: day, body: Array(body.readableBytesView))
        }
        return nil
    }

    public func marketDocuments(kind: MarketDocument.Kind, days: ClosedRange<String>) async throws -> [MarketDocument] {
        var documents: [MarketDocument] = []
        for try await (id, day, body) in try await query("""
            SELECT id, day, body FROM market_documents
            WHERE kind = \(kind.rawValue) AND day >= \(days.lowerBound) AND day <= \(days.upperBound) ORDER BY day, id
            """, logger: logger).decode((String, String, ByteBuffer).self) {
            documents.append(MarketDocument(kind: kind, id: id, day: day, body: Array(body.readableBytesView)))
        }
        return documents
    }

    public func marketDocumentIDs(kind: MarketDocument.Kind, days: ClosedRange<String>) async throws -> [String] {
        var ids: [String] = []
        for try await id in try await query("""
            SELECT id FROM market_documents WHERE kind = \(kind.rawValue) AND day >= \(days.lowerBound) AND day <= \(days.upperBound) ORDER BY day, id
            """, logger: logger).decode(String.self) {
            ids.append(id)
        }
        return ids
    }
}
