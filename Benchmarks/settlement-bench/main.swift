// Settling a month (issue 7): 10,000 PODs in 100 congestion points, each point ordered once a day
// for four ISPs (one order of 100 PODs: 400 set-points), 30 days: 3,000 orders, 1.2 million POD
// ISPs, settled from 1.2 million certified quarter-hour measures (1 % left uncertified) through
// the coordinator's monthly report (I-15), on SQLite and on PostgreSQL; then the settlement runs
// that issue the month's statements of account (issue 28): the first, one with nothing changed,
// and one after the uncertified measures were certified late (every order with one changes).
// `console`: every screen of the operator console (issue 9) rendered on that month (ConsoleBench).
// Run: swift run -c release settlement-bench [sqlite|postgres|both] [PODS] [DAYS]
//      swift run -c release settlement-bench console [sqlite|postgres] [RENDERS]
import Foundation
import GridCore
import Logging
import MarketOperations

let arguments = CommandLine.arguments
let logger = Logger(label: "settlement-bench")
if arguments.count > 1, arguments[1] == "console" {
    try await ConsoleBench.run(backend: arguments.count > 2 ? arguments[2] : "sqlite",
                               renders: arguments.count > 3 ? Int(arguments[3]) ?? 50 : 50, logger: logger)
    exit(0)
}
let backends = arguments.count > 1 && arguments[1] != "both" ? [arguments[1]] : ["sqlite", "postgres"]
let podCount = arguments.count > 2 ? Int(arguments[2]) ?? 10_000 : 10_000
let dayCount = arguments.count > 3 ? Int(arguments[3]) ?? 30 : 30

print("Machine: \(machine). \(podCount) PODs, \(dayCount) days, \(podCount / BenchMonth.podsPerPoint) orders a day of "
      + "\(BenchMonth.podsPerPoint) PODs × \(BenchMonth.isps.count) ISPs.")
for backend in backends {
    let month = try await BenchMonth(backend: backend, podCount: podCount, dayCount: dayCount, logger: logger)
    let loading = DispatchTime.now().uptimeNanoseconds
    try await month.loadOrders()
    print("\(backend): loaded \(podCount * dayCount * BenchMonth.isps.count) measures and \(dayCount * podCount / BenchMonth.podsPerPoint) orders in \(String(format: "%.1f", seconds(since: loading))) s")

    var best = Double.infinity
    var report: MonthlyReport?
    for _ in 0..<3 {
        let start = DispatchTime.now().uptimeNanoseconds
        report = try await month.market.monthlyReport(month: "2026-11", aggregator: nil)
        best = min(best, seconds(since: start))
    }
    let settled = report!
    let rows = settled.orders.reduce(0) { $0 + $1.pods.reduce(0) { $0 + $1.isps.count } }
    let unverified = settled.aggregators.reduce(0) { $0 + $1.unverified }
    let net = settled.aggregators.reduce(Money.zero) { $0 + $1.net }
    print("\(backend): month settled in \(String(format: "%.2f", best)) s (best of 3): \(settled.orders.count) orders, \(rows) POD ISPs "
          + "(\(String(format: "%.0f", Double(rows) / best)) a second), \(unverified) unverified, net \(net) to \(settled.aggregators.count) aggregators")

    // Settlement runs: statements of account issued, none, then the corrections.
    let closing = Timestamp(rfc3339: "2026-12-02T08:00:00.000Z")!
    for (title, correct) in [("first run", false), ("run, nothing changed", false), ("run after late certified readings", true)] {
        if correct { try await month.certifyLate() }
        let start = DispatchTime.now().uptimeNanoseconds
        let issued = try await month.market.closeMonth("2026-11", now: closing)
        let lines = issued.reduce(0) { $0 + $1.lines.count }, changed = issued.reduce(0) { $0 + $1.differences.count }
        print("\(backend): \(title) in \(String(format: "%.2f", seconds(since: start))) s: \(issued.count) statement versions, "
              + "\(lines) lines, \(changed) changed lines")
    }
}
