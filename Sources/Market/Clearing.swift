import GridCore

/// The local flexibility market's clearing (PlatOne UC-IT-1, seed 004): DSO requests first, each
/// served by the offers located in its area in merit order; then TSO requests with what is left.
/// Pure and deterministic: the same book gives the same outcome, whatever order it came in.
///
/// Sign convention (UFTP's): power in W, positive is more consumption (or less production),
/// negative less consumption (or more production). A request asks, per ISP, for a deviation
/// between two powers of one sign; an offer gives one power per ISP, scaled by one activation
/// factor (hundredths, as UFTP's `ActivationFactor`) for all its ISPs.

/// Who asks: the DSO's requests are cleared before any TSO request.
public enum Buyer: String, Sendable, Codable, CaseIterable {
    case dso = "DSO", tso = "TSO"
}

/// A span of ISPs with one value: ISPs `start ..< start + duration`, numbered from 1.
public struct ISPSpan<Value: Sendable & Equatable & Codable>: Sendable, Equatable, Codable {
    public var start: Int
    public var duration: Int
    public var value: Value

    public init(start: Int, duration: Int = 1, value: Value) {
        self.start = start
        self.duration = duration
        self.value = value
    }

    public var isps: Range<Int> { start..<(start + duration) }

    enum CodingKeys: String, CodingKey { case start, duration, value = "power" }
}

extension [ISPSpan<Int>] {
    /// Each ISP with its power's magnitude (W).
    var wattsPerISP: [(isp: Int, watts: Int)] {
        flatMap { span in span.isps.map { ($0, abs(span.value)) } }
    }
}

/// A request's power range at an ISP: a deviation of at least `minimum` W and at most `maximum`
/// W in magnitude, in `direction` (+1 more consumption, -1 less).
public struct PowerRange: Sendable, Equatable, Codable {
    public var direction: Int
    public var minimum: Int
    public var maximum: Int

    /// From UFTP's MinPower/MaxPower (one sign, not both: a requested ISP has a direction).
    public init?(minPower: Int, maxPower: Int) {
        guard minPower <= maxPower, !(minPower < 0 && maxPower > 0), minPower != 0 || maxPower != 0 else { return nil }
        direction = maxPower > 0 ? 1 : -1
        minimum = min(abs(minPower), abs(maxPower))
        maximum = max(abs(minPower), abs(maxPower))
    }
}

public struct FlexibilityRequest: Sendable, Equatable {
    public var id: String
    public var buyer: Buyer
    /// The grid locations (congestion points or grid nodes) whose offers can serve it.
    public var area: Set<String>
    public var isps: [ISPSpan<PowerRange>]
    /// The most it pays per MWh of what it is delivered within its ISPs (nil: any price).
    public var priceLimitPerMWh: Money?
    /// Submission order within the session (earlier first among equals).
    public var sequence: Int

    public init(id: String, buyer: Buyer, area: Set<String>, isps: [ISPSpan<PowerRange>], priceLimitPerMWh: Money? = nil, sequence: Int = 0) {
        self.id = id
        self.buyer = buyer
        self.area = area
        self.isps = isps
        self.priceLimitPerMWh = priceLimitPerMWh
        self.sequence = sequence
    }
}

/// The ISPs the clearing works with: a day's 92, 96 or 100 at 15 minutes, fewer at longer ISPs.
let clearingISPs = 1...100

/// Why a span's ISPs cannot be cleared, nil when they lie within a day.
private func outOfBounds(_ span: ISPSpan<some Sendable & Equatable & Codable>) -> String? {
    guard ISPNumbers.within(start: span.start, count: span.duration, ispCount: clearingISPs.upperBound) else {
        return "ISPs \(span.start)… (\(span.duration)) lie outside \(clearingISPs.lowerBound)…\(clearingISPs.upperBound)"
    }
    return nil
}

extension FlexibilityRequest {
    /// Why the clearing cannot take it, nil when every number lies within `Bounds`.
    var outOfBounds: String? {
        if let limit = priceLimitPerMWh, !Bounds.price.contains(limit) { return "price limit \(limit) per MWh is outside 0…\(Bounds.price.upperBound)" }
        guard !isps.isEmpty else { return "no ISP" }
        let direction = isps[0].value.direction
        for span in isps {
            if let problem = Market.outOfBounds(span) { return problem }
            let range = span.value
            guard range.direction == direction, direction == 1 || direction == -1 else { return "ISP \(span.start): not one direction throughout" }
            guard (0...Bounds.powerW.upperBound).contains(range.minimum), (0...Bounds.powerW.upperBound).contains(range.maximum),
                  range.minimum <= range.maximum else {
                return "ISP \(span.start): \(range.minimum)…\(range.maximum) W is outside 0…\(Bounds.powerW.upperBound) W"
            }
        }
        return nil
    }
}

extension FlexibilityOffer {
    /// Why the clearing cannot take it, nil when every number lies within `Bounds`.
    var outOfBounds: String? {
        guard Bounds.price.contains(price) else { return "price \(price) is outside 0…\(Bounds.price.upperBound)" }
        guard (1...100).contains(minimumFactor), (0...100).contains(available) else {
            return "activation factors \(minimumFactor)/\(available) are outside 1…100 hundredths"
        }
        for span in isps {
            if let problem = Market.outOfBounds(span) { return problem }
            guard Bounds.powerW.contains(span.value) else { return "ISP \(span.start): \(span.value) W is outside \(Bounds.text(Bounds.powerW)) W" }
        }
        return nil
    }
}

public struct FlexibilityOffer: Sendable, Equatable {
    public var id: String
    public var aggregator: String
    /// Where its PODs are (a congestion point or grid node).
    public var location: String
    /// Power per ISP at full activation, one sign throughout.
    public var isps: [ISPSpan<Int>]
    /// The whole offer's price at full activation (pay-as-bid).
    public var price: Money
    /// The least activation factor it accepts, in hundredths (1...100; 100: all or nothing).
    public var minimumFactor: Int
    /// What is still to be awarded, in hundredths: less than 100 when an earlier session (the
    /// day-ahead, for a real-time session) took part of it.
    public var available: Int
    public var sequence: Int

    public init(id: String, aggregator: String, location: String, isps: [ISPSpan<Int>], price: Money, minimumFactor: Int = 100,
                available: Int = 100, sequence: Int = 0) {
        self.id = id
        self.aggregator = aggregator
        self.location = location
        self.isps = isps
        self.price = price
        self.minimumFactor = minimumFactor
        self.available = available
        self.sequence = sequence
    }
}

/// An offer awarded to a request at an activation factor: the powers it then delivers, the energy
/// and the price paid (the offer's price scaled by the factor, to the cent).
public struct Award: Sendable, Equatable, Codable {
    public var request: String
    public var offer: String
    public var aggregator: String
    /// The offer's location.
    public var location: String
    /// Hundredths: 100 is the whole offer.
    public var factor: Int
    public var isps: [ISPSpan<Int>]
    public var energyWh: Int
    public var price: Money
    /// The merit-order figure it was ranked by for its request: the offer's price over the
    /// energy it gives within the request's ISPs (nil in rounds cleared before it was kept).
    public var pricePerMWh: Money?
    /// Beyond the request's maximum: the reliability margin, held in reserve for the DSO's
    /// validation to fall back on.
    public var margin: Bool

    enum CodingKeys: String, CodingKey {
        case request, offer, aggregator, location, factor, isps, energyWh = "energy_wh", price, pricePerMWh = "price_per_mwh", margin
    }

    public init(request: String, offer: String, aggregator: String, location: String, factor: Int, isps: [ISPSpan<Int>], energyWh: Int,
                price: Money, pricePerMWh: Money? = nil, margin: Bool) {
        self.request = request
        self.offer = offer
        self.aggregator = aggregator
        self.location = location
        self.factor = factor
        self.isps = isps
        self.energyWh = energyWh
        self.price = price
        self.pricePerMWh = pricePerMWh
        self.margin = margin
    }
}

/// What a request got, per ISP: the power awarded (excluding the margin) and whether it reaches
/// the request's minimum.
public struct RequestOutcome: Sendable, Equatable, Codable {
    public var request: String
    public var buyer: Buyer
    public var served: [ISPSpan<Int>]
    public var satisfied: Bool
}

/// An entry the clearing left out, and why: its numbers lie outside `Bounds` (an entry the
/// market's checks would have refused, from a store written before them, or built by hand).
public struct Exclusion: Sendable, Equatable, Codable {
    /// A round is never cleared; a day's book lists an unreadable one the same way.
    public enum Kind: String, Sendable, Codable { case request, offer, round }
    public var kind: Kind
    public var id: String
    public var reason: String

    public init(kind: Kind, id: String, reason: String) {
        self.kind = kind
        self.id = id
        self.reason = reason
    }
}

public struct ClearingOutcome: Sendable, Equatable, Codable {
    public var awards: [Award]
    public var requests: [RequestOutcome]
    public var excluded: [Exclusion]

    public init(awards: [Award], requests: [RequestOutcome], excluded: [Exclusion] = []) {
        self.awards = awards
        self.requests = requests
        self.excluded = excluded
    }

    enum CodingKeys: String, CodingKey { case awards, requests, excluded }

    /// Rounds stored before exclusions were recorded have none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        awards = try container.decode([Award].self, forKey: .awards)
        requests = try container.decode([RequestOutcome].self, forKey: .requests)
        excluded = try container.decodeIfPresent([Exclusion].self, forKey: .excluded) ?? []
    }
}

public struct ClearingRules: Sendable {
    public var ispMinutes: Int
    /// Extra awards to DSO requests beyond their maximum, as a share of it (0.1: 10 %).
    public var reliabilityMargin: Double

    public init(ispMinutes: Int = 15, reliabilityMargin: Double = 0) {
        self.ispMinutes = ispMinutes
        self.reliabilityMargin = reliabilityMargin
    }
}

public enum Clearing {
    /// Clears the book. Requests in clearing order: DSO before TSO, then the higher price limit
    /// (none counts highest), then submission, then id. Offers in merit order: price per MWh at
    /// full activation, then submission, then id.
    /// Total: an entry whose numbers lie outside `Bounds` is left out with its reason, so that no
    /// book, however it was made, stops the clearing.
    public static func clear(requests: [FlexibilityRequest], offers: [FlexibilityOffer], rules: ClearingRules) -> ClearingOutcome {
        var excluded: [Exclusion] = []
        let requests = requests.filter { request in
            guard let reason = request.outOfBounds else { return true }
            excluded.append(Exclusion(kind: .request, id: request.id, reason: reason))
            return false
        }
        let offers = offers.filter { offer in
            guard let reason = offer.outOfBounds else { return true }
            excluded.append(Exclusion(kind: .offer, id: offer.id, reason: reason))
            return false
        }
        var rules = rules
        if !(0...1).contains(rules.reliabilityMargin) { rules.reliabilityMargin = 0 }
        if ![15, 30, 60].contains(rules.ispMinutes) { rules.ispMinutes = 15 }
        let book = OfferBook(offers)
        var awards: [Award] = []
        var outcomes: [RequestOutcome] = []
        for request in requests.sorted(by: clearsBefore) {
            let (granted, outcome) = serve(request, from: book, rules: rules)
            awards += granted
            outcomes.append(outcome)
        }
        return ClearingOutcome(awards: awards, requests: outcomes, excluded: excluded)
    }

    static func clearsBefore(_ a: FlexibilityRequest, _ b: FlexibilityRequest) -> Bool {
        if a.buyer != b.buyer { return a.buyer == .dso }
        if a.priceLimitPerMWh != b.priceLimitPerMWh {
            guard let limitA = a.priceLimitPerMWh else { return true }  // none counts highest
            guard let limitB = b.priceLimitPerMWh else { return false }
            return limitA > limitB
        }
        if a.sequence != b.sequence { return a.sequence < b.sequence }
        return a.id < b.id
    }

    /// An award's price: the offer's price × its factor, taken as the difference of what the
    /// offer's awards are worth after it and before it (each rounded half to even), so that the
    /// awards of one offer, in any number of rounds, add up to its price × what was awarded.
    static func price(of offer: FlexibilityOffer, factor: Int, awardedAfter: Int) -> Money {
        offer.price.share(Int64(awardedAfter), of: 100) - offer.price.share(Int64(awardedAfter - factor), of: 100)
    }

    /// One request against the book: offers of its area in its merit order (`OfferBook.ranked`),
    /// each at the largest factor that stays within what the request still needs at every ISP
    /// they share (and within what is left of the offer), skipped below its minimum factor.
    static func serve(_ request: FlexibilityRequest, from book: OfferBook, rules: ClearingRules) -> ([Award], RequestOutcome) {
        // Need per ISP, in magnitude; 0 where the request asks nothing.
        let last = request.isps.map { $0.start + $0.duration - 1 }.max() ?? 0
        var need = [Int](repeating: 0, count: last + 1)
        for span in request.isps {
            for isp in span.isps where isp >= 1 { need[isp] = span.value.maximum }
        }
        let maximum = need
        var served = [Int](repeating: 0, count: last + 1)
        var awards: [Award] = []
        let candidates = book.ranked(for: request, ispMinutes: rules.ispMinutes)
        var unmet = need.count { $0 > 0 }
        // The request itself, then (DSO only) the margin: extra offers up to that share of the maximum.
        let passes = request.buyer == .dso && rules.reliabilityMargin > 0 ? [false, true] : [false]
        for margin in passes {
            if margin {
                for isp in need.indices { need[isp] = Int((Double(maximum[isp]) * rules.reliabilityMargin).rounded(.down)) }
                unmet = need.count { $0 > 0 }
            }
            guard unmet > 0 else { continue }
            for candidate in candidates {
                let offer = book.offers[candidate.index]
                let left = book.remaining[candidate.index]
                guard left >= offer.minimumFactor else { continue }
                // The largest factor (hundredths) no shared ISP overshoots.
                var factor = left
                for span in offer.isps {
                    let magnitude = abs(span.value)
                    guard magnitude > 0 else { continue }
                    for isp in span.isps where isp < need.count && maximum[isp] > 0 { factor = min(factor, need[isp] * 100 / magnitude) }
                }
                guard factor >= offer.minimumFactor, factor > 0 else { continue }
                book.remaining[candidate.index] -= factor
                let powers = offer.isps.map { ISPSpan(start: $0.start, duration: $0.duration, value: $0.value * factor / 100) }
                for span in powers {
                    for isp in span.isps where isp < need.count && maximum[isp] > 0 {
                        let before = need[isp]
                        need[isp] -= abs(span.value)
                        if before > 0 && need[isp] <= 0 { unmet -= 1 }
                        if !margin { served[isp] += abs(span.value) }
                    }
                }
                let energy = powers.reduce(0) { $0 + abs($1.value) * $1.duration } * rules.ispMinutes / 60
                awards.append(Award(request: request.id, offer: offer.id, aggregator: offer.aggregator, location: offer.location, factor: factor,
                                    isps: powers, energyWh: energy, price: Self.price(of: offer, factor: factor, awardedAfter: 100 - book.remaining[candidate.index]),
                                    pricePerMWh: candidate.pricePerMWh(ispMinutes: rules.ispMinutes), margin: margin))
                if unmet == 0 { break }
            }
        }
        let satisfied = request.isps.allSatisfy { span in span.isps.allSatisfy { $0 < 1 || served[$0] >= span.value.minimum } }
        let servedSpans = request.isps.flatMap { span in
            span.isps.filter { $0 >= 1 }.map { ISPSpan(start: $0, value: served[$0] * span.value.direction) }
        }
        return (awards, RequestOutcome(request: request.id, buyer: request.buyer, served: servedSpans, satisfied: satisfied))
    }
}
