import GridCore

/// The offers with what is left of each (in hundredths), indexed by location, so that a request
/// looks only at the offers of its area that could serve it, and ranks them by what it needs.
final class OfferBook {
    let offers: [FlexibilityOffer]
    var remaining: [Int]
    /// Location → offer positions.
    private let byLocation: [String: [Int]]
    private let location: [String]
    private let direction: [Int]
    /// Each offer's first and last ISP.
    private let bounds: [ClosedRange<Int>]
    /// Each offer's price (cents), submission and rank by id: the merit order's keys, read
    /// without touching the offers (a wide request compares thousands of them).
    private let price: [Int64]
    private let sequence: [Int]
    private let idRank: [Int]

    init(_ offers: [FlexibilityOffer]) {
        self.offers = offers
        location = offers.map(\.location)
        direction = offers.map { offer in offer.isps.first { $0.value != 0 }.map { $0.value > 0 ? 1 : -1 } ?? 0 }
        bounds = offers.map { offer in
            (offer.isps.map(\.start).min() ?? 0)...(offer.isps.map { $0.start + $0.duration - 1 }.max() ?? 0)
        }
        remaining = offers.map(\.available)
        price = offers.map(\.price.cents)
        sequence = offers.map(\.sequence)
        var rank = [Int](repeating: 0, count: offers.count)
        for (position, index) in offers.indices.sorted(by: { offers[$0].id < offers[$1].id }).enumerated() { rank[index] = position }
        idRank = rank
        var index: [String: [Int]] = [:]
        for (position, offer) in offers.enumerated() { index[offer.location, default: []].append(position) }
        byLocation = index
    }

    /// An offer as a request ranks it: the power it gives within the request's ISPs at full
    /// activation, summed over them (watt-ISPs; the energy is that × the ISP's length).
    struct Candidate {
        let index: Int
        let wattISPs: Int
        let price: Int64
        let sequence: Int
        let idRank: Int

        /// Cheaper per MWh of what the request needs (exactly: cross-multiplied in 128 bits),
        /// then submitted earlier, then the lower id.
        static func precedes(_ a: Candidate, _ b: Candidate) -> Bool {
            let costA = Int128(a.price) * Int128(b.wattISPs), costB = Int128(b.price) * Int128(a.wattISPs)
            if costA != costB { return costA < costB }
            if a.sequence != b.sequence { return a.sequence < b.sequence }
            return a.idRank < b.idRank
        }

        /// `price` per MWh of that energy, to the cent (half to even).
        func pricePerMWh(ispMinutes: Int) -> Money? {
            Money(cents: price).perMWh(wattISPs: wattISPs, ispMinutes: ispMinutes)
        }
    }

    /// The request's merit order (docs/market.md, "Clearing"): the offers of its area and
    /// direction that give it energy within its ISPs and cost at most its price limit per MWh of
    /// that energy, cheapest per MWh of that energy first, then by submission, then by id. Ratios
    /// are compared exactly (cross-multiplied in 128 bits).
    func ranked(for request: FlexibilityRequest, ispMinutes: Int) -> [Candidate] {
        let wanted = request.isps.first?.value.direction ?? 0
        let window = (request.isps.map(\.start).min() ?? 1)...max(1, request.isps.map { $0.start + $0.duration - 1 }.max() ?? 1)
        var candidates: [Candidate] = []
        for index in indices(in: request.area) where direction[index] == wanted && bounds[index].overlaps(window) && remaining[index] > 0 {
            let wattISPs = Self.wattISPs(offers[index], within: request.isps)
            guard wattISPs > 0 else { continue }
            if let limit = request.priceLimitPerMWh,
               Int128(price[index]) * Money.wattMinutesPerMWh > Int128(limit.cents) * Int128(wattISPs) * Int128(ispMinutes) {
                continue
            }
            candidates.append(Candidate(index: index, wattISPs: wattISPs, price: price[index], sequence: sequence[index], idRank: idRank[index]))
        }
        candidates.sort(by: Candidate.precedes)
        return candidates
    }

    /// The W·ISP an offer gives within the ISPs a request asks for: each of its spans' power
    /// over its overlap with each asked span.
    static func wattISPs(_ offer: FlexibilityOffer, within asked: [ISPSpan<PowerRange>]) -> Int {
        var total = 0
        for span in offer.isps {
            let magnitude = abs(span.value)
            for need in asked where need.value.maximum > 0 {
                total += max(0, min(span.start + span.duration, need.start + need.duration) - max(span.start, need.start)) * magnitude
            }
        }
        return total
    }

    /// The offers located in `area`: read off the whole book when the area holds much of it,
    /// else from its locations' lists.
    private func indices(in area: Set<String>) -> [Int] {
        let inArea = area.reduce(0) { $0 + (byLocation[$1]?.count ?? 0) }
        if inArea * 8 > offers.count { return offers.indices.filter { area.contains(location[$0]) } }
        return area.flatMap { byLocation[$0] ?? [] }
    }
}
