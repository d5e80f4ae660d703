import Foundation
import GridCore
import Market
@testable import MarketOperations
import SCD
import Testing
import TestSupport

/// The whole money path over random books (issue 25): day-ahead and real-time requests and
/// offers → clearing → orders of every award (offers split between requests, real-time rounds
/// selling what the day-ahead left) → set-points composed per POD and ISP → acknowledgements and
/// cancellations at random → random site behaviour, measured → settlement.
@Suite struct MoneyPathPropertyTests {
    static let day = "2026-11-26"
    static let baselines = ["POD-1": 1000, "POD-2": 3000]
    /// The ISPs traded: 09:45–10:45 UTC (the rig's calendar is UTC).
    static let isps = 40...43

    struct Book {
        var random: SplitMix64

        mutating func requests(_ session: SessionKind, count: Int, from isps: ClosedRange<Int>) -> [(Marketplace.RequestSubmission, Buyer)] {
            (0..<count).map { index in
                let start = isps.lowerBound + random.below(isps.count), duration = 1 + random.below(min(2, isps.upperBound - start + 1))
                // Mostly less consumption; now and then more, which composition keeps apart.
                let sign = random.below(8) == 0 ? 1 : -1
                let most = 100 + random.below(1500), least = random.below(most / 2 + 1)
                let isp = RequestEntry.ISP(start: start, duration: duration, minPower: sign < 0 ? -most : least, maxPower: sign < 0 ? -least : most)
                let id = "\(session == .dayAhead ? "da" : "rt")-r\(index)"
                return (.init(session: session, day: MoneyPathPropertyTests.day, id: id, area: ["cp-1"], isps: [isp], priceLimit: nil),
                        random.below(2) == 0 ? .dso : .tso)
            }
        }

        mutating func offers(_ session: SessionKind, count: Int, from isps: ClosedRange<Int>) -> [Marketplace.OfferSubmission] {
            (0..<count).map { index in
                let start = isps.lowerBound + random.below(isps.count), duration = 1 + random.below(isps.upperBound - start + 1)
                let sign = random.below(8) == 0 ? 1 : -1
                let pods: [OfferPOD] = switch random.below(3) {
                case 0: [.init(pod: "POD-1")]
                case 1: [.init(pod: "POD-1"), .init(pod: "POD-2")]
                default: [.init(pod: "POD-1", share: 0.3), .init(pod: "POD-2", share: 0.7)]
                }
                return .init(session: session, day: MoneyPathPropertyTests.day, id: "\(session == .dayAhead ? "da" : "rt")-o\(index)",
                             location: "cp-1", price: Money(cents: Int64(1 + random.below(20_000))),
                             minActivationFactor: random.below(2) == 0 ? nil : Double(1 + random.below(5)) / 10,
                             isps: [.init(start: start, duration: duration, power: sign * (200 + random.below(2500)))], pods: pods, validUntil: nil)
            }
        }
    }

    @Test(arguments: 0..<40) func everyWattIsDispatchedOncePaidOnceAndInCents(seed: Int) async throws {
        let (market, store, outbox, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        var book = Book(random: SplitMix64(seed: UInt64(2_025_000 + seed)))
        let eve = MarketplaceTests.date("2026-11-25T08:00:00Z"), gate = MarketplaceTests.date("2026-11-25T12:00:00Z")
        let morning = MarketplaceTests.date("2026-11-26T08:00:00Z")
        let buyers: [Buyer: Marketplace.Party] = [.dso: .init(role: .dso, participant: "dso-1"), .tso: .init(role: .tso, participant: "tso-1")]

        // Day-ahead: a book, its clearing and an order of every award.
        for (request, buyer) in book.requests(.dayAhead, count: 2 + book.random.below(3), from: Self.isps) {
            _ = try await market.submitRequest(request, buyer: buyer, participant: buyers[buyer]!.participant, now: eve)
        }
        for offer in book.offers(.dayAhead, count: 2 + book.random.below(4), from: Self.isps) {
            _ = try await market.submitOffer(offer, aggregator: "agr-1", now: eve)
        }
        var orders: [MarketOrder] = []
        func orderAll(_ round: ClearingRound?, at time: Timestamp) async throws {
            guard let round, let final = round.final else { return }
            for (index, award) in final.awards.enumerated() {
                let buyer = award.request.hasPrefix("dso-1:") ? buyers[.dso]! : buyers[.tso]!
                orders.append(try await market.order(round: round.id, award: index, by: buyer, now: time))
            }
        }
        try await orderAll(try await market.clear(.dayAhead, day: Self.day, now: gate), at: gate)

        // Real-time, the next morning: new requests and offers, and what the day-ahead left of its offers.
        for (request, buyer) in book.requests(.realTime, count: 1 + book.random.below(3), from: Self.isps) {
            _ = try await market.submitRequest(request, buyer: buyer, participant: buyers[buyer]!.participant, now: morning)
        }
        for offer in book.offers(.realTime, count: book.random.below(2), from: Self.isps) {
            _ = try await market.submitOffer(offer, aggregator: "agr-1", now: morning)
        }
        try await orderAll(try await market.clear(.realTime, day: Self.day, now: morning), at: morning)

        // The nodes acknowledge what they got (now and then refusing), and buyers cancel some orders:
        // before any ISP, or once ISP 40 and 41 have begun.
        var random = book.random
        for envelope in outbox.published.withLock({ $0 }) {
            let setPoint = try Self.setPoint(envelope.payload)
            let status = random.below(8) == 0 ? "rejected" : "applied"
            try await market.acknowledge(node: setPoint.node, payload: Array(#"{"id":"\#(setPoint.id)","status":"\#(status)","seq":1}"#.utf8),
                                         now: morning)
        }
        for order in orders where random.below(4) == 0 {
            let buyer = order.award.request.hasPrefix("dso-1:") ? buyers[.dso]! : buyers[.tso]!
            let when = random.below(2) == 0 ? morning.adding(milliseconds: 600000) : MarketplaceTests.date("2026-11-26T10:05:00Z")
            _ = try? await market.cancel(order: order.id, by: buyer, reason: nil, now: when)
        }
        orders = try await orders.asyncMap { try #require(try await market.order($0.id)) }

        // Per POD and ISP, the set-point the node holds last is its baseline plus every standing part.
        var held: [String: SentSetPoint] = [:]
        for envelope in outbox.published.withLock({ $0 }) {
            let setPoint = try Self.setPoint(envelope.payload)
            held["\(setPoint.node) \(setPoint.from)"] = setPoint
        }
        var standing: [String: (node: String, from: String, pod: String, sum: Int, parts: Int, sent: Bool)] = [:]
        for order in orders {
            for part in order.setPoints {
                let place = "\(part.pod) \(part.isp)"
                var entry = standing[place] ?? (part.node ?? "", part.from, part.pod, 0, 0, false)
                if part.isStanding {
                    entry.sum += part.ordered
                    entry.parts += 1
                }
                entry.sent = entry.sent || part.setPoint != nil
                standing[place] = entry
            }
        }
        for (place, entry) in standing where entry.sent {
            let last = try #require(held["\(entry.node) \(entry.from)"], "\(place): nothing sent")
            if entry.parts == 0 || entry.sum == 0 {
                #expect(last.mode == "release" && last.w == nil, "\(place): \(last)")
            } else {
                #expect(last.w == Self.baselines[entry.pod]! + entry.sum, "\(place): \(last) for \(entry.sum) W ordered")
                #expect(last.mode == (entry.sum < 0 ? "max" : "min"), "\(place): \(last)")
            }
        }

        // The sites do as they please, and are measured (now and then not certified).
        var measures: [QuarterMeasure] = []
        for pod in Self.baselines.keys.sorted() {
            for isp in Self.isps {
                let watts = Double(Self.baselines[pod]! - 2500 + random.below(4000))
                measures.append(QuarterMeasure(pod: pod, start: Timestamp(rfc3339: "2026-11-26T00:00:00.000Z")!.adding(milliseconds: Int64(isp - 1) * 900_000),
                                               energyWh: watts / 4, averageW: watts, coverage: 1, samples: 225, certified: random.below(10) != 0))
            }
        }
        try await store.upsertMeasures(measures)
        let measured = Dictionary(uniqueKeysWithValues: measures.map { ("\($0.pod) \(($0.start.millisecondsSince1970 / 900_000) % 96 + 1)", $0) })

        // Settlement: never more delivered in all than the meter shows, no order beyond its part,
        // fees within the prices, and the same cents whatever the order of the orders.
        let settled = try await market.settle(orders, among: orders)
        var shuffled = orders
        shuffled.shuffle(using: &random)
        let again = try await market.settle(shuffled, among: shuffled.reversed())
        #expect(Dictionary(uniqueKeysWithValues: settled.map { ($0.order, [$0.fee, $0.penalty, $0.net]) })
                == Dictionary(uniqueKeysWithValues: again.map { ($0.order, [$0.fee, $0.penalty, $0.net]) }))
        var delivered: [String: Int] = [:]
        for settlement in settled {
            let lines = settlement.pods.flatMap(\.isps)
            #expect(settlement.fee <= settlement.price && settlement.fee >= .zero && settlement.penalty >= .zero)
            #expect(lines.map(\.fee).sum() == settlement.fee && lines.map(\.penalty).sum() == settlement.penalty)
            #expect(lines.map(\.net).sum() == settlement.net && settlement.net == settlement.fee - settlement.penalty)
            for line in lines {
                #expect(line.delivered >= 0 && line.delivered <= abs(line.ordered), "\(settlement.order): \(line)")
                if line.status != .settled { #expect(line.delivered == 0 && line.fee == .zero && line.penalty == .zero) }
                delivered["\(line.pod) \(line.isp)", default: 0] += line.delivered
            }
        }
        #expect(settled.map(\.fee).sum() <= orders.map(\.award.price).sum())
        for (place, total) in delivered where total > 0 {
            let measure = try #require(measured[place])
            let entry = try #require(standing[place])
            let deviation = (Int(measure.averageW) - Self.baselines[entry.pod]!) * (entry.sum < 0 ? -1 : 1)
            #expect(total <= max(deviation, 0), "\(place): \(total) W paid as delivered, the meter shows \(deviation) W")
        }
    }

    struct SentSetPoint: Decodable, CustomStringConvertible {
        var id: String
        var node: String
        var from: String
        var mode: String
        var w: Int?
        var orders: [String]
        var description: String { "\(mode) \(w.map(String.init) ?? "-") for \(orders)" }
    }

    static func setPoint(_ payload: [UInt8]) throws -> SentSetPoint {
        let envelope = try JSONDecoder().decode([String: String].self, from: Data(payload))
        return try JSONDecoder().decode(SentSetPoint.self, from: Data(try #require(envelope["sp"]).utf8))
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
