import Foundation
import Certification
import GridCore
import Ledger
import Sodium
import SQLite
import SCD
import Synchronization

// Common Reference
extension SQLiteStore {
    public func registerCROParticipant(_ participant: CROParticipant) async throws {
        try await writer.run { db in
            try db.prepare("INSERT OR REPLACE INTO cro_participants(role, domain, name) VALUES (?, ?, ?)")
                .bind(1, participant.role.rawValue).bind(2, participant.domain).bind(3, participant.name).run()
        }
    }

    public func croParticipants() async throws -> [CROParticipant] {
        try await reader.run { db in
            let query = try db.prepare("SELECT role, domain, name FROM cro_participants ORDER BY role, domain")
            var participants: [CROParticipant] = []
            while try query.step() {
                guard let role = CROParticipant.Role(rawValue: query.text(0)) else { continue }
                participants.append(CROParticipant(role: role, domain: query.text(1), name: query.text(2)))
            }
            return participants
        }
    }

    public func portfolio(_ scope: PortfolioScope) async throws -> Portfolio {
        try await reader.run { db in try Self.readPortfolio(scope, db) }
    }

    public func changePortfolio(_ scope: PortfolioScope, _ change: @escaping @Sendable (Portfolio) throws -> Portfolio) async throws {
        try await writer.run { db in
            try db.transaction {
                let read = try Self.readPortfolio(scope, db)
                let changed = try change(read)
                let dropPoint = try db.prepare("DELETE FROM cro_congestion_points WHERE entity_address = ?")
                for point in read.congestionPoints { try dropPoint.bind(1, point.entityAddress).run() }
                let dropAssignment = try db.prepare("""
                    DELETE FROM cro_connections WHERE connection = ? AND kind = ? AND holder = ? AND first_day = ?
                    """)
                for row in read.assignments {
                    try dropAssignment.bind(1, row.connection).bind(2, row.kind.rawValue).bind(3, row.holder).bind(4, row.firstDay).run()
                }
                let addPoint = try db.prepare("""
                    INSERT OR REPLACE INTO cro_congestion_points(entity_address, dso, first_day, last_day, mutex_offers,
                      day_ahead_by, intraday_by) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
                for point in changed.congestionPoints {
                    try addPoint.bind(1, point.entityAddress).bind(2, point.dso).bind(3, point.firstDay).bind(4, point.lastDay)
                        .bind(5, Int64(point.mutexOffersSupported ? 1 : 0)).bind(6, point.dayAheadRedispatchBy)
                        .bind(7, point.intradayRedispatchBy).run()
                }
                let addAssignment = try db.prepare("""
                    INSERT OR REPLACE INTO cro_connections(connection, kind, holder, first_day, last_day) VALUES (?, ?, ?, ?, ?)
                    """)
                for row in changed.assignments {
                    try addAssignment.bind(1, row.connection).bind(2, row.kind.rawValue).bind(3, row.holder)
                        .bind(4, row.firstDay).bind(5, row.lastDay).run()
                }
            }
        }
    }

    /// The lists travel as one JSON array each (`json_each`): an aggregator's update may name
    /// more connections than SQLite takes bound parameters.
    static func readPortfolio(_ scope: PortfolioScope, _ db: Connection) throws -> Portfolio {
        var portfolio = Portfolio()
        if !scope.congestionPoints.isEmpty || !scope.dsos.isEmpty {
            let query = try db.prepare("""
                SELECT entity_address, dso, first_day, last_day, mutex_offers, day_ahead_by, intraday_by FROM cro_congestion_points
                WHERE entity_address IN (SELECT value FROM json_each(?1)) OR dso IN (SELECT value FROM json_each(?2))
                ORDER BY entity_address
                """).bind(1, try jsonArray(scope.congestionPoints)).bind(2, try jsonArray(scope.dsos))
            while try query.step() {
                portfolio.congestionPoints.append(CongestionPointRecord(
                    entityAddress: query.text(0), dso: query.text(1), firstDay: query.text(2), lastDay: query.optionalText(3),
                    mutexOffersSupported: query.int64(4) != 0, dayAheadRedispatchBy: query.text(5),
                    intradayRedispatchBy: query.optionalText(6)))
            }
        }
        if !scope.connections.isEmpty || !scope.holders.isEmpty {
            let query = try db.prepare("""
                SELECT connection, kind, holder, first_day, last_day FROM cro_connections
                WHERE connection IN (SELECT value FROM json_each(?1))
                  OR (kind, holder) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?2))
                ORDER BY connection, kind, first_day
                """).bind(1, try jsonArray(scope.connections)).bind(2, try jsonArray(scope.holders.map { [$0.kind.rawValue, $0.holder] }))
            while try query.step() {
                guard let kind = ConnectionAssignment.Kind(rawValue: query.text(1)) else { continue }
                portfolio.assignments.append(ConnectionAssignment(
                    connection: query.text(0), kind: kind, holder: query.text(2), firstDay: query.text(3), lastDay: query.optionalText(4)))
            }
        }
        return portfolio
    }

    static func jsonArray(_ values: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(values), as: UTF8.self)
    }
}
