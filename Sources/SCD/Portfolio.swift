/// The Common Reference (the CRO's register, UFTP §2, FUSION FR09–FR15): which congestion point
/// of which DSO each connection is in, and which aggregator represents it, over time. Days are
/// `YYYY-MM-DD` (UFTP Periods), so they order as text in both backends.

/// A DSO or an aggregator the CRO's operator registered (FR09, FR11): in closed mode only they
/// may update or query the register.
public struct CROParticipant: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable {
        case dso = "DSO", agr = "AGR"
    }

    public var role: Role
    public var domain: String
    public var name: String

    public init(role: Role, domain: String, name: String) {
        self.role = role
        self.domain = domain
        self.name = name
    }
}

/// A congestion point as its DSO declared it: the days it trades on it and its trading terms.
public struct CongestionPointRecord: Sendable, Equatable {
    public var entityAddress: String
    public var dso: String
    public var firstDay: String
    /// The last day, when it has one.
    public var lastDay: String?
    public var mutexOffersSupported: Bool
    /// `AGR` or `DSO`.
    public var dayAheadRedispatchBy: String
    /// No intraday trading when nil.
    public var intradayRedispatchBy: String?

    public init(entityAddress: String, dso: String, firstDay: String, lastDay: String?, mutexOffersSupported: Bool,
                dayAheadRedispatchBy: String, intradayRedispatchBy: String?) {
        self.entityAddress = entityAddress
        self.dso = dso
        self.firstDay = firstDay
        self.lastDay = lastDay
        self.mutexOffersSupported = mutexOffersSupported
        self.dayAheadRedispatchBy = dayAheadRedispatchBy
        self.intradayRedispatchBy = intradayRedispatchBy
    }
}

/// A connection held by a congestion point (its DSO's declaration) or by an aggregator (its
/// own), from one day to another; a connection has at most one holder of each kind on any day.
public struct ConnectionAssignment: Sendable, Equatable, Hashable {
    public enum Kind: String, Sendable {
        case congestionPoint = "CP", aggregator = "AGR"
    }

    public var connection: String
    public var kind: Kind
    /// The congestion point's entity address, or the aggregator's domain.
    public var holder: String
    public var firstDay: String
    public var lastDay: String?

    public init(connection: String, kind: Kind, holder: String, firstDay: String, lastDay: String?) {
        self.connection = connection
        self.kind = kind
        self.holder = holder
        self.firstDay = firstDay
        self.lastDay = lastDay
    }

    /// Whether it holds on `day`.
    public func holds(on day: String) -> Bool {
        firstDay <= day && lastDay.map { day <= $0 } ?? true
    }

    /// Whether it and `other` share a day.
    public func overlaps(_ other: ConnectionAssignment) -> Bool {
        firstDay <= (other.lastDay ?? "9999-12-31") && other.firstDay <= (lastDay ?? "9999-12-31")
    }
}

/// Part of the register: congestion points and connection assignments.
public struct Portfolio: Sendable, Equatable {
    public var congestionPoints: [CongestionPointRecord]
    public var assignments: [ConnectionAssignment]

    public init(congestionPoints: [CongestionPointRecord] = [], assignments: [ConnectionAssignment] = []) {
        self.congestionPoints = congestionPoints
        self.assignments = assignments
    }
}

/// Which part of the register to read: the congestion points named or of the DSOs named, and
/// the assignments of the connections named or held by the holders named.
public struct PortfolioScope: Sendable {
    public var congestionPoints: [String]
    public var dsos: [String]
    public var connections: [String]
    public var holders: [(kind: ConnectionAssignment.Kind, holder: String)]

    public init(congestionPoints: [String] = [], dsos: [String] = [], connections: [String] = [],
                holders: [(kind: ConnectionAssignment.Kind, holder: String)] = []) {
        self.congestionPoints = congestionPoints
        self.dsos = dsos
        self.connections = connections
        self.holders = holders
    }
}
