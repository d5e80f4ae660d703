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

// Common Reference
extension PostgresStore {
    public func registerCROParticipant(_ participant: CROParticipant) async throws {
        try await query("""
            INSERT INTO cro_participants(role, domain, name) VALUES (\(participant.role.rawValue), \(participant.domain), \(participant.name))
            ON CONFLICT (role, domain) DO UPDATE SET name = excluded.name
            """, logger: logger)
    }

    public func croParticipants() async throws -> [CROParticipant] {
        var participants: [CROParticipant] = []
        for try await (role, domain, name) in try await query("SELECT role, domain, name FROM cro_participants ORDER BY role, domain",
                                                              logger: logger).decode((String, String, String).self) {
            if let role = CROParticipant.Role(rawValue: role) { participants.append(CROParticipant(role: role, domain: domain, name: name)) }
        }
        return participants
    }

    public func portfolio(_ scope: PortfolioScope) async throws -> Portfolio {
        let logger = logger
        return try await client.withConnection { db in try await Self.readPortfolio(scope, db, logger: logger) }
    }

    public func changePortfolio(_ scope: PortfolioScope, _ change: @escaping @Sendable (Portfolio) throws -> Portfolio) async throws {
        let logger = logger
        try await transaction { db in
            // Changes are made one at a time across instances: each reads what the last wrote.
            try await db.query("SELECT pg_advisory_xact_lock(\(Self.portfolioLock))", logger: logger)
            let read = try await Self.readPortfolio(scope, db, logger: logger)
            let changed = try change(read)
            try await db.query("""
                DELETE FROM cro_congestion_points WHERE entity_address = ANY(\(read.congestionPoints.map(\.entityAddress))::text[])
                """, logger: logger)
            try await db.query("""
                DELETE FROM cro_connections c USING unnest(\(read.assignments.map(\.connection))::text[],
                  \(read.assignments.map(\.kind.rawValue))::text[], \(read.assignments.map(\.holder))::text[],
                  \(read.assignments.map(\.firstDay))::text[]) AS r(connection, kind, holder, first_day)
                WHERE c.connection = r.connection AND c.kind = r.kind AND c.holder = r.holder AND c.first_day = r.first_day
                """, logger: logger)
            for point in changed.congestionPoints {
                try await db.query("""
                    INSERT INTO cro_congestion_points(entity_address, dso, first_day, last_day, mutex_offers, day_ahead_by, intraday_by)
                    VALUES (\(point.entityAddress), \(point.dso), \(point.firstDay), \(point.lastDay), \(point.mutexOffersSupported),
                      \(point.dayAheadRedispatchBy), \(point.intradayRedispatchBy))
                    ON CONFLICT (entity_address) DO UPDATE SET dso = excluded.dso, first_day = excluded.first_day,
                      last_day = excluded.last_day, mutex_offers = excluded.mutex_offers, day_ahead_by = excluded.day_ahead_by,
                      intraday_by = excluded.intraday_by
                    """, logger: logger)
            }
            let rows = changed.assignments
            // An open end travels as '' (arrays of optionals are not encodable).
            try await db.query("""
                INSERT INTO cro_connections(connection, kind, holder, first_day, last_day)
                SELECT connection, kind, holder, first_day, NULLIF(last_day, '')
                FROM unnest(\(rows.map(\.connection))::text[], \(rows.map(\.kind.rawValue))::text[],
                  \(rows.map(\.holder))::text[], \(rows.map(\.firstDay))::text[], \(rows.map { $0.lastDay ?? "" })::text[])
                  AS r(connection, kind, holder, first_day, last_day)
                ON CONFLICT (connection, kind, holder, first_day) DO UPDATE SET last_day = excluded.last_day
                """, logger: logger)
        }
    }

    static func readPortfolio(_ scope: PortfolioScope, _ db: PostgresConnection, logger: Logger) async throws -> Portfolio {
        var portfolio = Portfolio()
        if !scope.congestionPoints.isEmpty || !scope.dsos.isEmpty {
            for try await row in try await db.query("""
                SELECT entity_address, dso, first_day, last_day, mutex_offers, day_ahead_by, intraday_by FROM cro_congestion_points
                WHERE entity_address = ANY(\(scope.congestionPoints)::text[]) OR dso = ANY(\(scope.dsos)::text[])
                ORDER BY entity_address
                """, logger: logger).decode((String, String, String, String?, Bool, String, String?).self) {
                portfolio.congestionPoints.append(CongestionPointRecord(
                    entityAddress: row.0, dso: row.1, firstDay: row.2, lastDay: row.3, mutexOffersSupported: row.4,
                    dayAheadRedispatchBy: row.5, intradayRedispatchBy: row.6))
            }
        }
        if !scope.connections.isEmpty || !scope.holders.isEmpty {
            for try await row in try await db.query("""
                SELECT c.connection, c.kind, c.holder, c.first_day, c.last_day FROM cro_connections c
                WHERE c.connection = ANY(\(scope.connections)::text[])
                  OR (c.kind, c.holder) IN (SELECT * FROM unnest(\(scope.holders.map(\.kind.rawValue))::text[],
                                                                 \(scope.holders.map(\.holder))::text[]))
                ORDER BY c.connection, c.kind, c.first_day
                """, logger: logger).decode((String, String, String, String, String?).self) {
                guard let kind = ConnectionAssignment.Kind(rawValue: row.1) else { continue }
                portfolio.assignments.append(ConnectionAssignment(connection: row.0, kind: kind, holder: row.2,
                                                                  firstDay: row.3, lastDay: row.4))
            }
        }
        return portfolio
    }
}
