import Foundation
import GridCore
import Hummingbird
import Market
import MarketOperations
import PlatformAPI
import ReadingsIngest
import SCD

/// The monthly settlement: per aggregator, per order, the contracts' months, the obligations.
extension Console {
    package struct SettlementPage {
        package struct AggregatorRow {
            package let aggregator: String
            package let orders: Int
            package let delivered: String
            package let deficiency: String
            package let fee: String
            package let penalty: String
            package let net: String
            package let unverified: Int
            package let availability: String
            package let total: String
        }
        package struct OrderRow {
            package let id: String
            package let day: String
            package let aggregator: String
            package let delivered: String
            package let deficiency: String
            package let net: String
            package let unverified: Int
        }
        let chrome: Chrome
        package let month: String
        let previousMonth: String
        let nextMonth: String
        package struct MissRow {
            package let request: String
            package let day: String
            package let isps: String
            package let reason: String
        }
        package struct ContractRow {
            package let contract: String
            package let buyer: String
            package let aggregator: String
            package let point: String
            package let fee: String
            package let obligations: Int
            package let penalty: String
            package let net: String
            package let misses: [MissRow]
        }
        package let aggregators: [AggregatorRow]
        package let contracts: [ContractRow]
        package let orders: [OrderRow]
        /// The pages of orders, when one does not hold them all.
        let pager: Pager.Navigation?
        package let csv: String
        let aggregatorView: Bool
        package struct ObligationRow {
            package let aggregator: String
            package let requests: Int
            package let answered: Int
            package let responseRate: String
            package let short: Bool
            package let offers: Int
            package let revoked: Int
            package let orders: Int
            package let deliveryRate: String
        }
        let settledAgo: String
        package let obligations: [ObligationRow]
        package let points: [Choice]
        package let point: String?
        package let aggregator: String?
    }

    /// Orders per page of the month's settlement on screen; the CSV holds every one.
    static let settlementPageOrders = 250

    package func settlement(_ request: Request, _ context: APIContext, csv: Bool) async throws -> Response {
        let session = try session(context)
        let month = try context.parameters.require("month")
        var aggregator = request.uri.queryParameters["aggregator"].map(String.init)
        if let own = scope(session) {
            if let asked = aggregator, asked != own {
                denied(session, "the settlement of \(asked)")
                throw Problem(.forbidden, "An aggregator sees its own settlement only.")
            }
            aggregator = own
        }
        if csv {
            let report = try await market.monthlyReport(month: month, aggregator: aggregator)
            var headers = HTTPFields()
            headers[.contentType] = "text/csv; charset=utf-8"
            headers[.contentDisposition] = "attachment; filename=\"settlement-\(month)\(aggregator.map { "-\($0)" } ?? "").csv\""
            Self.hardened(&headers)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: report.csv)))
        }
        let market = self.market
        let now = Timestamp.realNow().millisecondsSince1970
        let snapshot = try await settlements.report(month: month, now: now) { try await market.monthlyReport(month: month, aggregator: nil) }
        var report = aggregator.map { snapshot.report.only(aggregator: $0) } ?? snapshot.report
        // A DSO sees the contracts it buys, not another DSO's.
        if session.caller.role == .dso { report.contracts = report.contracts.filter { $0.buyer == session.caller.participant } }
        let point = request.uri.queryParameters["point"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
        let obligations = try await market.obligations(month: month, report: report, aggregator: aggregator, point: point)
        func percent(_ share: Double) -> String { "\(Int((share * 100).rounded())) %" }
        let pager = Pager(count: report.orders.count, size: Self.settlementPageOrders, asked: request.uri.queryParameters["page"].map(String.init))
        return html(render("settlement", SettlementPage(
            chrome: chrome(session, "Settlement \(month)", "settlement"), month: month, previousMonth: Self.month(month, shiftedBy: -1), nextMonth: Self.month(month, shiftedBy: 1),
            aggregators: report.aggregators.map {
                .init(aggregator: $0.aggregator, orders: $0.orders, delivered: Units.wattHours(Double($0.deliveredWh)),
                      deficiency: Units.wattHours(Double($0.deficiencyWh)), fee: Units.euros($0.fee), penalty: Units.euros($0.penalty),
                      net: Units.euros($0.net), unverified: $0.unverified, availability: Units.euros($0.availabilityFee),
                      total: Units.euros($0.total))
            },
            contracts: report.contracts.map { month in
                .init(contract: month.contract, buyer: month.buyer, aggregator: month.aggregator, point: month.congestionPoint,
                      fee: Units.euros(month.availabilityFee), obligations: month.obligations, penalty: Units.euros(month.penalty),
                      net: Units.euros(month.net), misses: month.misses.map {
                          .init(request: $0.request, day: $0.day, isps: Self.ispNumbers($0.isps), reason: $0.reason)
                      })
            },
            orders: report.orders[pager.rows].map {
                .init(id: $0.order, day: $0.day, aggregator: $0.aggregator, delivered: energy($0.delivered),
                      deficiency: energy($0.deficiency), net: Units.euros($0.net), unverified: $0.unverified.count)
            },
            pager: pager.navigation { page in
                "/console/settlements/\(month)?" + [("aggregator", aggregator), ("point", point), ("page", page)].compactMap { name, value in
                    value.map { "\(name)=\($0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
                }.joined(separator: "&") + "#orders"
            },
            csv: "/console/settlements/\(month)/csv" + (aggregator.map { "?aggregator=\($0)" } ?? ""),
            aggregatorView: session.caller.role == .aggregator, settledAgo: Units.duration(ms: max(0, now - snapshot.settled)),
            obligations: obligations.aggregators.map {
                .init(aggregator: $0.aggregator, requests: $0.requests, answered: $0.answered, responseRate: $0.responseRate.map(percent) ?? "—",
                      short: $0.answered < $0.requests, offers: $0.offers, revoked: $0.revoked, orders: $0.orders,
                      deliveryRate: $0.deliveryRate.map(percent) ?? "—")
            },
            points: obligations.points.map { .init(value: $0, label: $0, selected: $0 == point) }, point: point,
            aggregator: scope(session) == nil ? aggregator : nil)))
    }
}
