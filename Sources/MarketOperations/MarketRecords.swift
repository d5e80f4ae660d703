import Foundation
import GridCore
import Market
import SCD
import UFTPGateway

/// The market's records as the SCD keeps them (`MarketDocument`s, JSON) and the API shows them.

/// Why the market refuses something; the API answers it as a problem.
public enum MarketRefusal: Error, Sendable, CustomStringConvertible {
    case invalid(field: String?, String)
    case notFound(String)
    case conflict(String)
    case forbidden(String)

    public var description: String {
        switch self {
        case .invalid(_, let message), .notFound(let message), .conflict(let message), .forbidden(let message): message
        }
    }
}

/// Requests and offers are named per participant: the platform knows one as
/// `<owner>:<id>`, its owner's name (participant, else the buyer's role) and the id the owner
/// gave it, so that one participant's ids neither collide with nor reveal another's.
package enum MarketKey {
    package static func of(owner: String, id: String) -> String { owner + ":" + id }

    /// The key a caller names by `text`: its own entry by its id alone, or any by its key.
    package static func named(_ text: String, owner: String?) -> String {
        guard let owner, !text.contains(":") else { return text }
        return of(owner: owner, id: text)
    }

    /// The owner a key names.
    package static func owner(_ key: String) -> String? {
        key.firstIndex(of: ":").map { String(key[..<$0]) }
    }
}

/// A DSO's or TSO's request for flexibility, as submitted and then cleared (or withdrawn before).
package struct MarketRequest: Codable, Sendable {
    package enum Status: String, Codable, Sendable { case open, cleared, withdrawn }
    package var entry: RequestEntry
    package var session: SessionKind
    package var day: String
    /// Who submitted it (the token's participant), if named.
    package var participant: String?
    /// Milliseconds since 1970: the submission order of the tie-breaks.
    package var submitted: Int64
    package var status: Status
    package var round: String?
    /// The FlexRequest it came in as, when a DSO sent it over UFTP.
    package var uftp: UFTPOrigin?
    /// Its withdrawal before the clearing: by whom, when, why.
    package var withdrawal: Withdrawal?

    /// Who owns it: the submitting participant, else the buyer's role (a token naming no participant).
    package var owner: String { participant ?? entry.buyer }
    package var key: String { MarketKey.of(owner: owner, id: entry.id) }
}

/// Who took an entry out of the market, when and why (an audit record on the entry).
package struct Withdrawal: Codable, Sendable {
    /// The role and participant, e.g. `MO market-operator` or `AGR agr-alpha`.
    package var by: String
    package var t: String
    package var reason: String?
}

/// A market entry that came in over UFTP: the sender and its message (docs/market.md, "UFTP").
package struct UFTPOrigin: Codable, Sendable {
    package var domain: String
    package var messageID: String
    /// An offer's OfferOption.
    package var optionReference: String?

    enum CodingKeys: String, CodingKey { case domain, messageID = "message_id", optionReference = "option_reference" }
}

/// A POD of an offer, with its share of the offer's power when the aggregator gives a breakdown.
public struct OfferPOD: Codable, Sendable, Equatable {
    public var pod: String
    public var share: Double?

    public init(pod: String, share: Double? = nil) {
        self.pod = pod
        self.share = share
    }
}

/// An aggregator's offer.
package struct MarketOffer: Codable, Sendable {
    package enum Status: String, Codable, Sendable { case open, revoked }
    package var entry: OfferEntry
    package var session: SessionKind
    package var day: String
    package var pods: [OfferPOD]
    /// After this (ms since 1970) the offer is not cleared.
    var validUntil: Int64?
    package var submitted: Int64
    package var status: Status
    /// Hundredths of it awarded by final outcomes: a real-time session offers the rest.
    package var awarded: Int
    /// The FlexOffer it came in as, when an aggregator sent it over UFTP.
    package var uftp: UFTPOrigin?
    /// Its revocation: by whom, when, why.
    package var revocation: Withdrawal?

    enum CodingKeys: String, CodingKey {
        case entry, session, day, pods, validUntil = "valid_until", submitted, status, awarded, uftp, revocation
    }

    package var key: String { MarketKey.of(owner: entry.aggregator, id: entry.id) }
}

/// One clearing of a session: the book it cleared, the preliminary outcome (I-08) and, once
/// validated (I-07), the final one.
package struct ClearingRound: Codable, Sendable {
    package enum State: String, Codable, Sendable { case preliminary, final }
    package var id: String
    package var session: SessionKind
    package var day: String
    package var cleared: Int64
    package var requests: [String]
    package var offers: [String]
    package var preliminary: ClearingOutcome
    package var state: State
    /// `built-in`, or the validating participants.
    package var validatedBy: String?
    package var final: FinalOutcome?
    /// The DSOs' decisions so far, while another DSO's is still due (several DSOs' requests).
    package var validations: [DSOValidation]?

    enum CodingKeys: String, CodingKey {
        case id, session, day, cleared, requests, offers, preliminary, state, validatedBy = "validated_by", final, validations
    }
}

/// One DSO's decision on the awards it validates: those of its own requests and the TSO's.
package struct DSOValidation: Codable, Sendable {
    package var by: String
    package var rejected: [AwardRejection]
    package var t: String
}

/// An award rejected by its index in the preliminary outcome, with the reason.
package struct AwardRejection: Codable, Sendable, Equatable {
    package var award: Int
    package var reason: String
}

/// An order's part at one POD and ISP, and the set-point that carries it to the node: the set-point
/// a node holds for a POD and ISP carries every standing order's part there (docs/market.md,
/// "Dispatch").
public struct DispatchedSetPoint: Codable, Sendable {
    public enum Status: String, Codable, Sendable {
        /// Published, no acknowledgement yet.
        case sent
        case accepted, applied, rejected, expired, failed
        /// Not acknowledged within `ack_timeout_s`.
        case unacknowledged
        /// Not sent: no node, no baseline or the broker refused it.
        case undeliverable
        /// Not sent: the aggregator activates its PODs itself on the order's FlexOrder (UFTP).
        case delegated
        /// Not dispatched: its ISP began within `dispatch_lead_s` of the order, or an order the
        /// other way stands at the POD and ISP (the reason says which).
        case trimmed
        /// Withdrawn by the order's buyer before its ISP began.
        case cancelled
    }

    /// `<order>.<POD index>.<ISP>`: this part of its order.
    public var id: String
    public var pod: String
    public var node: String?
    public var isp: Int
    public var from: String
    public var until: String
    public var mode: String
    /// The watts of the set-point carrying it: the POD's baseline plus every standing part there.
    public var w: Int?
    /// The POD's part of the ordered power (W, signed).
    public var ordered: Int
    public var baseline: Int?
    public var status: Status
    public var reason: String?
    public var sent: Int64?
    /// The node's ledger seq recording it, from the acknowledgement.
    public var seq: Int64?
    /// The id of the set-point carrying it (`IssuedSetPoint`), once one was sent.
    public var setPoint: String?
    /// When the node reported it applied (ms since 1970).
    public var applied: Int64?

    enum CodingKeys: String, CodingKey {
        case id, pod, node, isp, from, until, mode, w, ordered, baseline, status, reason, sent, seq, setPoint = "setpoint", applied
    }

    public init(id: String, pod: String, node: String?, isp: Int, from: String, until: String, mode: String, w: Int?, ordered: Int,
                baseline: Int?, status: Status, reason: String? = nil, sent: Int64? = nil, seq: Int64? = nil) {
        self.id = id
        self.pod = pod
        self.node = node
        self.isp = isp
        self.from = from
        self.until = until
        self.mode = mode
        self.w = w
        self.ordered = ordered
        self.baseline = baseline
        self.status = status
        self.reason = reason
        self.sent = sent
        self.seq = seq
    }

    /// Nothing more is expected from the node (`applied` still ends with `expired` and its report).
    package var isFinal: Bool { [.rejected, .expired, .failed, .undeliverable, .delegated, .trimmed, .cancelled].contains(status) }

    /// Still ordered: its part counts in the set-point its POD and ISP hold.
    var isStanding: Bool { ![.trimmed, .cancelled, .delegated].contains(status) }

    /// How settlement takes it: dispatched only when a node took it (or a UFTP aggregator
    /// activates it itself); a node's `failed` (the site could not follow) stays the aggregator's risk.
    package var standing: PODInterval.Standing {
        switch status {
        case .accepted, .applied, .failed, .delegated: .dispatched
        // Parts from before composition (no `setPoint`) recorded no application time.
        case .expired where applied != nil || setPoint == nil: .dispatched
        case .expired: .notDispatched(reason.map { "expired before it was applied: \($0)" } ?? "expired before it was applied")
        case .cancelled: .cancelled
        case .sent: .notDispatched("awaiting the node's acknowledgement")
        case .unacknowledged, .undeliverable, .rejected, .trimmed: .notDispatched(reason ?? status.rawValue)
        }
    }
}

/// A set-point the market sent a node for one POD and ISP: the baseline plus every standing order's
/// part there (`orders`), or `release` when none stands. A newer one for the same POD and ISP
/// replaces it at the node (the node's replacement rule).
package struct IssuedSetPoint: Codable, Sendable {
    package var id: String
    package var day: String
    package var pod: String
    package var node: String
    package var isp: Int
    package var from: String
    package var until: String
    package var mode: String
    package var w: Int?
    package var orders: [String]
    package var issued: Int64
    package var status: DispatchedSetPoint.Status
    package var reason: String?
    package var seq: Int64?
}

/// A dispatch problem, reported to the aggregator and the DSO.
public struct MarketAlert: Codable, Sendable {
    package var t: String
    package var order: String
    package var aggregator: String
    package var pod: String
    package var setPoint: String?
    package var problem: String

    enum CodingKeys: String, CodingKey { case t, order, aggregator, pod, setPoint = "setpoint", problem }
}

/// An order's life in UFTP: its FlexOrder to the aggregator, the aggregator's answer, and the
/// FlexSettlement that settled it with the aggregator's disposition.
package struct UFTPOrderLink: Codable, Sendable {
    package enum State: String, Codable, Sendable { case sent, accepted, rejected, unsent }
    package var aggregator: String
    package var flexOrder: String?
    package var state: State
    package var reason: String?
    package var flexSettlement: String?
    /// `Accepted` or `Disputed`, from the aggregator's FlexSettlementResponse.
    package var disposition: String?
    package var disputeReason: String?

    enum CodingKeys: String, CodingKey {
        case aggregator, flexOrder = "flex_order", state, reason, flexSettlement = "flex_settlement", disposition
        case disputeReason = "dispute_reason"
    }
}

/// An activation order (I-09) for one final award, dispatched per POD.
public struct MarketOrder: Codable, Sendable {
    public var id: String
    public var round: String
    public var award: Award
    public var issuer: String
    public var day: String
    public var pods: [OfferPOD]
    public var setPoints: [DispatchedSetPoint]
    public var alerts: [MarketAlert]
    public var created: Int64
    /// The FlexOrder that carries it to a UFTP aggregator, and what became of it.
    package var uftp: UFTPOrderLink?
    /// Who placed it: the issuer's role and participant (`DSO dso-north`), or `built-in` for an
    /// award ordered at once over UFTP.
    package var placedBy: String?
    /// Its cancellation (of the ISPs not begun): by whom, when, why.
    package var cancellation: Withdrawal?

    enum CodingKeys: String, CodingKey {
        case id, round, award, issuer, day, pods, setPoints = "setpoints", alerts, created, uftp, placedBy = "placed_by", cancellation
    }

    public init(id: String, round: String, award: Award, issuer: String, day: String, pods: [OfferPOD], setPoints: [DispatchedSetPoint],
                alerts: [MarketAlert] = [], created: Int64) {
        self.id = id
        self.round = round
        self.award = award
        self.issuer = issuer
        self.day = day
        self.pods = pods
        self.setPoints = setPoints
        self.alerts = alerts
        self.created = created
    }

    /// The set-points still awaiting an acknowledgement.
    package var pending: Bool { setPoints.contains { $0.status == .sent } }
}

public enum MarketJSON {
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    package static func decode<T: Decodable>(_ type: T.Type, _ document: MarketDocument) throws -> T {
        do {
            let decoder = JSONDecoder()
            decoder.userInfo[Money.storedBeforeCents] = true
            return try decoder.decode(T.self, from: Data(document.body))
        } catch {
            throw SCDError("market \(document.kind.rawValue) \(document.id) is not readable: \(error)")
        }
    }
}

/// A market record as a `MarketDocument`: its kind, id and day say where it is kept.
package protocol MarketRecord: Codable, Sendable {
    static var kind: MarketDocument.Kind { get }
    var recordID: String { get }
    var day: String { get }
}

extension MarketRequest: MarketRecord {
    package static var kind: MarketDocument.Kind { .request }
    package var recordID: String { key }
}

extension MarketOffer: MarketRecord {
    package static var kind: MarketDocument.Kind { .offer }
    package var recordID: String { key }
}

extension ClearingRound: MarketRecord {
    package static var kind: MarketDocument.Kind { .round }
    package var recordID: String { id }
}

extension MarketOrder: MarketRecord {
    package static var kind: MarketDocument.Kind { .order }
    package var recordID: String { id }
}

extension IssuedSetPoint: MarketRecord {
    package static var kind: MarketDocument.Kind { .setPoint }
    package var recordID: String { id }
}

extension SCDStore {
    /// Stores a record; false (and nothing written) when one of its id exists and `replace` is false.
    @discardableResult
    package func put<Record: MarketRecord>(_ record: Record, replace: Bool) async throws -> Bool {
        try await putMarketDocument(MarketDocument(kind: Record.kind, id: record.recordID, day: record.day, body: MarketJSON.encode(record)),
                                    replace: replace)
    }

    package func record<Record: MarketRecord>(_ type: Record.Type, id: String) async throws -> Record? {
        try await marketDocument(kind: Record.kind, id: id).map { try MarketJSON.decode(Record.self, $0) }
    }

    /// The records of the market days in `days`, by day then id.
    package func records<Record: MarketRecord>(_ type: Record.Type, days: ClosedRange<String>) async throws -> [Record] {
        try await marketDocuments(kind: Record.kind, days: days).map { try MarketJSON.decode(Record.self, $0) }
    }

    /// The readable records of `days`, and those that are not (a document written behind the
    /// market's back, or by another version) as `kind` with why.
    func readableRecords<Record: MarketRecord>(_ type: Record.Type, as kind: Exclusion.Kind, days: ClosedRange<String>) async throws
        -> (records: [Record], unreadable: [Exclusion]) {
        var records: [Record] = [], unreadable: [Exclusion] = []
        for document in try await marketDocuments(kind: Record.kind, days: days) {
            do {
                records.append(try MarketJSON.decode(Record.self, document))
            } catch {
                unreadable.append(Exclusion(kind: kind, id: document.id, reason: "\(error)"))
            }
        }
        return (records, unreadable)
    }
}
