import GridCore
import Market
import Testing
import TestSupport

/// Statement versions over random corrections: a version's differences account for every cent
/// it moved, name exactly the lines that changed, and do not depend on the lines' order.
@Suite struct StatementTests {
    static func line(_ index: Int, using random: inout SplitMix64) -> StatementLine {
        let availability = index % 4 == 0
        return StatementLine(kind: availability ? .availability : .activation, reference: "ref-\(index)", buyer: "dso-1", aggregator: "agr-1",
                             day: availability ? "2026-11" : "2026-11-\(10 + index % 20)", location: "cp-1",
                             deliveredWh: Int.random(in: 0...10_000, using: &random), deficiencyWh: Int.random(in: 0...1_000, using: &random),
                             settled: Int.random(in: 0...96, using: &random), unsettled: Int.random(in: 0...4, using: &random),
                             fee: Money(cents: Int64.random(in: 0...1_000_000, using: &random)),
                             penalty: Money(cents: Int64.random(in: 0...100_000, using: &random)))
    }

    @Test func versionsAccountForEveryCentTheyMove() {
        var random = SplitMix64(seed: 2050)
        for round in 0..<200 {
            let lines = (0..<Int.random(in: 0...30, using: &random)).map { Self.line($0, using: &random) }
            let first = Statement.issue(month: "2026-11", party: "dso-1", role: .dso, lines: lines, after: nil, issued: 1, monthEnded: true)!
            #expect(first.version == 1 && first.totals.net == lines.map(\.net).sum())
            #expect(first.totals.net == first.totals.availabilityFees + first.totals.activationFees - first.totals.penalties)
            #expect(Statement.issue(month: "2026-11", party: "dso-1", role: .dso, lines: lines.shuffled(using: &random), after: first,
                                    issued: 2, monthEnded: true) == nil, "round \(round): the same lines in another order issue nothing")

            // Corrections: some lines re-priced, some withdrawn, some added.
            var corrected = lines.filter { _ in Int.random(in: 0..<8, using: &random) != 0 }
            var touched = Set(lines.map(\.key)).subtracting(corrected.map(\.key))
            for index in corrected.indices where Int.random(in: 0..<4, using: &random) == 0 {
                corrected[index] = StatementLine(kind: corrected[index].kind, reference: corrected[index].reference, buyer: "dso-1",
                                                 aggregator: "agr-1", day: corrected[index].day, location: "cp-1",
                                                 deliveredWh: corrected[index].deliveredWh, deficiencyWh: corrected[index].deficiencyWh,
                                                 settled: corrected[index].settled + 1, unsettled: corrected[index].unsettled,
                                                 fee: corrected[index].fee + Money(cents: Int64.random(in: -500...500, using: &random)),
                                                 penalty: corrected[index].penalty)
                touched.insert(corrected[index].key)
            }
            for index in 100..<(100 + Int.random(in: 0...3, using: &random)) {
                let added = Self.line(index, using: &random)
                corrected.append(added)
                touched.insert(added.key)
            }
            guard let second = Statement.issue(month: "2026-11", party: "dso-1", role: .dso, lines: corrected.shuffled(using: &random),
                                               after: first, issued: 3, monthEnded: true) else {
                #expect(touched.isEmpty, "round \(round): lines changed, no version")
                continue
            }
            #expect(second.version == 2 && Set(second.differences.map { "\($0.kind.rawValue) \($0.reference)" }) == touched)
            #expect(second.totals.net - first.totals.net == second.differences.map(\.change).sum(), "round \(round)")
            let reordered = Statement.issue(month: "2026-11", party: "dso-1", role: .dso, lines: corrected.reversed(), after: first,
                                            issued: 3, monthEnded: true)
            #expect(reordered == second, "round \(round): the same version whatever the lines' order")
        }
    }
}
