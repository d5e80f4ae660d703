import Foundation
import GridCore
import Market
@testable import MarketOperations
import SCD
import Testing
import TestSupport

/// What one participant's entries can do to the market and to the others: a poisoned book or a
/// failing clearing never stops the day, ids are each participant's own, an aggregator sees only
/// its own, and each DSO decides only the awards of its own requests.
@Suite struct MarketIsolationTests {
    static let day = "2026-11-26"
    static let morning = MarketplaceTests.date("2026-11-25T08:00:00Z")
    static let gate = MarketplaceTests.date("2026-11-25T12:00:00Z")

    static func offer(_ id: String, pod: String = "POD-1", price: Money = 10, power: Int = -500) -> Marketplace.OfferSubmission {
        .init(session: .dayAhead, day: day, id: id, location: "cp-1", price: price, minActivationFactor: nil,
              isps: [.init(start: 40, power: power)], pods: [.init(pod: pod)], validUntil: nil)
    }

    /// A stored offer as a store written before today's checks may hold it.
    static func stored(_ id: String, power: Int, price: Money) throws -> MarketDocument {
        let entry = OfferEntry(id: id, aggregator: "agr-1", location: "cp-1", price: price, minActivationFactor: nil,
                               isps: [.init(start: 40, power: power)])
        let offer = MarketOffer(entry: entry, session: .dayAhead, day: day, pods: [.init(pod: "POD-1")], validUntil: nil, submitted: 0,
                                status: .open, awarded: 0)
        return MarketDocument(kind: .offer, id: offer.key, day: day, body: try MarketJSON.encode(offer))
    }

    @Test func aPoisonedBookLeavesTheProcessUpAndTheDayCleared() async throws {
        let (market, store, outbox, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        _ = try await market.submitRequest(MarketplaceTests.request(.dayAhead, "r1", min: -500, max: -500), buyer: .dso, participant: "dso-1", now: Self.morning)
        _ = try await market.submitOffer(Self.offer("good"), aggregator: "agr-1", now: Self.morning)
        _ = try await store.putMarketDocument(try Self.stored("min", power: Int.min, price: 1), replace: false)
        _ = try await store.putMarketDocument(try Self.stored("huge", power: -500, price: Money(cents: 999_999_999_999_999_999)), replace: false)
        _ = try await store.putMarketDocument(MarketDocument(kind: .offer, id: "agr-1:garbage", day: Self.day, body: Array("{\"entry\":".utf8)),
                                              replace: false)
        // The scheduler's tick at gate closure clears the day as if the three were not there.
        await market.tick(now: Self.gate, realTimeDue: false)
        let round = try await market.round(Marketplace.roundID(.dayAhead, day: Self.day, at: Self.gate))
        #expect(round.final?.awards.map(\.offer) == ["agr-1:good"])
        #expect(round.preliminary.excluded.map(\.id).sorted() == ["agr-1:garbage", "agr-1:huge", "agr-1:min"])
        #expect(round.preliminary.excluded.first { $0.id == "agr-1:min" }?.reason.contains("-9223372036854775808 W is outside") == true)
        #expect(round.preliminary.excluded.first { $0.id == "agr-1:huge" }?.reason.contains("price: between 0 and") == true)
        #expect(await outbox.events(market).filter { $0 == "excluded" }.count == 3)
        // The market operator removes one, on record.
        let revoked = try await market.revokeOffer("agr-1:min", by: .init(role: .marketOperator, participant: "mo-1"),
                                                   reason: "power out of bounds", now: Self.gate)
        #expect(revoked.status == .revoked && revoked.revocation?.by == "MO mo-1" && revoked.revocation?.reason == "power out of bounds")
    }

    @Test func aClearingThatFailsIsRetriedAndReportedNotFatal() async throws {
        let (market, store, outbox, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        _ = try await market.submitOffer(Self.offer("good"), aggregator: "agr-1", now: Self.morning)
        // A round of the day the market cannot read: the clearing cannot know what was cleared.
        let broken = MarketDocument(kind: .round, id: "rt-\(Self.day)-x", day: Self.day, body: Array("not json".utf8))
        _ = try await store.putMarketDocument(broken, replace: false)
        await market.tick(now: Self.gate, realTimeDue: false)
        var failures = await market.clearingFailures(day: Self.day)
        #expect(failures.count == 1 && failures[0].session == .dayAhead && failures[0].attempts == 1 && failures[0].reason.contains("not readable"))
        // Backed off: not tried again within the second; then tried, and reported only once.
        await market.tick(now: Self.gate.adding(milliseconds: 500), realTimeDue: false)
        #expect(await market.clearingFailures(day: Self.day)[0].attempts == 1)
        await market.tick(now: Self.gate.adding(milliseconds: 1000), realTimeDue: false)
        failures = await market.clearingFailures(day: Self.day)
        #expect(failures[0].attempts == 2 && failures[0].retryAt == Self.gate.adding(milliseconds: 3000))
        #expect(await outbox.events(market).filter { $0 == "clearing-failed" }.count == 1)
        let book = MarketBook(day: Self.day, requests: [], offers: [], rounds: [], failures: failures)
        #expect(book.visible(to: nil).failures.count == 1 && book.visible(to: "agr-1").failures.isEmpty, "not an aggregator's business")
        // Once the document is mended, the next attempt clears the day.
        let empty = ClearingRound(id: broken.id, session: .realTime, day: Self.day, cleared: 0, requests: [], offers: [],
                                  preliminary: ClearingOutcome(awards: [], requests: []), state: .final, validatedBy: nil, final: nil)
        _ = try await store.putMarketDocument(MarketDocument(kind: .round, id: broken.id, day: Self.day, body: try MarketJSON.encode(empty)),
                                              replace: true)
        await market.tick(now: Self.gate.adding(milliseconds: 3000), realTimeDue: false)
        #expect(await market.clearingFailures(day: Self.day).isEmpty)
        #expect(try await market.round(Marketplace.roundID(.dayAhead, day: Self.day, at: Self.gate.adding(milliseconds: 3000))).state == .final)

    }

    @Test func idsAreEachParticipantsOwnAndAnAggregatorSeesOnlyItsOwn() async throws {
        let (market, store, _, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        try await store.upsertPOD(PODRecord(id: "POD-3", congestionPoint: "cp-1", aggregator: "agr-2", brp: "brp-2"))
        _ = try await market.submitRequest(MarketplaceTests.request(.dayAhead, "r1", min: -1000, max: -1000), buyer: .dso, participant: "dso-1",
                                           now: Self.morning)
        // Both aggregators call their offer "o1"; neither learns of the other's.
        _ = try await market.submitOffer(Self.offer("o1"), aggregator: "agr-1", now: Self.morning)
        _ = try await market.submitOffer(Self.offer("o1", pod: "POD-3", price: 20), aggregator: "agr-2", now: Self.morning)
        let again = await #expect(throws: MarketRefusal.self) { try await market.submitOffer(Self.offer("o1"), aggregator: "agr-1", now: Self.morning) }
        #expect(again?.description == "you have an offer o1 already")
        await #expect(throws: MarketRefusal.self, "uftp- names entries that came over UFTP") {
            try await market.submitOffer(Self.offer("uftp-1"), aggregator: "agr-1", now: Self.morning)
        }
        let round = try #require(try await market.clear(.dayAhead, day: Self.day, now: Self.gate))
        #expect(round.final?.awards.map(\.offer) == ["agr-1:o1", "agr-2:o1"])
        let seen = round.visible(to: "agr-2")
        #expect(seen.offers == ["agr-2:o1"] && seen.preliminary.awards.map(\.offer) == ["agr-2:o1"])
        #expect(seen.final?.awards.map(\.aggregator) == ["agr-2"])
        #expect(seen.preliminary.requests.map(\.served) == [[]] && seen.preliminary.requests.map(\.satisfied) == [true],
                "whether the request was served in full, not by how much")
        let book = try await market.book(day: Self.day).visible(to: "agr-2")
        #expect(book.offers.map(\.key) == ["agr-2:o1"] && book.requests.count == 1)
        // Revocation by id reaches only the caller's own.
        await #expect(throws: MarketRefusal.self) {
            try await market.revokeOffer("agr-1:o1", by: .init(role: .aggregator, participant: "agr-2"), now: Self.gate)
        }
    }

    @Test func eachDSODecidesTheAwardsOfItsOwnRequests() async throws {
        let (market, store, outbox, _, folder) = try await MarketplaceTests.rig(validation: .dso)
        _ = folder
        try await store.upsertPOD(PODRecord(id: "POD-3", congestionPoint: "cp-1", aggregator: "agr-2", brp: "brp-2"))
        _ = try await market.submitRequest(MarketplaceTests.request(.dayAhead, "r1", min: -500, max: -500), buyer: .dso, participant: "dso-1",
                                           now: Self.morning)
        _ = try await market.submitRequest(MarketplaceTests.request(.dayAhead, "r1", min: -500, max: -500), buyer: .dso, participant: "dso-2",
                                           now: Self.morning.adding(milliseconds: 1000))
        _ = try await market.submitOffer(Self.offer("o1"), aggregator: "agr-1", now: Self.morning)
        _ = try await market.submitOffer(Self.offer("o2", pod: "POD-3", price: 20), aggregator: "agr-2", now: Self.morning)
        let round = try #require(try await market.clear(.dayAhead, day: Self.day, now: Self.gate))
        #expect(round.preliminary.awards.map(\.request) == ["dso-1:r1", "dso-2:r1"])
        let dso1 = Marketplace.Party(role: .dso, participant: "dso-1"), dso2 = Marketplace.Party(role: .dso, participant: "dso-2")
        await #expect(throws: MarketRefusal.self, "award 0 is dso-1's") {
            try await market.validate(round: round.id, rejections: [0: "no"], by: dso2, now: Self.gate)
        }
        await #expect(throws: MarketRefusal.self, "a DSO with no award in the round") {
            try await market.validate(round: round.id, rejections: [:], by: .init(role: .dso, participant: "dso-3"), now: Self.gate)
        }
        let partial = try await market.validate(round: round.id, rejections: [:], by: dso1, now: Self.gate)
        #expect(partial.state == .preliminary && partial.validations?.map(\.by) == ["dso-1"])
        await #expect(throws: MarketRefusal.self, "once each") { try await market.validate(round: round.id, rejections: [:], by: dso1, now: Self.gate) }
        let final = try await market.validate(round: round.id, rejections: [1: "feeder at its limit"], by: dso2, now: Self.gate)
        #expect(final.state == .final && final.validatedBy == "dso-1, dso-2")
        #expect(final.final?.awards.map(\.offer) == ["agr-1:o1"] && final.final?.rejected.map(\.reason) == ["feeder at its limit"])
        // Only dso-1 orders dso-1's award, and the order says who placed it.
        await #expect(throws: MarketRefusal.self) { try await market.order(round: round.id, award: 0, by: dso2, now: Self.gate) }
        let order = try await market.order(round: round.id, award: 0, by: dso1, now: Self.gate)
        #expect(order.placedBy == "DSO dso-1" && order.issuer == "DSO")
        _ = outbox
    }
}
