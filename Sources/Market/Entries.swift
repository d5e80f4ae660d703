import Foundation
import GridCore

/// A request or an offer as written in a scenario file and in the REST API (docs/market.md),
/// checked into the clearing's values with every fault named by its place.

public struct RequestEntry: Codable, Sendable, Equatable {
    public struct ISP: Codable, Sendable, Equatable {
        public var start: Int
        public var duration: Int?
        public var minPower: Int
        public var maxPower: Int
        /// The ISP numbers it spans.
        public var range: Range<Int> { ISPNumbers.clamped(start: start, count: duration ?? 1) }
        enum CodingKeys: String, CodingKey { case start, duration, minPower = "min_power", maxPower = "max_power" }

        public init(start: Int, duration: Int? = nil, minPower: Int, maxPower: Int) {
            self.start = start
            self.duration = duration
            self.minPower = minPower
            self.maxPower = maxPower
        }
    }

    public var id: String
    /// `DSO` or `TSO`.
    public var buyer: String
    public var area: [String]
    public var isps: [ISP]
    public var priceLimit: Money?
    enum CodingKeys: String, CodingKey { case id, buyer, area, isps, priceLimit = "price_limit_per_mwh" }

    public init(id: String, buyer: String, area: [String], isps: [ISP], priceLimit: Money?) {
        self.id = id
        self.buyer = buyer
        self.area = area
        self.isps = isps
        self.priceLimit = priceLimit
    }

    /// Whether it passes the checks on a day of the most ISPs (a stored entry from before them may not).
    public var withinBounds: Bool { (try? checked("request", ispsPerDay: clearingISPs.upperBound, sequence: 0)) != nil }

    /// The clearing's request, or the first fault at `place`.
    public func checked(_ place: String, ispsPerDay: Int, sequence: Int) throws(Scenario.Problem) -> FlexibilityRequest {
        guard let buyer = Buyer(rawValue: buyer) else { throw Scenario.Problem(description: "\(place).buyer: DSO or TSO") }
        guard (1...Bounds.areaLocations).contains(area.count) else {
            throw Scenario.Problem(description: "\(place).area: 1 to \(Bounds.areaLocations) locations")
        }
        if let index = area.firstIndex(where: { $0.isEmpty || $0.utf8.count > Bounds.locationBytes }) {
            throw Scenario.Problem(description: "\(place).area[\(index)]: a location of 1 to \(Bounds.locationBytes) bytes")
        }
        guard !isps.isEmpty else { throw Scenario.Problem(description: "\(place).isps: at least one ISP") }
        var spans: [ISPSpan<PowerRange>] = []
        for (number, isp) in isps.enumerated() {
            let (start, duration) = try ISPSpans.bounds("\(place).isps[\(number)]", isp.start, isp.duration, ispsPerDay: ispsPerDay)
            try ISPSpans.checkPower("\(place).isps[\(number)].min_power", isp.minPower)
            try ISPSpans.checkPower("\(place).isps[\(number)].max_power", isp.maxPower)
            guard let range = PowerRange(minPower: isp.minPower, maxPower: isp.maxPower) else {
                throw Scenario.Problem(description: "\(place).isps[\(number)]: min_power ≤ max_power, of one sign (a direction), not both 0")
            }
            spans.append(ISPSpan(start: start, duration: duration, value: range))
        }
        try ISPSpans.checkNoOverlap(spans.map(\.isps), place + ".isps")
        guard Set(spans.map(\.value.direction)).count == 1 else {
            throw Scenario.Problem(description: "\(place).isps: one direction throughout (a request up and one down are two requests)")
        }
        if let priceLimit, !Bounds.price.contains(priceLimit) {
            throw Scenario.Problem(description: "\(place).price_limit_per_mwh: between 0 and \(Bounds.price.upperBound)")
        }
        return FlexibilityRequest(id: id, buyer: buyer, area: Set(area), isps: spans, priceLimitPerMWh: priceLimit, sequence: sequence)
    }
}

public struct OfferEntry: Codable, Sendable, Equatable {
    public struct ISP: Codable, Sendable, Equatable {
        public var start: Int
        public var duration: Int?
        public var power: Int
        /// The ISP numbers it spans.
        public var range: Range<Int> { ISPNumbers.clamped(start: start, count: duration ?? 1) }

        public init(start: Int, duration: Int? = nil, power: Int) {
            self.start = start
            self.duration = duration
            self.power = power
        }
    }

    public var id: String
    public var aggregator: String
    public var location: String
    public var price: Money
    public var minActivationFactor: Double?
    public var isps: [ISP]
    enum CodingKeys: String, CodingKey {
        case id, aggregator, location, price, minActivationFactor = "min_activation_factor", isps
    }

    public init(id: String, aggregator: String, location: String, price: Money, minActivationFactor: Double?, isps: [ISP]) {
        self.id = id
        self.aggregator = aggregator
        self.location = location
        self.price = price
        self.minActivationFactor = minActivationFactor
        self.isps = isps
    }

    /// Whether it passes the checks on a day of the most ISPs (a stored entry from before them may not).
    public var withinBounds: Bool { (try? checked("offer", ispsPerDay: clearingISPs.upperBound, sequence: 0)) != nil }

    /// The whole offer's price per MWh of its energy at full activation (a request ranks it by
    /// the energy within its own ISPs: docs/market.md, "Clearing").
    /// Nil for an offer outside the bounds (shown, never cleared).
    public func pricePerMWh(ispMinutes: Int) -> Money? {
        guard isps.count <= Bounds.listItems, isps.allSatisfy({ Bounds.powerW.contains($0.power) }) else { return nil }
        return price.perMWh(wattISPs: isps.reduce(0) { $0 + abs($1.power) * ISPNumbers.clamped(start: $1.start, count: $1.duration ?? 1).count },
                            ispMinutes: ispMinutes)
    }

    public func checked(_ place: String, ispsPerDay: Int, sequence: Int, available: Int = 100) throws(Scenario.Problem) -> FlexibilityOffer {
        guard !location.isEmpty, location.utf8.count <= Bounds.locationBytes else {
            throw Scenario.Problem(description: "\(place).location: 1 to \(Bounds.locationBytes) bytes")
        }
        guard !isps.isEmpty else { throw Scenario.Problem(description: "\(place).isps: at least one ISP") }
        var spans: [ISPSpan<Int>] = []
        for (number, isp) in isps.enumerated() {
            let (start, duration) = try ISPSpans.bounds("\(place).isps[\(number)]", isp.start, isp.duration, ispsPerDay: ispsPerDay)
            try ISPSpans.checkPower("\(place).isps[\(number)].power", isp.power)
            spans.append(ISPSpan(start: start, duration: duration, value: isp.power))
        }
        try ISPSpans.checkNoOverlap(spans.map(\.isps), place + ".isps")
        guard !(spans.contains { $0.value > 0 } && spans.contains { $0.value < 0 }), spans.contains(where: { $0.value != 0 }) else {
            throw Scenario.Problem(description: "\(place).isps: powers of one sign, not all 0")
        }
        guard Bounds.price.contains(price) else {
            throw Scenario.Problem(description: "\(place).price: between 0 and \(Bounds.price.upperBound)")
        }
        let factor = minActivationFactor ?? 1
        guard (0.01...1).contains(factor) else { throw Scenario.Problem(description: "\(place).min_activation_factor: between 0.01 and 1") }
        return FlexibilityOffer(id: id, aggregator: aggregator, location: location, isps: spans, price: price,
                                minimumFactor: Int((factor * 100).rounded(.up)), available: available, sequence: sequence)
    }
}

enum ISPSpans {
    static func bounds(_ place: String, _ start: Int, _ duration: Int?, ispsPerDay: Int) throws(Scenario.Problem) -> (Int, Int) {
        let duration = duration ?? 1
        guard ISPNumbers.within(start: start, count: duration, ispCount: ispsPerDay) else {
            throw Scenario.Problem(description: "\(place): ISPs \(start)… must lie within 1…\(ispsPerDay)")
        }
        return (start, duration)
    }

    /// A power within `Bounds.powerW`, so that no sum or product of the clearing overflows.
    static func checkPower(_ place: String, _ watts: Int) throws(Scenario.Problem) {
        guard Bounds.powerW.contains(watts) else {
            throw Scenario.Problem(description: "\(place): \(watts) W is outside \(Bounds.text(Bounds.powerW)) W")
        }
    }

    /// Each ISP once (UFTP's "ISP conflict").
    static func checkNoOverlap(_ ranges: [Range<Int>], _ place: String) throws(Scenario.Problem) {
        var seen = Set<Int>()
        for range in ranges {
            for isp in range where !seen.insert(isp).inserted { throw Scenario.Problem(description: "\(place): ISP \(isp) is given twice") }
        }
    }
}
