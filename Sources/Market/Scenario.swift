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
        var ispMinutes: Int?
        var reliabilityMargin: Double?
        var requests: [RequestEntry]
        var offers: [OfferEntry]
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
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            throw Problem(description: "\(Self.path(context.codingPath)): \(context.debugDescription)")
        } catch {
            throw Problem(description: "not a JSON scenario: \(error)")
        }
        let ispMinutes = wire.ispMinutes ?? 15
        guard [15, 30, 60].contains(ispMinutes) else { throw Problem(description: "isp_minutes: 15, 30 or 60") }
        let margin = wire.reliabilityMargin ?? 0
        guard (0...1).contains(margin) else { throw Problem(description: "reliability_margin: between 0 and 1") }
        let ispsPerDay = 25 * 60 / ispMinutes  // a DST day's 100 at 15 minutes
        var ids = Set<String>()
        var requests: [FlexibilityRequest] = []
        for (index, entry) in wire.requests.enumerated() {
            let place = "requests[\(index)]"
            let request = try entry.checked(place, ispsPerDay: ispsPerDay, sequence: index)
            guard ids.insert("request " + request.id).inserted else { throw Problem(description: "\(place).id: \(request.id) is listed twice") }
            requests.append(request)
        }
        var offers: [FlexibilityOffer] = []
        for (index, entry) in wire.offers.enumerated() {
            let place = "offers[\(index)]"
            let offer = try entry.checked(place, ispsPerDay: ispsPerDay, sequence: index)
            guard ids.insert("offer " + offer.id).inserted else { throw Problem(description: "\(place).id: \(offer.id) is listed twice") }
            offers.append(offer)
        }
        if let limits = wire.limits, let (location, _) = limits.first(where: { $0.value < 0 }) {
            throw Problem(description: "congestion_point_limits.\(location): not negative")
        }
        self.init(rules: ClearingRules(ispMinutes: ispMinutes, reliabilityMargin: margin), requests: requests, offers: offers,
                  limits: wire.limits.map(CongestionPointLimits.init(limitW:)))
    }

    static func path(_ keys: [any CodingKey]) -> String {
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
        public func json() throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            return String(decoding: try encoder.encode(self), as: UTF8.self)
        }
    }

    public func run() -> Result {
        let preliminary = clear()
        return Result(preliminary: preliminary, final: preliminary.finalize(limits?.validate(preliminary) ?? Validation()))
    }
}
