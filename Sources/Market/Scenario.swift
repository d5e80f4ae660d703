import Foundation

/// A clearing scenario as JSON (docs/market.md): the rules, the requests and the offers, read
/// for the what-if tool (`coordinator clear --input FILE`) and the tests.
public struct Scenario: Sendable {
    public var rules: ClearingRules
    public var requests: [FlexibilityRequest]
    public var offers: [FlexibilityOffer]
    /// The built-in DSO validation's limits per location (W per ISP), when the scenario has them.
    public var limits: CongestionPointLimits?

    public init(rules: ClearingRules, requests: [FlexibilityRequest], offers: [FlexibilityOffer], limits: CongestionPointLimits? = nil) {
        self.rules = rules
        self.requests = requests
        self.offers = offers
        self.limits = limits
    }

    /// Why a scenario is refused, naming the field.
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    private struct Wire: Decodable {
        struct RequestISP: Decodable {
            var start: Int
            var duration: Int?
            var minPower: Int
            var maxPower: Int
            enum CodingKeys: String, CodingKey { case start, duration, minPower = "min_power", maxPower = "max_power" }
        }
        struct Request: Decodable {
            var id: String
            var buyer: String
            var area: [String]
            var isps: [RequestISP]
            var priceLimit: Double?
            enum CodingKeys: String, CodingKey { case id, buyer, area, isps, priceLimit = "price_limit_per_mwh" }
        }
        struct OfferISP: Decodable {
            var start: Int
            var duration: Int?
            var power: Int
        }
        struct Offer: Decodable {
            var id: String
            var aggregator: String
            var location: String
            var price: Double
            var minActivationFactor: Double?
            var isps: [OfferISP]
            enum CodingKeys: String, CodingKey {
                case id, aggregator, location, price, minActivationFactor = "min_activation_factor", isps
            }
        }
        var ispMinutes: Int?
        var reliabilityMargin: Double?
        var requests: [Request]
        var offers: [Offer]
        var limits: [String: Int]?
        enum CodingKeys: String, CodingKey {
            case ispMinutes = "isp_minutes", reliabilityMargin = "reliability_margin", requests, offers
            case limits = "congestion_point_limits"
        }
    }

    /// Reads and checks a scenario; every fault is refused with its place.
    public init(json: Data) throws(Problem) {
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: json)
        } catch let DecodingError.keyNotFound(key, context) {
            throw Problem(description: "\(Self.path(context.codingPath + [key])): is required")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw Problem(description: "\(Self.path(context.codingPath)): has the wrong type")
        } catch {
            throw Problem(description: "not a JSON scenario: \(error)")
        }
        let ispMinutes = wire.ispMinutes ?? 15
        guard [15, 30, 60].contains(ispMinutes) else { throw Problem(description: "isp_minutes: 15, 30 or 60") }
        let margin = wire.reliabilityMargin ?? 0
        guard (0...1).contains(margin) else { throw Problem(description: "reliability_margin: between 0 and 1") }
        let ispsPerDay = 25 * 60 / ispMinutes  // a DST day's 100 at 15 minutes
        func span(_ place: String, _ start: Int, _ duration: Int?) throws(Problem) -> (Int, Int) {
            let duration = duration ?? 1
            guard start >= 1, duration >= 1, start + duration - 1 <= ispsPerDay else {
                throw Problem(description: "\(place): ISPs \(start)… must lie within 1…\(ispsPerDay)")
            }
            return (start, duration)
        }
        var ids = Set<String>()
        var requests: [FlexibilityRequest] = []
        for (index, request) in wire.requests.enumerated() {
            let place = "requests[\(index)]"
            guard ids.insert("request " + request.id).inserted else { throw Problem(description: "\(place).id: \(request.id) is listed twice") }
            guard let buyer = Buyer(rawValue: request.buyer) else { throw Problem(description: "\(place).buyer: DSO or TSO") }
            guard !request.area.isEmpty else { throw Problem(description: "\(place).area: at least one location") }
            guard !request.isps.isEmpty else { throw Problem(description: "\(place).isps: at least one ISP") }
            var spans: [ISPSpan<PowerRange>] = []
            for (number, isp) in request.isps.enumerated() {
                let (start, duration) = try span("\(place).isps[\(number)]", isp.start, isp.duration)
                guard let range = PowerRange(minPower: isp.minPower, maxPower: isp.maxPower) else {
                    throw Problem(description: "\(place).isps[\(number)]: min_power ≤ max_power, of one sign (a direction), not both 0")
                }
                spans.append(ISPSpan(start: start, duration: duration, value: range))
            }
            try Self.checkNoOverlap(spans.map(\.isps), place + ".isps")
            guard Set(spans.map(\.value.direction)).count == 1 else {
                throw Problem(description: "\(place).isps: one direction throughout (a request up and one down are two requests)")
            }
            if let limit = request.priceLimit, limit < 0 { throw Problem(description: "\(place).price_limit_per_mwh: not negative") }
            requests.append(FlexibilityRequest(id: request.id, buyer: buyer, area: Set(request.area), isps: spans,
                                               priceLimitPerMWh: request.priceLimit, sequence: index))
        }
        var offers: [FlexibilityOffer] = []
        for (index, offer) in wire.offers.enumerated() {
            let place = "offers[\(index)]"
            guard ids.insert("offer " + offer.id).inserted else { throw Problem(description: "\(place).id: \(offer.id) is listed twice") }
            guard !offer.isps.isEmpty else { throw Problem(description: "\(place).isps: at least one ISP") }
            var spans: [ISPSpan<Int>] = []
            for (number, isp) in offer.isps.enumerated() {
                let (start, duration) = try span("\(place).isps[\(number)]", isp.start, isp.duration)
                spans.append(ISPSpan(start: start, duration: duration, value: isp.power))
            }
            try Self.checkNoOverlap(spans.map(\.isps), place + ".isps")
            guard !(spans.contains { $0.value > 0 } && spans.contains { $0.value < 0 }), spans.contains(where: { $0.value != 0 }) else {
                throw Problem(description: "\(place).isps: powers of one sign, not all 0")
            }
            guard offer.price >= 0 else { throw Problem(description: "\(place).price: not negative") }
            let factor = offer.minActivationFactor ?? 1
            guard (0.01...1).contains(factor) else { throw Problem(description: "\(place).min_activation_factor: between 0.01 and 1") }
            offers.append(FlexibilityOffer(id: offer.id, aggregator: offer.aggregator, location: offer.location, isps: spans,
                                           price: offer.price, minimumFactor: Int((factor * 100).rounded(.up)), sequence: index))
        }
        if let limits = wire.limits, let (location, _) = limits.first(where: { $0.value < 0 }) {
            throw Problem(description: "congestion_point_limits.\(location): not negative")
        }
        self.init(rules: ClearingRules(ispMinutes: ispMinutes, reliabilityMargin: margin), requests: requests, offers: offers,
                  limits: wire.limits.map(CongestionPointLimits.init(limitW:)))
    }

    /// Each ISP once (UFTP's "ISP conflict").
    private static func checkNoOverlap(_ ranges: [Range<Int>], _ place: String) throws(Problem) {
        var seen = Set<Int>()
        for range in ranges {
            for isp in range where !seen.insert(isp).inserted { throw Problem(description: "\(place): ISP \(isp) is given twice") }
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined().trimmingPrefix(".").description
    }

    public func clear() -> ClearingOutcome {
        Clearing.clear(requests: requests, offers: offers, rules: rules)
    }

    /// The preliminary outcome, and the final one after the built-in validation (every award
    /// approved when the scenario sets no limits).
    public struct Result: Sendable, Codable {
        public var preliminary: ClearingOutcome
        public var final: FinalOutcome

        /// As JSON, keys sorted: the same scenario prints the same bytes.
        public func json() -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
        }
    }

    public func run() -> Result {
        let preliminary = clear()
        return Result(preliminary: preliminary, final: preliminary.finalize(limits?.validate(preliminary) ?? Validation()))
    }
}
