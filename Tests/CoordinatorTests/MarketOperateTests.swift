import Foundation
import GridCore
import Market
@testable import MarketOperations
import SCD
import Sodium
import Testing
import TestSupport

/// The operate phase (FUSION FR43, issue 25): the dispatch lead, cancelling what has not begun,
/// withdrawing a request, the validation timeout, and signed notifications retried until taken.
@Suite struct MarketOperateTests {
    static let day = "2026-11-26"
    static let eve = MarketplaceTests.date("2026-11-25T08:00:00Z")
    static let gate = MarketplaceTests.date("2026-11-25T12:00:00Z")
    static let dso = Marketplace.Party(role: .dso, participant: "dso-1")

    /// A final day-ahead round: one request of dso-1 and one offer of agr-1 at both PODs, ISPs 40–41
    /// (09:45–10:15 UTC), 1,000 W less for 10.00.
    static func cleared(_ market: Marketplace) async throws -> ClearingRound {
        _ = try await market.submitRequest(.init(session: .dayAhead, day: day, id: "r1", area: ["cp-1"],
                                                 isps: [.init(start: 40, duration: 2, minPower: -1000, maxPower: -1000)], priceLimit: nil),
                                           buyer: .dso, participant: "dso-1", now: eve)
        _ = try await market.submitOffer(.init(session: .dayAhead, day: day, id: "o1", location: "cp-1", price: 10, minActivationFactor: nil,
                                               isps: [.init(start: 40, duration: 2, power: -1000)], pods: [.init(pod: "POD-1"), .init(pod: "POD-2")],
                                               validUntil: nil), aggregator: "agr-1", now: eve)
        return try #require(try await market.clear(.dayAhead, day: day, now: gate))
    }

    /// dso-1's request r1 for 500–1,000 W less at ISP 40 and agr-1's offer o1 of 1,000 W at POD-1.
    static func oneISPBook(_ market: Marketplace) async throws {
        _ = try await market.submitRequest(.init(session: .dayAhead, day: Self.day, id: "r1", area: ["cp-1"],
                                                 isps: [.init(start: 40, minPower: -1000, maxPower: -500)], priceLimit: nil),
                                           buyer: .dso, participant: "dso-1", now: Self.eve)
        _ = try await market.submitOffer(.init(session: .dayAhead, day: Self.day, id: "o1", location: "cp-1", price: 10, minActivationFactor: nil,
                                               isps: [.init(start: 40, power: -1000)], pods: [.init(pod: "POD-1")], validUntil: nil),
                                         aggregator: "agr-1", now: Self.eve)
    }

    @Test func anOrderPlacedLateDispatchesOnlyTheISPsAheadOfTheLead() async throws {
        let (market, _, outbox, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        let round = try await Self.cleared(market)
        // 09:59:30: ISP 40 has begun, ISP 41 begins in 30 s, within the 60 s lead: nothing to dispatch.
        await #expect(throws: MarketRefusal.self) {
            try await market.order(round: round.id, award: 0, by: Self.dso, now: MarketplaceTests.date("2026-11-26T09:59:30Z"))
        }
        #expect(outbox.published.withLock { $0 }.isEmpty)
        // 09:50: ISP 40 is trimmed with its reason and an alert; ISP 41 is dispatched.
        let order = try await market.order(round: round.id, award: 0, by: Self.dso, now: MarketplaceTests.date("2026-11-26T09:50:00Z"))
        #expect(order.setPoints.filter { $0.isp == 40 }.allSatisfy { $0.status == .trimmed && $0.reason?.contains("dispatch_lead_s") == true })
        #expect(order.setPoints.filter { $0.isp == 41 }.allSatisfy { $0.status == .sent && $0.setPoint != nil })
        #expect(order.alerts.count == 1 && order.alerts[0].problem.contains("ISPs 40 begin within dispatch_lead_s"))
        #expect(outbox.published.withLock { $0 }.count == 2, "one set-point a POD, for ISP 41 only")
        // Trimmed ISPs are never settled: not dispatched, no fee, no penalty.
        let settled = try await market.settle(order)
        let trimmed = settled.pods.flatMap(\.isps).filter { $0.isp == 40 }
        #expect(trimmed.allSatisfy { $0.status == .notDispatched && $0.fee == .zero && $0.penalty == .zero })
        #expect(settled.notDispatched.filter { $0.isp == 40 }.count == 2 && settled.notDispatched.filter { $0.isp == 40 }.allSatisfy { $0.reason.contains("dispatch_lead_s") })
    }

    @Test func cancellingAnOrderTheNodeIsApplyingReleasesWhatHasNotBegun() async throws {
        let (market, store, outbox, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        let round = try await Self.cleared(market)
        let order = try await market.order(round: round.id, award: 0, by: Self.dso, now: Self.gate)
        // The nodes apply ISP 40's set-points when it begins.
        for part in order.setPoints where part.isp == 40 {
            try await market.acknowledge(node: part.node!, payload: Array(#"{"id":"\#(part.setPoint!)","status":"applied","seq":7}"#.utf8),
                                         now: MarketplaceTests.date("2026-11-26T09:45:01Z"))
        }
        let sentBefore = outbox.published.withLock { $0.count }
        // Another participant's order is not there to cancel; an aggregator may not cancel.
        await #expect(throws: MarketRefusal.self) {
            try await market.cancel(order: order.id, by: .init(role: .dso, participant: "dso-2"), reason: nil, now: MarketplaceTests.date("2026-11-26T09:50:00Z"))
        }
        let cancelled = try await market.cancel(order: order.id, by: Self.dso, reason: "congestion gone", now: MarketplaceTests.date("2026-11-26T09:50:00Z"))
        #expect(cancelled.cancellation?.by == "DSO dso-1" && cancelled.cancellation?.reason == "congestion gone")
        #expect(cancelled.setPoints.filter { $0.isp == 40 }.allSatisfy { $0.status == .applied }, "ISP 40 has begun: it stands")
        #expect(cancelled.setPoints.filter { $0.isp == 41 }.allSatisfy { $0.status == .cancelled })
        // Each node receives a release for ISP 41: no constraint, the order no longer listed.
        let released = outbox.published.withLock { Array($0[sentBefore...]) }
        #expect(released.count == 2)
        for envelope in released {
            let setPoint = try MoneyPathPropertyTests.setPoint(envelope.payload)
            #expect(setPoint.mode == "release" && setPoint.w == nil && setPoint.orders.isEmpty && setPoint.from == "2026-11-26T10:00:00.000Z")
        }
        // Nothing is left to cancel; the cancelled ISP settles at nothing, ISP 40 as measured.
        await #expect(throws: MarketRefusal.self) {
            try await market.cancel(order: order.id, by: Self.dso, reason: nil, now: MarketplaceTests.date("2026-11-26T09:51:00Z"))
        }
        let quarter = { (isp: Int, watts: Double, pod: String) in
            QuarterMeasure(pod: pod, start: Timestamp(rfc3339: "2026-11-26T00:00:00.000Z")!.adding(milliseconds: Int64(isp - 1) * 900_000),
                           energyWh: watts / 4, averageW: watts, coverage: 1, samples: 225, certified: true)
        }
        try await store.upsertMeasures([quarter(40, 750, "POD-1"), quarter(40, 2250, "POD-2"), quarter(41, 1000, "POD-1"), quarter(41, 3000, "POD-2")])
        let settled = try await market.settle(try #require(try await market.order(order.id)))
        #expect(settled.delivered == 1000 && settled.fee == Money("5.00"), "half the order delivered: half the price")
        #expect(settled.pods.flatMap(\.isps).filter { $0.isp == 41 }.allSatisfy { $0.status == .cancelled && $0.fee == .zero })
    }

    @Test func aCancellationShareOfTheFeeIsPaidForCancelledISPs() async throws {
        let (market, _, _, _, folder) = try await MarketplaceTests.rig(configure: { $0.cancellationFeePercent = 20 })
        _ = folder
        let round = try await Self.cleared(market)
        let order = try await market.order(round: round.id, award: 0, by: Self.dso, now: Self.gate)
        _ = try await market.cancel(order: order.id, by: Self.dso, reason: nil, now: Self.gate.adding(milliseconds: 60000))
        let settled = try await market.settle(try #require(try await market.order(order.id)))
        #expect(settled.fee == Money("2.00") && settled.delivered == 0 && settled.penalty == .zero, "20 % of 10.00, nothing delivered or short")
    }

    /// The scheduler at gate closure and the market operator a second later: one round, not two
    /// selling the same offers.
    @Test func aSessionClearedTwiceAtOnceGivesOneRound() async throws {
        let (market, _, _, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        try await Self.oneISPBook(market)
        async let first = try? market.clear(.dayAhead, day: Self.day, now: Self.gate)
        async let second = try? market.clear(.dayAhead, day: Self.day, now: Self.gate.adding(milliseconds: 1000))
        let cleared = await [first, second].compactMap { $0 ?? nil }
        #expect(cleared.count == 1)
        #expect(try await market.rounds(day: Self.day).count == 1)
    }

    /// A real-time round awaiting the DSO's validation holds what it awarded: the next round
    /// does not sell it again.
    @Test func whatARoundAwaitingValidationAwardedIsNotSoldAgain() async throws {
        let (market, _, _, _, folder) = try await MarketplaceTests.rig(validation: .dso)
        _ = folder
        let morning = MarketplaceTests.date("2026-11-26T08:00:00Z")
        _ = try await market.submitOffer(.init(session: .realTime, day: Self.day, id: "o1", location: "cp-1", price: 10, minActivationFactor: nil,
                                               isps: [.init(start: 40, power: -1000)], pods: [.init(pod: "POD-1")], validUntil: nil),
                                         aggregator: "agr-1", now: morning)
        for (index, minute) in [0, 5].enumerated() {
            _ = try await market.submitRequest(.init(session: .realTime, day: Self.day, id: "r\(index)", area: ["cp-1"],
                                                     isps: [.init(start: 40, minPower: -1000, maxPower: -1000)], priceLimit: nil),
                                               buyer: .dso, participant: "dso-1", now: morning.adding(milliseconds: Int64(minute) * 60_000))
            let round = try await market.clear(.realTime, day: Self.day, now: morning.adding(milliseconds: Int64(minute) * 60_000))
            #expect(round?.preliminary.awards.map(\.offer) == (index == 0 ? ["agr-1:o1"] : []), "round \(index)")
        }
    }

    @Test func aRequestIsWithdrawnByItsBuyerBeforeItsClearing() async throws {
        let (market, _, _, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        try await Self.oneISPBook(market)
        await #expect(throws: MarketRefusal.self, "not dso-2's") {
            try await market.withdrawRequest("r1", by: .init(role: .dso, participant: "dso-2"), reason: nil, now: Self.eve)
        }
        let withdrawn = try await market.withdrawRequest("r1", by: Self.dso, reason: "forecast revised", now: Self.eve)
        #expect(withdrawn.status == .withdrawn && withdrawn.withdrawal?.reason == "forecast revised")
        await #expect(throws: MarketRefusal.self, "once") { try await market.withdrawRequest("r1", by: Self.dso, reason: nil, now: Self.eve) }
        let round = try #require(try await market.clear(.dayAhead, day: Self.day, now: Self.gate))
        #expect(round.requests.isEmpty && round.preliminary.awards.isEmpty, "nothing left to serve")
    }

    @Test(arguments: [MarketConfig.ValidationFallback.builtIn, .rejectAll])
    func aRoundNotValidatedInTimeFallsBack(fallback: MarketConfig.ValidationFallback) async throws {
        let (market, store, _, _, folder) = try await MarketplaceTests.rig(validation: .dso, configure: {
            $0.validationTimeoutSeconds = 600
            $0.validationFallback = fallback
        })
        _ = folder
        let round = try await Self.cleared(market)
        #expect(round.state == .preliminary)
        await market.tick(now: Self.gate.adding(milliseconds: 599000), realTimeDue: false)
        #expect(try await market.round(round.id).state == .preliminary)
        await market.tick(now: Self.gate.adding(milliseconds: 600000), realTimeDue: false)
        let decided = try await market.round(round.id)
        #expect(decided.state == .final && decided.validatedBy == "timeout (\(fallback.rawValue))")
        let offer = try #require(try await store.record(MarketOffer.self, id: "agr-1:o1"))
        switch fallback {
        case .builtIn:
            #expect(decided.final?.awards.count == 1 && offer.awarded == 100)
        case .rejectAll:
            #expect(decided.final?.awards.isEmpty == true && decided.final?.rejected.first?.reason == "not validated within 600 s")
            #expect(offer.awarded == 0, "released for a later session")
        }
    }

    @Test func notificationsAreSignedRetriedWithBackOffAndListed() async throws {
        let now = MarketplaceTests.date("2026-11-25T12:00:00Z")
        let (market, _, outbox, key, folder) = try await MarketplaceTests.rig(clock: { now })
        _ = folder
        // The clearing raises "preliminary" and "final"; the webhook fails each of them twice.
        outbox.answers.withLock { $0 = [503, 503, 503, 503] }
        _ = try await Self.cleared(market)
        func preliminary() async throws -> MarketNotification { try #require(try await market.notifications(day: "2026-11-25").first { $0.event == "preliminary" }) }
        await market.deliverNotifications(now: now)
        let event = try await preliminary()
        #expect(event.attempts == 1 && event.delivered == nil && event.lastError?.contains("answered 503") == true)
        // Backed off: not within the second; then again, failing; then two seconds later, taken.
        await market.deliverNotifications(now: now.adding(milliseconds: 500))
        #expect(try await preliminary().attempts == 1)
        await market.deliverNotifications(now: now.adding(milliseconds: 1000))
        await market.deliverNotifications(now: now.adding(milliseconds: 2000))
        let retried = try await preliminary()
        #expect(retried.attempts == 2 && retried.delivered == nil)
        await market.deliverNotifications(now: now.adding(milliseconds: 3000))
        let delivered = try await preliminary()
        #expect(delivered.attempts == 3 && delivered.delivered == now.adding(milliseconds: 3000).millisecondsSince1970 && !delivered.failed)
        #expect(try await market.notifications(day: "2026-11-25").allSatisfy { $0.delivered != nil })
        // Each attempt is signed over its time and the exact body, with the set-point key.
        let posts = outbox.posted.withLock { $0 }.filter { $0.body == Array(delivered.body.utf8) }
        #expect(posts.count == 3)
        for post in posts {
            let header = try #require(post.headers.first { $0.name == "Signature" }?.value)
            let fields = Dictionary(uniqueKeysWithValues: header.split(separator: ",").map { field in
                let pair = field.split(separator: "=", maxSplits: 1)
                return (String(pair[0]), String(pair[1]))
            })
            let signed = Array((fields["t"]! + ".").utf8) + post.body
            #expect(key.publicKey.verify(try Signature(base64: fields["ed25519"]!), of: signed))
            #expect(!key.publicKey.verify(try Signature(base64: fields["ed25519"]!), of: signed + [0x20]), "a changed body fails")
        }
    }
}
