import Foundation
import GridCore
import SCD
import UFTP

/// The CRO role (UFTP §2; FUSION FR09–FR15): keeps the Common Reference from DSO and aggregator
/// portfolio updates and answers their queries. A connection is in one congestion point and
/// represented by one aggregator at a time (FR10, FR13): an update that would break that is
/// refused whole. Every change and the read it rests on are one transaction of the SCD.
package struct CommonReference: Sendable {
    /// Closed: only DSOs and aggregators the operator registered (`coordinator cro add`) may
    /// update or query; open: any participant whose signature verifies.
    package enum Mode: String, Sendable, CaseIterable {
        case open, closed
    }

    package let store: any CommonReferenceRegister & UFTPMessageLog
    package let mode: Mode
    /// The time zone whose calendar day an aggregator's update takes effect on.
    package let timeZone: TimeZone

    package static let unauthorized = "Unauthorized"
    static let noConnections = "No connections available"
    static let noneInACongestionPoint = "No connections in a congestion point"
    static func connectionConflict(_ connection: String, at place: String) -> String {
        "Connection conflict: [\(connection)] at [\(place)]"
    }

    /// What became of a CRO message: refused (with its reasons), or accepted with the response
    /// to send (nil: the plain Accepted one).
    package enum Outcome {
        case refused([String])
        case accepted((any UFTPResponse)?)
    }

    /// Applies or answers a message of the CRO's, after the generic checks passed; nil for
    /// messages of other roles.
    package func handle(_ message: UFTPMessage, from sender: InternetDomain) async throws -> Outcome? {
        let role: CROParticipant.Role
        switch message.payload {
        case is DSOPortfolioUpdate, is DSOPortfolioQuery: role = .dso
        case is AGRPortfolioUpdate, is AGRPortfolioQuery: role = .agr
        default: return nil
        }
        if mode == .closed, try await !store.croParticipants().contains(where: { $0.role == role && $0.domain == sender.text }) {
            return .refused([Self.unauthorized])
        }
        do {
            switch message.payload {
            case let update as DSOPortfolioUpdate:
                try await inOrder(message, from: sender)
                try await apply(update, from: sender.text)
                return .accepted(nil)
            case let update as AGRPortfolioUpdate:
                try await inOrder(message, from: sender)
                try await apply(update, from: sender.text, on: Self.day(of: message.metadata.timeStamp.timestamp, in: timeZone))
                return .accepted(nil)
            case let query as AGRPortfolioQuery:
                return .accepted(try await answer(query, from: sender, to: message.metadata.messageID))
            case let query as DSOPortfolioQuery:
                return .accepted(try await answer(query, from: sender, to: message.metadata.messageID))
            default:
                return nil
            }
        } catch let refusal as Refusal {
            return .refused(refusal.reasons)
        }
    }

    /// Why a change of the register was refused; thrown inside its transaction, so nothing is written.
    package struct Refusal: Error {
        package let reasons: [String]
    }

    /// Portfolio updates carry no sequence number (the use case asks for one; the XSD has none):
    /// their TimeStamp orders them, and one older than an update already taken from the same
    /// sender is refused.
    private func inOrder(_ message: UFTPMessage, from sender: InternetDomain) async throws {
        let time = message.metadata.timeStamp.timestamp.millisecondsSince1970
        if try await store.recordUFTPRevision(sender: sender.text, type: message.typeName, scope: "", revision: time) != nil {
            throw Refusal(reasons: [RejectionReason.subordinateSequenceNumber])
        }
    }

    // MARK: Updates

    /// The checks a DSO's update needs nothing but itself for: periods that end before they
    /// begin, connections outside their congestion point's days, a connection placed twice.
    static func periodReasons(_ update: DSOPortfolioUpdate) -> [String] {
        var reasons: [String] = []
        // By connection: an update may list many thousands.
        var placed: [String: [ConnectionAssignment]] = [:]
        for point in update.congestionPoints {
            let ea = point.entityAddress.text
            if let backwards = backwards(point.startPeriod, point.endPeriod, at: ea) { reasons.append(backwards) }
            for connection in point.connections {
                let row = assignment(connection, kind: .congestionPoint, holder: ea)
                if let backwards = backwards(connection.startPeriod, connection.endPeriod, at: row.connection) {
                    reasons.append(backwards)
                } else if connection.startPeriod < point.startPeriod
                            || point.endPeriod.map({ end in connection.endPeriod.map { $0 > end } ?? true }) == true {
                    reasons.append("Connection period outside its congestion point's: [\(row.connection)] at [\(ea)]")
                }
                let earlier = placed[row.connection] ?? []
                // Each listing is compared with the connection's earlier ones: a connection listed
                // without end would make that quadratic.
                if earlier.count < Self.listingsPerConnection {
                    if let other = earlier.first(where: { $0.overlaps(row) }) { reasons.append(connectionConflict(row.connection, at: other.holder)) }
                } else if earlier.count == Self.listingsPerConnection {
                    reasons.append("Connection listed more than \(Self.listingsPerConnection) times: [\(row.connection)]")
                } else {
                    continue
                }
                placed[row.connection, default: []].append(row)
            }
        }
        return reasons.count > Self.reasonsShown ? reasons.prefix(Self.reasonsShown) + ["and \(reasons.count - Self.reasonsShown) more"] : reasons
    }

    /// Periods of one connection in one update (a connection moving between congestion points
    /// lists a few).
    static let listingsPerConnection = 100
    /// Reasons given in one rejection.
    static let reasonsShown = 100

    /// The reason for a period that ends before it begins.
    static func backwards(_ start: Period, _ end: Period?, at place: String) -> String? {
        guard let end, end < start else { return nil }
        return "EndPeriod before StartPeriod at [\(place)]"
    }

    /// A DSO declares its congestion points and the connections in them (FR10): each connection
    /// listed replaces what the register held for it at that congestion point over the days it
    /// names (a connection leaving is listed with its EndPeriod, FR08); one at another congestion
    /// point on any of those days is a conflict.
    package func apply(_ update: DSOPortfolioUpdate, from dso: String) async throws {
        let reasons = Self.periodReasons(update)
        guard reasons.isEmpty else { throw Refusal(reasons: reasons) }
        let points = update.congestionPoints.map(\.entityAddress.text)
        let connections = update.congestionPoints.flatMap { $0.connections.map(\.entityAddress.text) }
        try await store.changePortfolio(PortfolioScope(congestionPoints: points, connections: connections)) { held in
            var reasons: [String] = []
            var rows = Dictionary(grouping: held.assignments, by: \.connection)
            var records = Dictionary(held.congestionPoints.map { ($0.entityAddress, $0) }, uniquingKeysWith: { first, _ in first })
            for point in update.congestionPoints {
                let ea = point.entityAddress.text
                if let other = records[ea], other.dso != dso {
                    reasons.append("\(RejectionReason.invalidCongestionPoint): [\(ea)] is another DSO's")
                    continue
                }
                records[ea] = CongestionPointRecord(
                    entityAddress: ea, dso: dso, firstDay: point.startPeriod.text, lastDay: point.endPeriod?.text,
                    mutexOffersSupported: point.mutexOffersSupported, dayAheadRedispatchBy: point.dayAheadRedispatchBy.rawValue,
                    intradayRedispatchBy: point.intradayRedispatchBy?.rawValue)
                for connection in point.connections {
                    let row = Self.assignment(connection, kind: .congestionPoint, holder: ea)
                    if let other = rows[row.connection]?.first(where: { $0.kind == .congestionPoint && $0.holder != ea && $0.overlaps(row) }) {
                        reasons.append(Self.connectionConflict(row.connection, at: other.holder))
                    } else {
                        rows[row.connection, default: []].replace(with: row)
                    }
                }
            }
            guard reasons.isEmpty else { throw Refusal(reasons: reasons) }
            return Portfolio(congestionPoints: Array(records.values), assignments: rows.values.flatMap { $0 })
        }
    }

    /// An aggregator lists the connections it represents (FR12, FR13): each replaces what the
    /// register held for it from this aggregator over the days it names; one another aggregator
    /// represents on any of those days is a conflict; this aggregator's connections left out of
    /// the list are detached, their last day `day` (the update's, in the market's time zone).
    package func apply(_ update: AGRPortfolioUpdate, from agr: String, on day: Period) async throws {
        var reasons: [String] = []
        var listed = Set<String>()
        for connection in update.connections {
            let ea = connection.entityAddress.text
            if let backwards = Self.backwards(connection.startPeriod, connection.endPeriod, at: ea) { reasons.append(backwards) }
            if !listed.insert(ea).inserted { reasons.append("Connection listed twice: [\(ea)]") }
        }
        guard reasons.isEmpty else { throw Refusal(reasons: reasons) }
        let scope = PortfolioScope(connections: Array(listed), holders: [(.aggregator, agr)])
        let list = listed
        let today = day.text
        try await store.changePortfolio(scope) { held in
            var reasons: [String] = []
            var rows = Dictionary(grouping: held.assignments, by: \.connection)
            for connection in update.connections {
                let row = Self.assignment(connection, kind: .aggregator, holder: agr)
                // Which aggregator is not said: that is the other's business.
                if rows[row.connection]?.contains(where: { $0.kind == .aggregator && $0.holder != agr && $0.overlaps(row) }) == true {
                    reasons.append(Self.connectionConflict(row.connection, at: "another aggregator"))
                } else {
                    rows[row.connection, default: []].replace(with: row)
                }
            }
            guard reasons.isEmpty else { throw Refusal(reasons: reasons) }
            let kept = rows.values.flatMap { $0 }.compactMap { row -> ConnectionAssignment? in
                guard row.kind == .aggregator, row.holder == agr, !list.contains(row.connection),
                      row.lastDay.map({ $0 > today }) ?? true else { return row }
                guard row.firstDay <= today else { return nil }
                var detached = row
                detached.lastDay = today
                return detached
            }
            return Portfolio(congestionPoints: held.congestionPoints, assignments: kept)
        }
    }

    static func assignment(_ connection: PortfolioConnection, kind: ConnectionAssignment.Kind, holder: String) -> ConnectionAssignment {
        ConnectionAssignment(connection: connection.entityAddress.text, kind: kind, holder: holder,
                             firstDay: connection.startPeriod.text, lastDay: connection.endPeriod?.text)
    }

    // MARK: Queries

    /// The aggregator's connections on the Period, by DSO and congestion point (FR14).
    package func answer(_ query: AGRPortfolioQuery, from agr: InternetDomain, to messageID: UUIDValue) async throws -> AGRPortfolioQueryResponse {
        let day = query.period.text
        let represented = try await store.portfolio(PortfolioScope(holders: [(.aggregator, agr.text)])).assignments
            .filter { $0.holds(on: day) }.map(\.connection)
        guard !represented.isEmpty else { throw Refusal(reasons: [Self.noConnections]) }
        let placed = try await store.portfolio(PortfolioScope(connections: represented)).assignments
            .filter { $0.kind == .congestionPoint && $0.holds(on: day) }
        let placedByPoint = Dictionary(grouping: placed, by: \.holder)
        let points = try await store.portfolio(PortfolioScope(congestionPoints: Array(placedByPoint.keys))).congestionPoints
        var portfolios: [AGRPortfolioQueryResponse.DSOPortfolio] = []
        for (dso, records) in Dictionary(grouping: points, by: \.dso).sorted(by: { $0.key < $1.key }) {
            let congestionPoints = try records.sorted { $0.entityAddress < $1.entityAddress }.map { point in
                AGRPortfolioQueryResponse.CongestionPoint(
                    entityAddress: try EntityAddress(validating: point.entityAddress), mutexOffersSupported: point.mutexOffersSupported,
                    dayAheadRedispatchBy: try Self.redispatchBy(point.dayAheadRedispatchBy),
                    intradayRedispatchBy: try point.intradayRedispatchBy.map(Self.redispatchBy),
                    connections: try (placedByPoint[point.entityAddress] ?? []).map {
                        AGRPortfolioQueryResponse.ConnectionRef(entityAddress: try EntityAddress(validating: $0.connection))
                    })
            }
            portfolios.append(.init(dsoDomain: try InternetDomain(validating: dso), congestionPoints: congestionPoints))
        }
        // The XSD wants at least one DSO portfolio in a view: with none, connections in no
        // congestion point cannot be listed.
        guard !portfolios.isEmpty else { throw Refusal(reasons: [Self.noneInACongestionPoint]) }
        let placedConnections = Set(placed.map(\.connection))
        let unplaced = try represented.filter { !placedConnections.contains($0) }.sorted()
            .map { AGRPortfolioQueryResponse.ConnectionRef(entityAddress: try EntityAddress(validating: $0)) }
        return AGRPortfolioQueryResponse(result: .accepted, timeZone: query.timeZone, referencedMessageID: messageID,
                                         period: query.period, dsoViews: [.init(dsoPortfolios: portfolios, connections: unplaced)])
    }

    /// The connections of one of the DSO's congestion points on the Period, each with the
    /// aggregator representing it (FR15).
    package func answer(_ query: DSOPortfolioQuery, from dso: InternetDomain, to messageID: UUIDValue) async throws -> DSOPortfolioQueryResponse {
        let day = query.period.text
        let ea = query.entityAddress.text
        let held = try await store.portfolio(PortfolioScope(congestionPoints: [ea], holders: [(.congestionPoint, ea)]))
        guard held.congestionPoints.first?.dso == dso.text else {
            throw Refusal(reasons: ["\(RejectionReason.invalidCongestionPoint): [\(ea)] is not one of the sender's"])
        }
        let connections = held.assignments.filter { $0.holds(on: day) }.map(\.connection)
        guard !connections.isEmpty else { throw Refusal(reasons: [Self.noConnections]) }
        let representing = Dictionary(
            try await store.portfolio(PortfolioScope(connections: connections)).assignments
                .filter { $0.kind == .aggregator && $0.holds(on: day) }.map { ($0.connection, $0.holder) },
            uniquingKeysWith: { first, _ in first })
        let listed = try connections.sorted().map { connection in
            DSOPortfolioQueryResponse.Connection(
                entityAddress: try EntityAddress(validating: connection),
                agrDomain: try representing[connection].map { try InternetDomain(validating: $0) })
        }
        return DSOPortfolioQueryResponse(result: .accepted, referencedMessageID: messageID, timeZone: query.timeZone,
                                         period: query.period,
                                         congestionPoint: .init(entityAddress: query.entityAddress, connections: listed))
    }

    static func redispatchBy(_ stored: String) throws -> RedispatchBy {
        guard let party = RedispatchBy(rawValue: stored) else { throw SCDError("the register holds redispatch party \"\(stored)\"") }
        return party
    }

    /// The calendar day `time` falls on in `timeZone`.
    package static func day(of time: Timestamp, in timeZone: TimeZone) -> Period {
        let offset = Int64(timeZone.secondsFromGMT(for: Date(time)))
        let local = time.millisecondsSince1970 + offset * 1000
        return Period(daysSince1970: Int(local >= 0 ? local / 86_400_000 : (local + 1) / 86_400_000 - 1))
    }
}

private extension [ConnectionAssignment] {
    /// Puts `row` in place of the rows of its holder it overlaps (or that begin the same day),
    /// among one connection's rows: what the sender says of those days replaces what it said before.
    mutating func replace(with row: ConnectionAssignment) {
        removeAll { $0.kind == row.kind && $0.holder == row.holder && ($0.overlaps(row) || $0.firstDay == row.firstDay) }
        append(row)
    }
}
