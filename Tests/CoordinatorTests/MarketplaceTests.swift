import Foundation
import GridCore
import Logging
@testable import Coordinator
import Market
import SCD
import Sodium
import Synchronization
import Testing
import TestSupport

/// The market's bookkeeping on a real SQLite SCD, with the broker and webhook replaced by
/// recorders: a real-time round offers what the day-ahead outcome left of an offer; an order's
/// set-points are signed and split exactly; acknowledgements and silence become statuses and alerts.
@Suite struct MarketplaceTests {
    final class Outbox: Sendable {
        let published = Mutex<[(topic: String, payload: [UInt8])]>([])
        let events = Mutex<[String]>([])
    }

    static func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    static func rig() async throws -> (Marketplace, any SCDStore, Outbox, SigningKey, TemporaryDirectory) {
        let folder = TemporaryDirectory()
        let store = try SQLiteStore(path: folder.file("scd.sqlite"))
        for (index, pod) in ["POD-1", "POD-2"].enumerated() {
            try await store.upsertPOD(PODRecord(id: pod, congestionPoint: "cp-1", aggregator: "agr-1", brp: "brp-1"))
            try await store.addNode(NodeRecord(id: "ln-\(index + 1)", pod: pod, meter: "main", keys: [SigningKey.generate().publicKey]))
            // 1,000 W and 3,000 W all day: POD-2 takes three quarters of an order without shares.
            try await store.putBaseline(Baseline(pod: pod, day: "2026-11-26", brp: "brp-1", energyWh: Array(repeating: index == 0 ? 250 : 750, count: 96)))
        }
        let config = MarketConfig(rules: SessionRules(calendar: MarketCalendar(timeZone: .gmt)), reliabilityMargin: 0, validation: .builtIn,
                                  limits: CongestionPointLimits(limitW: [:]), notifyURL: nil, setPointKeyFile: "", ackTimeoutSeconds: 60,
                                  realTimeIntervalSeconds: 300, penaltyPerMW: 0, settlementMinCoverage: 0.9)
        let outbox = Outbox()
        let key = SigningKey.generate()
        let market = Marketplace(store: store, config: config, topicPrefix: "lightnode/v1", setPointKey: key, outlets: .init(
            publish: { topic, payload in outbox.published.withLock { $0.append((topic, payload)) } },
            notify: { event, _ in outbox.events.withLock { $0.append(event) } }), readingIntervalMs: 4000, logger: Logger(label: "test"))
        return (market, store, outbox, key, folder)
    }

    static func request(_ session: SessionKind, _ id: String, min: Int, max: Int) -> Marketplace.RequestSubmission {
        .init(session: session, day: "2026-11-26", id: id, area: ["cp-1"], isps: [.init(start: 40, minPower: min, maxPower: max)], priceLimit: nil)
    }

    @Test func aRealTimeRoundOffersWhatTheDayAheadLeftAndOrdersReachTheNodes() async throws {
        let (market, store, outbox, key, folder) = try await Self.rig()
        _ = folder
        let morning = Self.date("2026-11-25T08:00:00Z")
        _ = try await market.submitRequest(Self.request(.dayAhead, "r1", min: -600, max: -600), buyer: .dso, participant: "dso-1", now: morning)
        _ = try await market.submitOffer(.init(session: .dayAhead, day: "2026-11-26", id: "o1", location: "cp-1", price: 10, minActivationFactor: 0.2,
                                              isps: [.init(start: 40, power: -1000)], pods: [.init(pod: "POD-1"), .init(pod: "POD-2")],
                                              validUntil: nil), aggregator: "agr-1", now: morning)
        await #expect(throws: MarketRefusal.self) {
            try await market.submitOffer(.init(session: .dayAhead, day: "2026-11-26", id: "o2", location: "cp-2", price: 1, minActivationFactor: nil,
                                               isps: [.init(start: 40, power: -1000)], pods: [.init(pod: "POD-1")], validUntil: nil),
                                         aggregator: "agr-1", now: morning)
        }
        let dayAhead = try #require(try await market.clear(.dayAhead, day: "2026-11-26", now: Self.date("2026-11-25T12:00:00Z")))
        #expect(dayAhead.state == .final && dayAhead.final?.awards.map(\.factor) == [60])
        await #expect(throws: MarketRefusal.self, "the gate is closed") {
            try await market.submitRequest(Self.request(.dayAhead, "r9", min: -1, max: -1), buyer: .dso, participant: nil, now: morning)
        }

        // The next day at 08:00, ISP 40 (09:45) is within the real-time horizon: o1's other 40 %.
        let nextMorning = Self.date("2026-11-26T08:00:00Z")
        _ = try await market.submitRequest(Self.request(.realTime, "r2", min: -1000, max: -200), buyer: .tso, participant: "tso-1", now: nextMorning)
        let realTime = try #require(try await market.clear(.realTime, day: "2026-11-26", now: nextMorning))
        #expect(realTime.id == "rt-2026-11-26-080000")
        #expect(realTime.final?.awards.map { "\($0.offer) \($0.factor) \($0.isps[0].value)" } == ["o1 40 -400"])
        #expect(try await market.clear(.realTime, day: "2026-11-26", now: nextMorning.addingTimeInterval(1)) == nil, "nothing left open")

        // The TSO orders its award: -400 W split 1:3 by the PODs' baselines, each as "at most baseline + part".
        await #expect(throws: MarketRefusal.self) { try await market.order(round: realTime.id, award: 0, issuer: .dso, now: nextMorning) }
        let order = try await market.order(round: realTime.id, award: 0, issuer: .tso, now: nextMorning)
        #expect(order.setPoints.map(\.ordered) == [-100, -300] && order.setPoints.map(\.w) == [900, 2700] && order.alerts.isEmpty)
        let sent = outbox.published.withLock { $0 }
        #expect(sent.map(\.topic) == ["lightnode/v1/ln-1/setpoints", "lightnode/v1/ln-2/setpoints"])
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(sent[0].payload)) as? [String: String])
        #expect(key.publicKey.verify(try Signature(base64: envelope["sig"]!), of: Array(envelope["sp"]!.utf8)))
        #expect(envelope["sp"]!.contains(#""mode":"max","w":900,"order":"\#(order.id)""#))

        // ln-1 applies its set-point (ln-2 may not acknowledge it for ln-1, garbage is ignored); ln-2 stays silent past the timeout.
        let first = order.setPoints[0].id
        try await market.acknowledge(node: "ln-1", payload: Array(#"{"id":"\#(first)","status":"applied","seq":42}"#.utf8), now: nextMorning)
        try await market.acknowledge(node: "ln-2", payload: Array(#"{"id":"\#(first)","status":"rejected"}"#.utf8), now: nextMorning)
        try await market.acknowledge(node: "ln-1", payload: Array("garbage".utf8), now: nextMorning)
        try await market.sweepAcknowledgements(now: nextMorning.addingTimeInterval(61))
        var after = try #require(try await market.order(order.id))
        #expect(after.setPoints.map(\.status) == [.applied, .unacknowledged] && after.setPoints[0].seq == 42)
        // Its normal end: expired after applied, with the node's report, is no alert.
        try await market.acknowledge(node: "ln-1", payload: Array(#"{"id":"\#(first)","status":"expired","reason":"ended; deviation 3 W","seq":43}"#.utf8),
                                     now: nextMorning.addingTimeInterval(900))
        after = try #require(try await market.order(order.id))
        #expect(after.setPoints[0].status == .expired && after.setPoints[0].reason == "ended; deviation 3 W")
        #expect(after.alerts.map(\.pod) == ["POD-2"] && after.alerts[0].problem.contains("not acknowledged"))
        #expect(outbox.events.withLock { $0 }.filter { $0 == "alert" }.count == 1)
        _ = store
    }
}
