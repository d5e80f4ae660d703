import Foundation
import GridCore
import Hummingbird
import Market
import MarketOperations
import PlatformAPI
import SCD

/// Statements of account (docs/market.md, "Statements of account"): the month's versions a
/// party may read, a settlement run for the market operator, and each version printable and as CSV.
extension Console {
    package struct StatementsPage {
        package struct Row {
            package let href: String
            package let party: String
            package let role: String
            package let version: Int
            package let issued: String
            package let provisional: Bool
            package let availability: String
            package let activation: String
            package let penalties: String
            package let net: String
            package let differences: Int
        }
        let chrome: Chrome
        package let month: String
        let previousMonth: String
        let nextMonth: String
        package let statements: [Row]
        let runs: Bool
        let issued: String?
    }

    package struct StatementPage {
        package struct Line {
            package let kind: String
            package let reference: String
            package let href: String?
            package let counterparty: String
            package let day: String
            package let location: String
            package let delivered: String
            package let settled: String
            package let fee: String
            package let penalty: String
            package let net: String
        }
        package struct Difference {
            package let kind: String
            package let reference: String
            package let previous: String
            package let current: String
            package let change: String
        }
        let chrome: Chrome
        package let month: String
        package let party: String
        package let role: String
        package let version: Int
        let previous: Int
        package let issued: String
        let provisional: Bool
        let owes: Bool
        package let lines: [Line]
        /// The pages of lines, when one does not hold them all.
        let pager: Pager.Navigation?
        package let differences: [Difference]
        let availability: String
        let activation: String
        let penalties: String
        package let net: String
        let csv: String
        let versions: String
    }

    package struct SettlementRunForm: ConsoleForm {
        package var csrf: String?
    }

    /// The month's statements the session may read, every version.
    package func statements(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        let month = try context.parameters.require("month")
        let statements = try await market.statements(month: month, visibleTo: party(session))
        let issued = request.uri.queryParameters["issued"].flatMap { Int($0) }
        return html(render("statements", StatementsPage(
            chrome: chrome(session, "Statements \(month)", "statements"), month: month, previousMonth: Self.month(month, shiftedBy: -1),
            nextMonth: Self.month(month, shiftedBy: 1),
            statements: statements.map { statement in
                .init(href: Self.statementPath(statement), party: statement.party, role: statement.role.rawValue, version: statement.version,
                      issued: time.shown(Timestamp(millisecondsSince1970: statement.issued), seconds: false), provisional: !statement.monthEnded,
                      availability: Units.euros(statement.totals.availabilityFees), activation: Units.euros(statement.totals.activationFees),
                      penalties: Units.euros(statement.totals.penalties), net: Units.euros(statement.totals.net),
                      differences: statement.differences.count)
            },
            runs: [.admin, .marketOperator].contains(session.caller.role),
            issued: issued.map { $0 == 0 ? "The run found nothing changed: no version issued." : "The run issued \($0) statement versions." })))
    }

    /// A settlement run from the screen (as `POST /api/v1/market/settlements/{month}/statements`).
    package func runSettlement(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        _ = try await form(SettlementRunForm.self, request, context)
        let month = try context.parameters.require("month")
        let issued = try await market.closeMonth(month, now: market.clock())
        logger.notice("console: \(session.caller.role.rawValue) ran the settlement of \(month): \(issued.count) statement versions")
        return Self.redirect("/console/statements/\(month)?issued=\(issued.count)")
    }

    /// Lines per page of a statement on screen; `?page=all` shows (and prints) every line.
    static let statementPageLines = 250

    /// One version, printable; `csv` for its CSV (every line).
    package func statement(_ request: Request, _ context: APIContext, csv: Bool) async throws -> Response {
        let session = try session(context)
        let month = try context.parameters.require("month"), owner = try context.parameters.require("party")
        guard let role = Statement.Role(rawValue: try context.parameters.require("role")),
              let version = Statement.version(try context.parameters.require("version")) else {
            throw Problem(.notFound, "No such statement.")
        }
        let statement = try await market.statement(month: month, role: role, party: owner, version: version, visibleTo: party(session)).statement
        if csv {
            var headers = HTTPFields()
            headers[.contentType] = "text/csv; charset=utf-8"
            headers[.contentDisposition] = "attachment; filename=\"statement-\(month)-\(role.rawValue)-\(owner)-v\(version).csv\""
            Self.hardened(&headers)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: statement.csv)))
        }
        func row(_ line: StatementLine) -> StatementPage.Line {
            .init(kind: line.kind == .activation ? "Activation" : "Availability", reference: line.reference,
                  href: line.kind == .activation ? "/console/orders/\(line.reference)" : nil,
                  counterparty: role == .aggregator ? line.buyer : line.aggregator, day: line.day, location: line.location,
                  delivered: line.kind == .activation ? Units.wattHours(Double(line.deliveredWh)) : "—",
                  settled: line.kind == .activation ? "\(line.settled) of \(line.settled + line.unsettled) POD ISPs"
                      : "\(line.settled - line.unsettled) of \(line.settled) requests met",
                  fee: Units.euros(line.fee), penalty: Units.euros(line.penalty), net: Units.euros(line.net))
        }
        let path = Self.statementPath(statement)
        let pager = Pager(count: statement.lines.count, size: Self.statementPageLines, asked: request.uri.queryParameters["page"].map(String.init))
        return html(render("statement", StatementPage(
            chrome: chrome(session, "Statement \(month) \(owner) v\(version)", "statements"), month: month, party: owner,
            role: role.rawValue, version: version, previous: version - 1, issued: time.shown(Timestamp(millisecondsSince1970: statement.issued), seconds: false),
            provisional: !statement.monthEnded, owes: role != .aggregator, lines: statement.lines[pager.rows].map(row),
            pager: pager.navigation { "\(path)?page=\($0)" },
            differences: statement.differences.map {
                .init(kind: $0.kind.rawValue, reference: $0.reference, previous: $0.previous.map { Units.euros($0.net) } ?? "—",
                      current: $0.current.map { Units.euros($0.net) } ?? "—", change: Units.euros($0.change))
            },
            availability: Units.euros(statement.totals.availabilityFees), activation: Units.euros(statement.totals.activationFees),
            penalties: Units.euros(statement.totals.penalties), net: Units.euros(statement.totals.net), csv: path + "/csv",
            versions: "/console/statements/\(month)")))
    }

    static func statementPath(_ statement: Statement) -> String {
        "/console/statements/\(statement.month)/\(statement.role.rawValue)/\(statement.party)/v\(statement.version)"
    }

    /// `YYYY-MM` moved by `months` (`month` checked by the caller's route or the market).
    static func month(_ month: String, shiftedBy months: Int) -> String {
        let parts = month.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2 else { return month }
        let index = parts[0] * 12 + parts[1] - 1 + months
        return String(format: "%04d-%02d", index / 12, index % 12 + 1)
    }

}
