import Foundation
import GridCore
import Market
import SCD

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

/// A DSO's or TSO's request for flexibility, as submitted and then cleared.
struct MarketRequest: Codable, Sendable {
    enum Status: String, Codable, Sendable { case open, cleared }
    var entry: RequestEntry
    var session: SessionKind
    var day: String
    /// Who submitted it (the token's participant), if named.
    var participant: String?
    /// Milliseconds since 1970: the submission order of the tie-breaks.
    var submitted: Int64
    var status: Status
    var round: String?
}

/// A POD of an offer, with its share of the offer's power when the aggregator gives a breakdown.
struct OfferPOD: Codable, Sendable, Equatable {
    var pod: String
    var share: Double?
}

/// An aggregator's offer.
struct MarketOffer: Codable, Sendable {
    enum Status: String, Codable, Sendable { case open, revoked }
    var entry: OfferEntry
    var session: SessionKind
    var day: String
    var pods: [OfferPOD]
    /// After this (ms since 1970) the offer is not cleared.
    var validUntil: Int64?
    var submitted: Int64
    var status: Status
    /// Hundredths of it awarded by final outcomes: a real-time session offers the rest.
    var awarded: Int

    enum CodingKeys: String, CodingKey {
        case entry, session, day, pods, validUntil = "valid_until", submitted, status, awarded
    }
}

/// One clearing of a session: the book it cleared, the preliminary outcome (I-08) and, once
/// validated (I-07), the final one.
struct ClearingRound: Codable, Sendable {
    enum State: String, Codable, Sendable { case preliminary, final }
    var id: String
    var session: SessionKind
    var day: String
    var cleared: Int64
    var requests: [String]
    var offers: [String]
    var preliminary: ClearingOutcome
    var state: State
    /// `built-in`, or the validating participant.
    var validatedBy: String?
    var final: FinalOutcome?

    enum CodingKeys: String, CodingKey {
        case id, session, day, cleared, requests, offers, preliminary, state, validatedBy = "validated_by", final
    }
}

/// A set-point sent for an order: one POD, one ISP.
struct DispatchedSetPoint: Codable, Sendable {
    enum Status: String, Codable, Sendable {
        /// Published, no acknowledgement yet.
        case sent
        case accepted, applied, rejected, expired, failed
        /// Not acknowledged within `ack_timeout_s`.
        case unacknowledged
        /// Not sent: no node, no baseline or the broker refused it.
        case undeliverable
    }

    var id: String
    var pod: String
    var node: String?
    var isp: Int
    var from: String
    var until: String
    var mode: String
    /// The set-point's watts: the POD's baseline plus its part of the order.
    var w: Int?
    /// The POD's part of the ordered power (W, signed).
    var ordered: Int
    var baseline: Int?
    var status: Status
    var reason: String?
    var sent: Int64?
    /// The node's ledger seq recording it, from the acknowledgement.
    var seq: Int64?

    var isFinal: Bool { ![.sent, .accepted].contains(status) }
}

/// A dispatch problem, reported to the aggregator and the DSO.
struct MarketAlert: Codable, Sendable {
    var t: String
    var order: String
    var aggregator: String
    var pod: String
    var setPoint: String?
    var problem: String

    enum CodingKeys: String, CodingKey { case t, order, aggregator, pod, setPoint = "setpoint", problem }
}

/// An activation order (I-09) for one final award, dispatched per POD.
struct MarketOrder: Codable, Sendable {
    var id: String
    var round: String
    var award: Award
    var issuer: String
    var day: String
    var pods: [OfferPOD]
    var setPoints: [DispatchedSetPoint]
    var alerts: [MarketAlert]
    var created: Int64

    enum CodingKeys: String, CodingKey { case id, round, award, issuer, day, pods, setPoints = "setpoints", alerts, created }

    /// The set-points still awaiting an acknowledgement.
    var pending: Bool { setPoints.contains { $0.status == .sent } }
}

enum MarketJSON {
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ document: MarketDocument) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(document.body))
        } catch {
            throw SCDError("market \(document.kind.rawValue) \(document.id) is not readable: \(error)")
        }
    }
}
