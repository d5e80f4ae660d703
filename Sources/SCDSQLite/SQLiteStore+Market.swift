import Foundation
import Certification
import GridCore
import Ledger
import Sodium
import SQLite
import SCD
import Synchronization

// Market
extension SQLiteStore {
    @discardableResult
    public func putMarketDocument(_ document: MarketDocument, replace: Bool) async throws -> Bool {
        try await writer.run { db in
            try db.prepare("INSERT OR \(replace ? "REPLACE" : "IGNORE") INTO market_documents(kind, id, day, body) VALUES (?, ?, ?, ?)")
                .bind(1, document.kind.rawValue).bind(2, document.id).bind(3, document.day).bind(4, blob: document.body).run()
            return db.changes > 0
        }
    }

    public func marketDocument(kind: MarketDocument.Kind, id: String) async throws -> MarketDocument? {
        try await reader.run { db in
            let query = try db.prepare("SELECT day, body FROM market_documents WHERE kind = ? AND id = ?").bind(1, kind.rawValue).bind(2, id)
            guard try query.step() else { return nil }
            return MarketDocument(kind: kind, id: id, day: query.text(0), body: query.blob(1))
        }
    }

    public func marketDocuments(kind: MarketDocument.Kind, days: ClosedRange<String>) async throws -> [MarketDocument] {
        try await reader.run { db in
            let query = try db.prepare("SELECT id, day, body FROM market_documents WHERE kind = ? AND day >= ? AND day <= ? ORDER BY day, id")
                .bind(1, kind.rawValue).bind(2, days.lowerBound).bind(3, days.upperBound)
            var documents: [MarketDocument] = []
            while try query.step() {
                documents.append(MarketDocument(kind: kind, id: query.text(0), day: query.text(1), body: query.blob(2)))
            }
            return documents
        }
    }

    public func marketDocumentIDs(kind: MarketDocument.Kind, days: ClosedRange<String>) async throws -> [String] {
        try await reader.run { db in
            let query = try db.prepare("SELECT id FROM market_documents WHERE kind = ? AND day >= ? AND day <= ? ORDER BY day, id")
                .bind(1, kind.rawValue).bind(2, days.lowerBound).bind(3, days.upperBound)
            var ids: [String] = []
            while try query.step() { ids.append(query.text(0)) }
            return ids
        }
    }
}
