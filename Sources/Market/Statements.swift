import GridCore

/// Statements of account (FUSION FR46, FR50; docs/market.md, "Statements of account"): what a
/// month's settlement owes, per party — each buyer (a DSO, the TSO) and each aggregator — as
/// lines traceable to orders and contracts. A statement is never edited: a settlement run that
/// finds a line changed (a late certified reading, a dispute settled) issues the next version,
/// which lists its differences from the one before.
///
/// Amounts are the aggregator's due, in cents: a fee is paid to it, a penalty charged to it,
/// whichever party's statement the line is on (the buyer's statement owes the net, the
/// aggregator's is owed it).
public struct StatementLine: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, Comparable {
        /// An order's activation: its fee for what was delivered, its penalty for what fell short.
        case activation
        /// A contract's month: its availability fee, and the penalties for its obligation misses.
        case availability

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    public var kind: Kind
    /// The order's or the contract's id.
    public var reference: String
    public var buyer: String
    public var aggregator: String
    /// The order's market day, or the contract's month.
    public var day: String
    /// The congestion point.
    public var location: String
    /// Activation: energy delivered and short, Wh. Availability: 0.
    public var deliveredWh: Int
    public var deficiencyWh: Int
    /// Activation: POD ISPs settled on certified, complete measures, and those left unverified
    /// (paid nothing). Availability: the requests the contract was owed, and those it missed.
    public var settled: Int
    public var unsettled: Int
    public var fee: Money
    public var penalty: Money
    public var net: Money

    public init(kind: Kind, reference: String, buyer: String, aggregator: String, day: String, location: String,
                deliveredWh: Int = 0, deficiencyWh: Int = 0, settled: Int, unsettled: Int, fee: Money, penalty: Money) {
        self.kind = kind
        self.reference = reference
        self.buyer = buyer
        self.aggregator = aggregator
        self.day = day
        self.location = location
        self.deliveredWh = deliveredWh
        self.deficiencyWh = deficiencyWh
        self.settled = settled
        self.unsettled = unsettled
        self.fee = fee
        self.penalty = penalty
        self.net = fee - penalty
    }

    /// A line's identity across versions.
    public var key: String { "\(kind.rawValue) \(reference)" }

    enum CodingKeys: String, CodingKey {
        case kind, reference, buyer, aggregator, day, location, deliveredWh = "delivered_wh", deficiencyWh = "deficiency_wh"
        case settled, unsettled, fee, penalty, net
    }
}

/// A line that changed from the previous version: added (previous nil), withdrawn (current
/// nil) or different; `change` is the net's difference.
public struct StatementDifference: Codable, Sendable, Equatable {
    public var kind: StatementLine.Kind
    public var reference: String
    public var previous: StatementLine?
    public var current: StatementLine?
    public var change: Money
}

public struct StatementTotals: Codable, Sendable, Equatable {
    public var availabilityFees: Money
    public var activationFees: Money
    public var penalties: Money
    public var net: Money

    enum CodingKeys: String, CodingKey {
        case availabilityFees = "availability_fees", activationFees = "activation_fees", penalties, net
    }

    public init(_ lines: [StatementLine]) {
        availabilityFees = lines.filter { $0.kind == .availability }.map(\.fee).sum()
        activationFees = lines.filter { $0.kind == .activation }.map(\.fee).sum()
        penalties = lines.map(\.penalty).sum()
        net = lines.map(\.net).sum()
    }
}

public struct Statement: Codable, Sendable, Equatable {
    public enum Role: String, Codable, Sendable {
        case dso, tso, aggregator
    }

    public var month: String
    /// The participant it is for (a DSO's or aggregator's id; `TSO` when the TSO's requests named none).
    public var party: String
    public var role: Role
    public var version: Int
    /// When the settlement run issued it (ms since 1970), and whether the month had ended then
    /// (a statement of a month still running is provisional: later runs will add to it).
    public var issued: Int64
    public var monthEnded: Bool
    /// In the order of their kind and reference.
    public var lines: [StatementLine]
    public var totals: StatementTotals
    /// From version `version − 1` (empty for the first).
    public var differences: [StatementDifference]

    enum CodingKeys: String, CodingKey {
        case month, party, role, version, issued, monthEnded = "month_ended", lines, totals, differences
    }

    /// Version 1, or the version after `previous` with the differences from it; nil when the lines
    /// are those of `previous` (nothing to issue).
    public static func issue(month: String, party: String, role: Role, lines: [StatementLine], after previous: Statement?,
                             issued: Int64, monthEnded: Bool) -> Statement? {
        let lines = lines.sorted { ($0.kind, $0.reference) < ($1.kind, $1.reference) }
        let changes = previous.map { Self.differences(from: $0.lines, to: lines) } ?? []
        if previous != nil, changes.isEmpty { return nil }
        return Statement(month: month, party: party, role: role, version: (previous?.version ?? 0) + 1, issued: issued,
                         monthEnded: monthEnded, lines: lines, totals: StatementTotals(lines), differences: changes)
    }

    /// The lines added, withdrawn or changed from `previous` to `current`, by key.
    public static func differences(from previous: [StatementLine], to current: [StatementLine]) -> [StatementDifference] {
        let before = Dictionary(previous.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(current.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        return Set(before.keys).union(after.keys).sorted().compactMap { key in
            let old = before[key], new = after[key]
            guard old != new, let line = new ?? old else { return nil }
            return StatementDifference(kind: line.kind, reference: line.reference, previous: old, current: new,
                                       change: (new?.net ?? .zero) - (old?.net ?? .zero))
        }
    }

    /// A version as paths name it: `v2` (or `2`), 1 to 1,000,000.
    public static func version(_ text: some StringProtocol) -> Int? {
        Int(text.drop { $0 == "v" }).flatMap { (1...1_000_000).contains($0) ? $0 : nil }
    }

    /// One row per line, then the totals (docs/market.md, "Statements of account").
    public var csv: String {
        var rows = ["month,party,role,version,kind,reference,buyer,aggregator,day,location,delivered_wh,deficiency_wh,settled,unsettled,fee,penalty,net"]
        let head = [month, party, role.rawValue, "\(version)"]
        for line in lines {
            rows.append((head + [line.kind.rawValue, line.reference, line.buyer, line.aggregator, line.day, line.location,
                                 "\(line.deliveredWh)", "\(line.deficiencyWh)", "\(line.settled)", "\(line.unsettled)",
                                 "\(line.fee)", "\(line.penalty)", "\(line.net)"]).joined(separator: ","))
        }
        rows.append((head + ["total", "", "", "", "", "", "", "", "", "\(totals.availabilityFees + totals.activationFees)",
                             "\(totals.penalties)", "\(totals.net)"]).joined(separator: ","))
        return rows.joined(separator: "\n") + "\n"
    }
}

/// A statement without its lines, as lists show it.
public struct StatementSummary: Codable, Sendable, Equatable {
    public var month: String
    public var party: String
    public var role: Statement.Role
    public var version: Int
    public var issued: Int64
    public var monthEnded: Bool
    public var totals: StatementTotals
    public var lines: Int
    public var differences: Int

    enum CodingKeys: String, CodingKey {
        case month, party, role, version, issued, monthEnded = "month_ended", totals, lines, differences
    }
}

extension Statement {
    public var summary: StatementSummary {
        StatementSummary(month: month, party: party, role: role, version: version, issued: issued, monthEnded: monthEnded,
                         totals: totals, lines: lines.count, differences: differences.count)
    }
}
