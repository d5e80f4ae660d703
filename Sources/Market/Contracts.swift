import GridCore

/// An availability contract, a FlexOption (FUSION FR07, FR17; UFTP's ContractID): the DSO
/// `buyer` pays `aggregator` to keep `power` watts of flexibility available at a congestion
/// point in the service windows of the days `first`…`last`, activated through the market at or
/// under a price cap (docs/market.md, "Availability contracts").
public struct AvailabilityContract: Codable, Sendable, Equatable {
    /// What availability costs: a rate per MW and service ISP not released, or one sum for the
    /// whole period, spread over its months by their service ISPs.
    public enum Fee: Codable, Sendable, Equatable {
        case perMWPerISP(Money)
        case perPeriod(Money)

        enum CodingKeys: String, CodingKey { case perMWPerISP = "per_mw_per_isp", perPeriod = "per_period" }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            switch (try container.decodeIfPresent(Money.self, forKey: .perMWPerISP), try container.decodeIfPresent(Money.self, forKey: .perPeriod)) {
            case (let rate?, nil): self = .perMWPerISP(rate)
            case (nil, let sum?): self = .perPeriod(sum)
            default:
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "a fee is either per_mw_per_isp or per_period"))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .perMWPerISP(let rate): try container.encode(rate, forKey: .perMWPerISP)
            case .perPeriod(let sum): try container.encode(sum, forKey: .perPeriod)
            }
        }
    }

    public var id: String
    /// The DSO that pays for it.
    public var buyer: String
    public var aggregator: String
    public var congestionPoint: String
    /// The first and last market days it holds (`YYYY-MM-DD`).
    public var first: String
    public var last: String
    /// ISO weekdays in service: 1 Monday … 7 Sunday.
    public var weekdays: [Int]
    /// The ISPs of a service day in service, `firstISP`…`lastISP` (a shorter day has fewer).
    public var firstISP: Int
    public var lastISP: Int
    /// W, signed as UFTP: negative is less consumption.
    public var power: Int
    public var fee: Fee
    public var priceCapPerMWh: Money
    /// Charged for each request the aggregator did not answer as contracted.
    public var penaltyPerMiss: Money

    enum CodingKeys: String, CodingKey {
        case id, buyer, aggregator, congestionPoint = "congestion_point", first = "first_day", last = "last_day", weekdays
        case firstISP = "first_isp", lastISP = "last_isp", power = "power_w", fee, priceCapPerMWh = "price_cap_per_mwh"
        case penaltyPerMiss = "penalty_per_miss"
    }

    /// As the API reads it: `buyer` may be left out (a DSO registers for itself).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        buyer = try container.decodeIfPresent(String.self, forKey: .buyer) ?? ""
        aggregator = try container.decode(String.self, forKey: .aggregator)
        congestionPoint = try container.decode(String.self, forKey: .congestionPoint)
        first = try container.decode(String.self, forKey: .first)
        last = try container.decode(String.self, forKey: .last)
        weekdays = try container.decodeIfPresent([Int].self, forKey: .weekdays) ?? Array(1...7)
        firstISP = try container.decode(Int.self, forKey: .firstISP)
        lastISP = try container.decode(Int.self, forKey: .lastISP)
        power = try container.decode(Int.self, forKey: .power)
        fee = try container.decode(Fee.self, forKey: .fee)
        priceCapPerMWh = try container.decode(Money.self, forKey: .priceCapPerMWh)
        penaltyPerMiss = try container.decodeIfPresent(Money.self, forKey: .penaltyPerMiss) ?? .zero
    }

    public init(id: String, buyer: String, aggregator: String, congestionPoint: String, first: String, last: String, weekdays: [Int],
                firstISP: Int, lastISP: Int, power: Int, fee: Fee, priceCapPerMWh: Money, penaltyPerMiss: Money) {
        self.id = id
        self.buyer = buyer
        self.aggregator = aggregator
        self.congestionPoint = congestionPoint
        self.first = first
        self.last = last
        self.weekdays = weekdays
        self.firstISP = firstISP
        self.lastISP = lastISP
        self.power = power
        self.fee = fee
        self.priceCapPerMWh = priceCapPerMWh
        self.penaltyPerMiss = penaltyPerMiss
    }

    /// Five years: the longest contract (and the work one month's fee takes) is bounded.
    public static let maximumDays = 1_827

    /// The first fault, named by its field; nil when the contract can be registered.
    public func problem(calendar: MarketCalendar) -> (field: String, problem: String)? {
        for (field, text) in [("id", id), ("aggregator", aggregator), ("congestion_point", congestionPoint)]
        where text.isEmpty || text.utf8.count > Bounds.locationBytes {
            return (field, "\(field): 1 to \(Bounds.locationBytes) bytes")
        }
        guard calendar.start(of: first) != nil else { return ("first_day", "first_day must be YYYY-MM-DD") }
        guard calendar.start(of: last) != nil, first <= last else { return ("last_day", "last_day must be YYYY-MM-DD, not before first_day") }
        guard let latest = calendar.day(after: first, by: Self.maximumDays - 1), last <= latest else {
            return ("last_day", "last_day: a contract holds at most \(Self.maximumDays) days")
        }
        guard !weekdays.isEmpty, weekdays.allSatisfy({ (1...7).contains($0) }) else {
            return ("weekdays", "weekdays: at least one of 1 (Monday) … 7 (Sunday)")
        }
        guard clearingISPs.contains(firstISP), clearingISPs.contains(lastISP), firstISP <= lastISP else {
            return ("first_isp", "first_isp…last_isp must lie within 1…\(clearingISPs.upperBound), in order")
        }
        guard power != 0, Bounds.powerW.contains(power) else { return ("power_w", "power_w: not 0, within \(Bounds.text(Bounds.powerW)) W") }
        switch fee {
        case .perMWPerISP(let amount), .perPeriod(let amount):
            guard Bounds.price.contains(amount) else { return ("fee", "fee: between 0 and \(Bounds.price.upperBound)") }
        }
        guard Bounds.price.contains(priceCapPerMWh) else { return ("price_cap_per_mwh", "price_cap_per_mwh: between 0 and \(Bounds.price.upperBound)") }
        guard Bounds.price.contains(penaltyPerMiss) else { return ("penalty_per_miss", "penalty_per_miss: between 0 and \(Bounds.price.upperBound)") }
        return nil
    }

    /// The ISPs of `day` in service: none outside the contract's days and weekdays.
    public func serviceISPs(on day: String, calendar: MarketCalendar) -> [Int] {
        guard first <= day, day <= last, let weekday = MarketCalendar.weekday(of: day), weekdays.contains(weekday) else { return [] }
        // Every day has at least 23 hours of ISPs: only a window reaching beyond asks the calendar.
        let surely = 23 * 60 / calendar.ispMinutes
        guard let count = lastISP <= surely ? lastISP : calendar.ispCount(day), firstISP <= count else { return [] }
        return Array(firstISP...min(lastISP, count))
    }

    /// The availability fee of each month the contract covers: per MW and service ISP not
    /// released, or the period's sum spread over its months by their service ISPs (largest
    /// remainder, so the months add up to the sum exactly). Rounded half to even to the cent once
    /// a month (docs/market.md, "Money").
    public func availabilityFees(released: [String: Set<Int>], calendar: MarketCalendar) -> [String: Money] {
        let months = months(calendar: calendar)
        switch fee {
        case .perMWPerISP(let rate):
            return Dictionary(uniqueKeysWithValues: months.map { month in
                let isps = MarketCalendar.days(of: month).reduce(0) { sum, day in
                    sum + serviceISPs(on: day, calendar: calendar).filter { !(released[day]?.contains($0) ?? false) }.count
                }
                return (month, rate.share(Int64(power.magnitude) * Int64(isps), of: 1_000_000))
            })
        case .perPeriod(let sum):
            let weights = months.map { month in
                Int64(MarketCalendar.days(of: month).reduce(0) { $0 + serviceISPs(on: $1, calendar: calendar).count })
            }
            return Dictionary(uniqueKeysWithValues: zip(months, Money.spread(sum, over: weights)))
        }
    }

    /// The months (`YYYY-MM`) the contract's days fall in.
    public func months(calendar: MarketCalendar) -> [String] {
        var months: [String] = [], month = String(first.prefix(7))
        while month <= last.prefix(7) {
            months.append(month)
            guard let next = calendar.day(after: month + "-01", by: 31).map({ String($0.prefix(7)) }), next > month else { break }
            month = next
        }
        return months
    }
}

/// A request a contracted aggregator did not answer as contracted (FUSION FR52; seed 001 FR4,
/// FR6): the service ISPs it fell short on, what was required and the least it offered there.
public struct ObligationMiss: Codable, Sendable, Equatable {
    public var contract: String
    public var request: String
    public var day: String
    public var isps: [Int]
    /// W at each of those ISPs, as magnitudes.
    public var requiredW: Int
    public var offeredW: Int
    public var reason: String

    enum CodingKeys: String, CodingKey {
        case contract, request, day, isps, requiredW = "required_w", offeredW = "offered_w", reason
    }
}

extension AvailabilityContract {
    /// What a request asks of the contract at each service ISP of `day` not released: the
    /// contracted power, or less when the request asks less; none unless the request is at the
    /// contract's congestion point and goes the contract's way.
    public func obligation(day: String, request: RequestEntry, released: Set<Int>, calendar: MarketCalendar) -> [Int: Int] {
        guard request.area.contains(congestionPoint) else { return [:] }
        let service = Set(serviceISPs(on: day, calendar: calendar)).subtracting(released)
        var required: [Int: Int] = [:]
        for isp in request.isps {
            let asked = max(isp.minPower.magnitude, isp.maxPower.magnitude)
            let way = isp.minPower != 0 ? isp.minPower.signum() : isp.maxPower.signum()
            guard asked > 0, way == power.signum() else { continue }
            for number in isp.range where service.contains(number) {
                required[number] = Int(min(asked, power.magnitude))
            }
        }
        return required
    }

    /// The miss, if the aggregator's `offers` (of the request's day and session, not revoked)
    /// do not give what `obligation` requires at every ISP, at the contract's point and way, at
    /// or under its price cap; nil when they do or nothing was required.
    public func assess(request key: String, day: String, _ request: RequestEntry, offers: [OfferEntry], released: Set<Int>,
                       calendar: MarketCalendar) -> ObligationMiss? {
        let required = obligation(day: day, request: request, released: released, calendar: calendar)
        guard !required.isEmpty else { return nil }
        let here = offers.filter { $0.aggregator == aggregator && $0.location == congestionPoint }
        let capped = here.filter { offer in offer.pricePerMWh(ispMinutes: calendar.ispMinutes).map { $0 <= priceCapPerMWh } ?? false }
        var offered: [Int: Int] = [:]
        for offer in capped {
            for isp in offer.isps where isp.power.signum() == power.signum() {
                for number in isp.range { offered[number, default: 0] += Int(isp.power.magnitude) }
            }
        }
        let short = required.keys.filter { offered[$0, default: 0] < required[$0]! }.sorted()
        guard let worst = short.min(by: { offered[$0, default: 0] < offered[$1, default: 0] }) else { return nil }
        let reason = here.isEmpty ? "no offer at \(congestionPoint)"
            : capped.isEmpty ? "every offer at \(congestionPoint) is over the price cap of \(priceCapPerMWh) per MWh"
            : "offered \(offered[worst, default: 0]) W of the \(required[worst]!) W contracted at ISP \(worst)"
        return ObligationMiss(contract: id, request: key, day: day, isps: short, requiredW: required[worst]!,
                              offeredW: offered[worst, default: 0], reason: reason)
    }
}
