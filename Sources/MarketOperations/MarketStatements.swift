import GridCore
import Market
import SCD

/// A statement version as the market keeps it (never replaced once stored but for its UFTP
/// delivery), with the FlexSettlement that carried it to a UFTP aggregator.
package struct MarketStatement: Codable, Sendable {
    package var statement: Statement
    /// The conversation all versions of the month's FlexSettlements to the aggregator share, and
    /// the message that carried this version.
    package var conversationID: String?
    package var flexSettlement: String?

    enum CodingKeys: String, CodingKey { case statement, conversationID = "conversation_id", flexSettlement = "flex_settlement" }

    package static func id(month: String, role: Statement.Role, party: String, version: Int) -> String {
        "\(month)/\(role.rawValue)/\(party)/v\(version)"
    }
}

extension MarketStatement: MarketRecord {
    package static var kind: MarketDocument.Kind { .statement }
    package var recordID: String {
        Self.id(month: statement.month, role: statement.role, party: statement.party, version: statement.version)
    }
    package var day: String { statement.month + "-01" }
}

extension Marketplace {
    /// A settlement run (docs/market.md, "Statements of account"): settles the month as it stands
    /// and, for every party whose lines differ from its latest statement, issues the next version.
    /// Returns the versions issued (none when nothing changed).
    package func closeMonth(_ month: String, now: Timestamp) async throws -> [Statement] {
        try await settlementRun(month, now: now).issued
    }

    /// A settlement run, with the month's settlement its statements were drawn from and each
    /// party's latest version after it.
    package func settlementRun(_ month: String, now: Timestamp) async throws
        -> (issued: [Statement], report: MonthlyReport, latest: [StatementOwner: MarketStatement]) {
        guard try monthStart(month) <= now else { throw MarketRefusal.conflict("\(month) has not begun") }
        let ended = MarketCalendar.days(of: month).last.flatMap { calendar.day(after: $0) }.flatMap { calendar.start(of: $0) }.map { $0 <= now } ?? false
        return try await holding(statementLock) {
            let report = try await monthlyReport(month: month, aggregator: nil)
            let lines = try await statementLines(report)
            var latest = try await latestStatements(month: month)
            var issued: [Statement] = []
            // A party none of whose lines remain (an order withdrawn from the month) is owed an empty version.
            for owner in Set(lines.keys).union(latest.keys).sorted(by: { $0.text < $1.text }) {
                let previous = latest[owner]
                guard let statement = Statement.issue(month: month, party: owner.party, role: owner.role, lines: lines[owner] ?? [],
                                                      after: previous?.statement, issued: now.millisecondsSince1970, monthEnded: ended) else { continue }
                let record = MarketStatement(statement: statement, conversationID: previous?.conversationID)
                guard try await store.put(record, replace: false) else {
                    throw MarketRefusal.conflict("statement \(record.recordID) exists already")
                }
                latest[owner] = record
                issued.append(statement)
            }
            logger.notice("market: settlement run of \(month) issued \(issued.count) statement versions")
            return (issued, report, latest)
        }
    }

    package struct StatementOwner: Hashable, Sendable {
        package var role: Statement.Role
        package var party: String
        var text: String { "\(role.rawValue) \(party)" }
    }

    /// The month's lines by the party whose statement holds them: each order's and contract's line
    /// is on its buyer's and its aggregator's.
    private nonisolated func statementLines(_ report: MonthlyReport) async throws -> [StatementOwner: [StatementLine]] {
        let month = report.month
        let requests = Dictionary(try await store.records(MarketRequest.self, days: Self.days(ofMonth: month)).map { ($0.key, $0) },
                                  uniquingKeysWith: { first, _ in first })
        var lines: [StatementOwner: [StatementLine]] = [:]
        func add(_ line: StatementLine, buyer role: Statement.Role) {
            lines[StatementOwner(role: role, party: line.buyer), default: []].append(line)
            lines[StatementOwner(role: .aggregator, party: line.aggregator), default: []].append(line)
        }
        for order in report.orders {
            let request = requests[order.request]
            let buyer = MarketKey.owner(order.request) ?? request?.owner ?? "unknown"
            let settled = order.pods.reduce(0) { $0 + $1.isps.filter(\.verified).count }
            add(StatementLine(kind: .activation, reference: order.order, buyer: buyer, aggregator: order.aggregator, day: order.day,
                              location: order.location, deliveredWh: energyWh(order.delivered), deficiencyWh: energyWh(order.deficiency),
                              settled: settled, unsettled: order.unverified.count, fee: order.fee, penalty: order.penalty),
                buyer: request?.entry.buyer == Buyer.tso.rawValue ? .tso : .dso)
        }
        for contract in report.contracts {
            add(StatementLine(kind: .availability, reference: contract.contract, buyer: contract.buyer, aggregator: contract.aggregator,
                              day: month, location: contract.congestionPoint, settled: contract.obligations, unsettled: contract.misses.count,
                              fee: contract.availabilityFee, penalty: contract.penalty),
                buyer: .dso)
        }
        return lines
    }

    /// Each party's latest statement of the month.
    private nonisolated func latestStatements(month: String) async throws -> [StatementOwner: MarketStatement] {
        var latest: [StatementOwner: MarketStatement] = [:]
        for record in try await store.records(MarketStatement.self, days: (month + "-01")...(month + "-01")) {
            let owner = StatementOwner(role: record.statement.role, party: record.statement.party)
            if (latest[owner]?.statement.version ?? 0) < record.statement.version { latest[owner] = record }
        }
        return latest
    }

    /// The month's statements `party` may read, every version, by party then version: a DSO, the
    /// TSO and an aggregator their own; the administrator and the market operator all.
    package nonisolated func statements(month: String, visibleTo party: Party) async throws -> [Statement] {
        _ = try monthStart(month)
        return try await store.records(MarketStatement.self, days: (month + "-01")...(month + "-01")).map(\.statement)
            .filter { Self.reads(party, $0) }
            .sorted { ($0.role.rawValue, $0.party, $0.version) < ($1.role.rawValue, $1.party, $1.version) }
    }

    package nonisolated func statement(month: String, role: Statement.Role, party owner: String, version: Int,
                                       visibleTo party: Party) async throws -> MarketStatement {
        let id = MarketStatement.id(month: month, role: role, party: owner, version: version)
        guard let record = try await store.record(MarketStatement.self, id: id), Self.reads(party, record.statement) else {
            throw MarketRefusal.notFound("no statement \(id)")
        }
        return record
    }

    nonisolated static func reads(_ party: Party, _ statement: Statement) -> Bool {
        switch (party.role, statement.role) {
        case (.admin, _), (.marketOperator, _): true
        case (.dso, .dso), (.tso, .tso), (.aggregator, .aggregator): party.owner == statement.party
        default: false
        }
    }

    /// Records the FlexSettlement that carried a version (its figures stay as issued).
    package nonisolated func recordDelivery(of record: MarketStatement, messageID: String, conversationID: String) async throws {
        var record = record
        record.flexSettlement = messageID
        record.conversationID = conversationID
        try await store.put(record, replace: true)
    }
}
