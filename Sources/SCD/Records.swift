import Certification
import GridCore
import Ledger
import Sodium

/// Participant roles of the platform (API tokens carry one).
public enum Role: String, Sendable, CaseIterable, Codable {
    case dso = "DSO", tso = "TSO", aggregator = "AGR", brp = "BRP", marketOperator = "MO", admin
}

/// A registered Light Node: its POD, the meter whose readings are the POD's measurements, and
/// its keys, newest first (a rotated-out key still verifies the entries it signed).
public struct NodeRecord: Sendable, Equatable {
    public var id: String
    public var pod: String
    public var meter: String
    public var keys: [PublicKey]
    public var quarantine: String?

    public init(id: String, pod: String, meter: String, keys: [PublicKey], quarantine: String? = nil) {
        self.id = id
        self.pod = pod
        self.meter = meter
        self.keys = keys
        self.quarantine = quarantine
    }
}

/// A registration input that is not acceptable, naming the field.
public struct RegistrationError: Error, Sendable {
    public let field: String
    public let message: String
}

extension NodeRecord {
    /// Validates a registration (CLI or API): identifiers as in the Light Node's config, a base64
    /// Ed25519 public key.
    public init(validatingID id: String, pod: String, meter: String, key: String) throws(RegistrationError) {
        func check(_ field: String, _ value: String) throws(RegistrationError) {
            guard Identifier.isValid(value) else {
                throw RegistrationError(field: field, message: "\(field) must be \(Identifier.rule)")
            }
        }
        try check("id", id)
        try check("pod", pod)
        try check("meter", meter)
        guard let publicKey = try? PublicKey(parsing: key) else {
            throw RegistrationError(field: "key", message: "key must be a base64 Ed25519 public key (32 bytes)")
        }
        self.init(id: id, pod: pod, meter: meter, keys: [publicKey])
    }
}

/// A point of delivery and who is responsible for it (FUSION's customer registry, PlatOne I-02).
public struct PODRecord: Sendable, Equatable, Codable {
    public var id: String
    public var customer: String?
    public var connectionEAN: String?
    public var congestionPoint: String?
    public var aggregator: String?
    public var brp: String?
    public var frOwner: String?

    public init(id: String, customer: String? = nil, connectionEAN: String? = nil, congestionPoint: String? = nil,
                aggregator: String? = nil, brp: String? = nil, frOwner: String? = nil) {
        self.id = id
        self.customer = customer
        self.connectionEAN = connectionEAN
        self.congestionPoint = congestionPoint
        self.aggregator = aggregator
        self.brp = brp
        self.frOwner = frOwner
    }

    enum CodingKeys: String, CodingKey {
        case id, customer, connectionEAN = "connection_ean", congestionPoint = "congestion_point"
        case aggregator, brp, frOwner = "fr_owner"
    }
}

/// An API bearer token as stored: only the SHA-256 of the secret is kept.
public struct TokenRecord: Sendable, Equatable {
    public var hash: SHA256Digest
    public var role: Role
    /// The participant (aggregator, BRP, …) the token acts for; nil for platform-wide roles.
    public var participant: String?

    public init(hash: SHA256Digest, role: Role, participant: String?) {
        self.hash = hash
        self.role = role
        self.participant = participant
    }
}

/// A ledger entry accepted by ingest, with the reading fields the SCD indexes.
public struct StagedEntry: Sendable, Equatable {
    public var node: String
    public var entry: LedgerEntry
    public var reading: ReadingBody

    public init(node: String, entry: LedgerEntry, reading: ReadingBody) {
        self.node = node
        self.entry = entry
        self.reading = reading
    }
}

/// A ledger entry in raw storage (sealed or staged), with the fields every body has parsed.
public struct RawEntry: Sendable, Equatable {
    public var seq: UInt64
    public var body: [UInt8]
    public var fields: ReadingBody
    public var certified: Bool

    /// The entries with `from <= t < to` among sealed blocks (certified) and staged entries,
    /// ascending by seq; a damaged block throws.
    package static func collect(blocks: [RawBlock], staged: [(seq: UInt64, body: [UInt8], certified: Bool)],
                        from: Timestamp, to: Timestamp) throws -> [RawEntry] {
        var entries: [RawEntry] = []
        func add(seq: UInt64, body: [UInt8], certified: Bool) {
            guard let fields = try? ReadingBody(parsing: body), fields.time >= from, fields.time < to else { return }
            entries.append(RawEntry(seq: seq, body: body, fields: fields, certified: certified))
        }
        var sealed = Set<UInt64>()
        for block in blocks {
            for entry in try block.entries() {
                sealed.insert(entry.seq)
                add(seq: entry.seq, body: entry.body, certified: true)
            }
        }
        // A backend may see an entry both sealed and still staged (sealed while it was read).
        for entry in staged where !sealed.contains(entry.seq) { add(seq: entry.seq, body: entry.body, certified: entry.certified) }
        entries.sort { $0.seq < $1.seq }
        return entries
    }
}

/// One 4-s reading as the API serves it.
public struct RawReading: Sendable, Equatable {
    public var seq: UInt64
    public var reading: ReadingBody
    public var certified: Bool

    public init(seq: UInt64, reading: ReadingBody, certified: Bool) {
        self.seq = seq
        self.reading = reading
        self.certified = certified
    }

    /// The readings of `meter` among `entries`.
    public static func of(_ entries: [RawEntry], meter: String) -> [RawReading] {
        entries.compactMap { entry in
            entry.fields.kind == "reading" && entry.fields.meter == meter
                ? RawReading(seq: entry.seq, reading: entry.fields, certified: entry.certified) : nil
        }
    }
}

/// Energy and mean power of one POD over one quarter hour (PlatOne I-01).
public struct QuarterMeasure: Sendable, Equatable {
    public var pod: String
    public var start: Timestamp
    public var energyWh: Double
    public var averageW: Double
    /// Received samples over expected samples (900 s / interval), at most 1.
    public var coverage: Double
    public var samples: Int
    /// Every contributing reading is certified.
    public var certified: Bool

    public init(pod: String, start: Timestamp, energyWh: Double, averageW: Double, coverage: Double,
                samples: Int, certified: Bool) {
        self.pod = pod
        self.start = start
        self.energyWh = energyWh
        self.averageW = averageW
        self.coverage = coverage
        self.samples = samples
        self.certified = certified
    }
}

/// The persisted state of one node's chain (NodeChain segments and quarantine).
public struct ChainState: Sendable, Equatable {
    public var node: String
    public var segments: [NodeChain.Segment]
    public var quarantine: String?

    public init(node: String, segments: [NodeChain.Segment], quarantine: String?) {
        self.node = node
        self.segments = segments
        self.quarantine = quarantine
    }

    /// A node holding `entries` (consecutive) as one segment, certified through `through`: what
    /// the ingest persists once it verified them, for staging certified data without an ingest.
    public init(node: String, holding entries: some BidirectionalCollection<LedgerEntry>, certifiedThrough through: UInt64) {
        let first = entries.first!, last = entries.last!
        self.init(node: node, segments: [NodeChain.Segment(
            first: first.seq, last: last.seq, firstPrev: first.prev, lastHash: last.hash,
            certifiedThrough: through, lastSignature: last.signature)], quarantine: nil)
    }
}

/// One POD on an aggregator's day-ahead customer list (PlatOne I-02).
public struct CustomerListEntry: Sendable, Equatable, Codable {
    public var pod: String
    public var aggregator: String
    public var congestionPoint: String?

    public init(pod: String, aggregator: String, congestionPoint: String?) {
        self.pod = pod
        self.aggregator = aggregator
        self.congestionPoint = congestionPoint
    }

    enum CodingKeys: String, CodingKey {
        case pod, aggregator
        case congestionPoint = "congestion_point"
    }
}

/// A BRP's day-ahead load profile of one POD (PlatOne I-03): energy per quarter hour of a UTC
/// day (96 values, Wh; import positive).
public struct Baseline: Sendable, Equatable {
    public static let quarters = 96
    public var pod: String
    /// `YYYY-MM-DD` (UTC).
    public var day: String
    public var brp: String
    public var energyWh: [Double]

    public init(pod: String, day: String, brp: String, energyWh: [Double]) {
        self.pod = pod
        self.day = day
        self.brp = brp
        self.energyWh = energyWh
    }

    /// The midnight (UTC) opening `day` when it is a valid `YYYY-MM-DD` date.
    public static func start(of day: String) -> Timestamp? {
        guard day.utf8.count == 10, let start = Timestamp(rfc3339: day + "T00:00:00Z"), start.rfc3339.hasPrefix(day) else {
            return nil
        }
        return start
    }

    /// The values as stored: little-endian IEEE 754 doubles.
    package var packed: [UInt8] {
        energyWh.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
    }

    package static func unpack(_ bytes: [UInt8]) -> [Double] {
        stride(from: 0, to: bytes.count - bytes.count % 8, by: 8).map { offset in
            var bits: UInt64 = 0
            for index in 0..<8 { bits |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
            return Double(bitPattern: bits)
        }
    }
}

/// A record of the flexibility market (a request, an offer, a clearing round, an order, a
/// set-point it issued, a notification it owes) as the coordinator's market keeps it: JSON,
/// found by kind and id or by kind and market day.
public struct MarketDocument: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case request, offer, round, order
        case setPoint = "setpoint"
        case notification, contract, statement, profile
    }

    public var kind: Kind
    public var id: String
    /// The market day (`YYYY-MM-DD`) it belongs to.
    public var day: String
    public var body: [UInt8]

    public init(kind: Kind, id: String, day: String, body: [UInt8]) {
        self.kind = kind
        self.id = id
        self.day = day
        self.body = body
    }
}
