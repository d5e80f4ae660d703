import ConfigFile
@testable import Coordinator
import Foundation
import GridCore
import Logging
import Market
@testable import MarketOperations
import SCD
import SCDSQLite
import Sodium
import Synchronization
import Testing
import TestSupport
import UFTP
@testable import UFTPGateway

/// The market's bookkeeping on a real SQLite SCD, with the broker and webhook replaced by
/// recorders: a real-time round offers what the day-ahead outcome left of an offer; an order's
/// set-points are signed and split exactly; acknowledgements and silence become statuses and alerts.
@Suite struct MarketplaceTests {
    final class Outbox: Sendable {
        let published = Mutex<[(topic: String, payload: [UInt8])]>([])
        let posted = Mutex<[(body: [UInt8], headers: [(name: String, value: String)])]>([])
        /// The webhook's answers, in turn; 204 once they run out.
        let answers = Mutex<[Int]>([])

        /// The events delivered to the webhook so far, after delivering what is due.
        func events(_ market: Marketplace) async -> [String] {
            await market.deliverNotifications(now: .now())
            return posted.withLock { $0 }.compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any])?["event"] as? String
            }
        }
    }

    static func date(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

    static func rig(timeZone: TimeZone = .gmt, uftpAggregators: [String] = [], uftpDSOs: [String] = [],
                    baseline: MarketConfig.BaselineSource = .brp, validation: MarketConfig.ValidationMode = .builtIn,
                    maxLoadW: [String: Int] = [:], uftp: ((any SCDStore) -> UFTPActions)? = nil,
                    clock: @escaping @Sendable () -> Timestamp = { .now() }, store given: (any SCDStore)? = nil,
                    configure: (inout MarketConfig) -> Void = { _ in }) async throws
        -> (Marketplace, any SCDStore, Outbox, SigningKey, TemporaryDirectory) {
        let folder = TemporaryDirectory()
        let store = try given ?? SQLiteStore(path: folder.file("scd.sqlite"))
        for (index, pod) in ["POD-1", "POD-2"].enumerated() {
            try await store.upsertPOD(PODRecord(id: pod, congestionPoint: "cp-1", aggregator: "agr-1", brp: "brp-1"))
            try await store.addNode(NodeRecord(id: "ln-\(index + 1)", pod: pod, meter: "main", keys: [SigningKey.generate().publicKey]))
            // 1,000 W and 3,000 W all day: POD-2 takes three quarters of an order without shares.
            try await store.putBaseline(Baseline(pod: pod, day: "2026-11-26", brp: "brp-1", energyWh: Array(repeating: index == 0 ? 250 : 750, count: 96)))
        }
        var config = MarketConfig(rules: SessionRules(calendar: MarketCalendar(timeZone: timeZone)), reliabilityMargin: 0, validation: validation,
                                  limits: CongestionPointLimits(limitW: [:]), notifyURL: "http://hooks.test/market", setPointKeyFile: "", ackTimeoutSeconds: 60,
                                  realTimeIntervalSeconds: 300, penaltyPerMW: 0, settlementMinCoverage: 0.9,
                                  uftpAggregators: uftpAggregators, uftpDSOs: uftpDSOs, baseline: baseline, maxLoadW: maxLoadW)
        configure(&config)
        let outbox = Outbox()
        let key = SigningKey.generate()
        let market = Marketplace(store: store, config: config, topicPrefix: "lightnode/v1", setPointKey: key, outlets: .init(
            publish: { topic, payload in outbox.published.withLock { $0.append((topic, payload)) } },
            post: { _, body, headers in
                outbox.posted.withLock { $0.append((body, headers)) }
                return outbox.answers.withLock { $0.isEmpty ? 204 : $0.removeFirst() }
            }), readingIntervalMs: 4000, uftp: uftp?(store), clock: clock,
            logger: Logger(label: "test"))
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
        #expect(realTime.id == "rt-2026-11-26-20261126T080000Z", "the round says when it was cleared, in UTC")
        #expect(realTime.final?.awards.map { "\($0.offer) \($0.factor) \($0.isps[0].value)" } == ["agr-1:o1 40 -400"])
        #expect(try await market.clear(.realTime, day: "2026-11-26", now: nextMorning.adding(milliseconds: 1000)) == nil, "nothing left open")

        // The TSO orders its award: -400 W split 1:3 by the PODs' baselines, each as "at most baseline + part".
        await #expect(throws: MarketRefusal.self) { try await market.order(round: realTime.id, award: 0, by: .init(role: .dso, participant: "dso-1"), now: nextMorning) }
        await #expect(throws: MarketRefusal.self, "another TSO's request") {
            try await market.order(round: realTime.id, award: 0, by: .init(role: .tso, participant: "tso-2"), now: nextMorning)
        }
        let order = try await market.order(round: realTime.id, award: 0, by: .init(role: .tso, participant: "tso-1"), now: nextMorning)
        #expect(order.placedBy == "TSO tso-1")
        #expect(order.setPoints.map(\.ordered) == [-100, -300] && order.setPoints.map(\.w) == [900, 2700] && order.alerts.isEmpty)
        let sent = outbox.published.withLock { $0 }
        #expect(sent.map(\.topic) == ["lightnode/v1/ln-1/setpoints", "lightnode/v1/ln-2/setpoints"])
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(sent[0].payload)) as? [String: String])
        #expect(key.publicKey.verify(try Signature(base64: envelope["sig"]!), of: Array(envelope["sp"]!.utf8)))
        #expect(envelope["sp"]!.contains(#""mode":"max","w":900,"order":"\#(order.id)""#))

        // ln-1 applies its set-point (ln-2 may not acknowledge it for ln-1, garbage is ignored); ln-2 stays silent past the timeout.
        let first = try #require(order.setPoints[0].setPoint)
        try await market.acknowledge(node: "ln-1", payload: Array(#"{"id":"\#(first)","status":"applied","seq":42}"#.utf8), now: nextMorning)
        try await market.acknowledge(node: "ln-2", payload: Array(#"{"id":"\#(first)","status":"rejected"}"#.utf8), now: nextMorning)
        try await market.acknowledge(node: "ln-1", payload: Array("garbage".utf8), now: nextMorning)
        try await market.sweepAcknowledgements(now: nextMorning.adding(milliseconds: 61000))
        var after = try #require(try await market.order(order.id))
        #expect(after.setPoints.map(\.status) == [.applied, .unacknowledged] && after.setPoints[0].seq == 42)
        // Its normal end: expired after applied, with the node's report, is no alert.
        try await market.acknowledge(node: "ln-1", payload: Array(#"{"id":"\#(first)","status":"expired","reason":"ended; deviation 3 W","seq":43}"#.utf8),
                                     now: nextMorning.adding(milliseconds: 900000))
        after = try #require(try await market.order(order.id))
        #expect(after.setPoints[0].status == .expired && after.setPoints[0].reason == "ended; deviation 3 W")
        #expect(after.alerts.map(\.pod) == ["POD-2"] && after.alerts[0].problem.contains("not acknowledged"))
        #expect(await outbox.events(market).filter { $0 == "alert" }.count == 1)
        _ = store
    }

    // MARK: UFTP entries

    static let agr = try! InternetDomain(validating: "agr.example.com")
    static let dso = try! InternetDomain(validating: "dso.example.com")
    static let entityAddress = "ea1.2023-01.com.example.dso:cp-u"

    /// A flex message for 2026-11-27 at `entityAddress`, in Amsterdam's 15-minute ISPs unless told.
    static func uftp(_ payload: any UFTPPayload, from sender: InternetDomain) -> UFTPMessage {
        UFTPMessage(metadata: Metadata(senderDomain: sender, recipientDomain: sender == agr ? dso : agr,
                                       timeStamp: DateTime(.now()), conversationID: .random()), payload: payload)
    }

    static func flexOffer(options: Int = 1, minutes: Int = 15) -> FlexOffer {
        FlexOffer(ispDuration: ISPDuration(minutes: minutes), timeZone: try! TimeZoneName(validating: "Europe/Amsterdam"),
                  period: try! Period(validating: "2026-11-27"), congestionPoint: try! EntityAddress(validating: entityAddress),
                  expirationDateTime: DateTime(Timestamp(rfc3339: "2026-11-26T11:00:00.000Z")!), unsolicited: true,
                  currency: try! CurrencyCode(validating: "EUR"),
                  options: (0..<options).map { index in
                      FlexOffer.Option(optionReference: "O\(index)", price: try! CurrencyAmount(validating: "12.50"),
                                       minActivationFactor: try! ActivationFactor(validating: "0.50"),
                                       isps: [PowerISP(power: -2000, start: PositiveInteger(40), duration: PositiveInteger(2))])
                  })
    }

    @Test func uftpRequestsOffersAndRevocationsAreMarketEntries() async throws {
        let (market, store, _, _, folder) = try await Self.rig(timeZone: TimeZone(identifier: "Europe/Amsterdam")!,
                                                               uftpAggregators: [Self.agr.text], uftpDSOs: [Self.dso.text])
        _ = folder
        try await store.upsertPOD(PODRecord(id: "POD-U", congestionPoint: Self.entityAddress, aggregator: Self.agr.text, brp: "brp-1"))
        let morning = Self.date("2026-11-26T08:00:00Z")

        // An offer of one option at the aggregator's PODs: a day-ahead market offer, priced as a whole.
        let offer = Self.uftp(Self.flexOffer(), from: Self.agr)
        #expect(try await market.intake(offer, from: Self.agr, now: morning) == [])
        let entered = try #require(try await store.record(MarketOffer.self, id: "\(Self.agr.text):uftp-" + offer.metadata.messageID.text))
        #expect(entered.session == .dayAhead && entered.day == "2026-11-27" && entered.entry.aggregator == Self.agr.text)
        #expect(entered.entry.price == Money("12.50") && entered.entry.minActivationFactor == 0.5 && entered.pods.map(\.pod) == ["POD-U"])
        #expect(entered.entry.isps == [.init(start: 40, duration: 2, power: -2000)] && entered.uftp?.optionReference == "O0")
        #expect(entered.validUntil == Timestamp(rfc3339: "2026-11-26T11:00:00.000Z")!.millisecondsSince1970)

        // What the market cannot take is rejected in UFTP, in the market's words.
        let two = try await market.intake(Self.uftp(Self.flexOffer(options: 2), from: Self.agr), from: Self.agr, now: morning)
        #expect(two == ["the market takes one OfferOption per FlexOffer (this one has 2)"])
        let halfHours = try await market.intake(Self.uftp(Self.flexOffer(minutes: 30), from: Self.agr), from: Self.agr, now: morning)
        #expect(halfHours.first?.hasPrefix("the market's ISPs are 15 min in Europe/Amsterdam") == true, "\(halfHours)")
        try await store.upsertPOD(PODRecord(id: "POD-U", congestionPoint: "cp-1", aggregator: Self.agr.text, brp: "brp-1"))
        let noPODs = try await market.intake(Self.uftp(Self.flexOffer(), from: Self.agr), from: Self.agr, now: morning)
        #expect(noPODs == ["agr.example.com holds no POD at \(Self.entityAddress) in the SCD"])
        let afterGate = try await market.intake(Self.uftp(Self.flexOffer(), from: Self.agr), from: Self.agr, now: Self.date("2026-11-26T12:00:00Z"))
        #expect(afterGate.count == 1, "\(afterGate)")
        // An aggregator not trading in the market trades bilaterally: nothing enters the book.
        let other = try InternetDomain(validating: "other.example.com")
        #expect(try await market.intake(Self.uftp(Self.flexOffer(), from: other), from: other, now: morning) == [])

        // A revocation revokes the market offer.
        let revocation = Self.uftp(FlexOfferRevocation(flexOfferMessageID: offer.metadata.messageID), from: Self.agr)
        #expect(try await market.intake(revocation, from: Self.agr, now: morning) == [])
        let revoked = try await store.record(MarketOffer.self, id: entered.key)
        #expect(revoked?.status == .revoked && revoked?.revocation?.by == "AGR \(Self.agr.text)")

        // A DSO's FlexRequest: its Requested ISPs are a DSO request at the congestion point.
        let flexRequest = Self.uftp(FlexRequest(
            ispDuration: ISPDuration(minutes: 15), timeZone: try TimeZoneName(validating: "Europe/Amsterdam"),
            period: try Period(validating: "2026-11-27"), congestionPoint: try EntityAddress(validating: Self.entityAddress), revision: 1,
            expirationDateTime: DateTime(Timestamp(rfc3339: "2026-11-26T11:00:00.000Z")!),
            isps: [.init(disposition: .requested, minPower: -3000, maxPower: -1000, start: PositiveInteger(40)),
                   .init(disposition: .available, minPower: -500, maxPower: 0, start: PositiveInteger(41))]), from: Self.dso)
        #expect(try await market.intake(flexRequest, from: Self.dso, now: morning) == [])
        let request = try #require(try await store.record(MarketRequest.self, id: "\(Self.dso.text):uftp-" + flexRequest.metadata.messageID.text))
        #expect(request.entry.buyer == "DSO" && request.entry.area == [Self.entityAddress] && request.participant == Self.dso.text)
        #expect(request.entry.isps == [.init(start: 40, minPower: -3000, maxPower: -1000)] && request.session == .dayAhead)
    }

    @Test func theMarketsUFTPSideIsCheckedAgainstUFTPsConfiguration() throws {
        let folder = TemporaryDirectory()
        try SigningKey.generate().write(toNewFile: folder.file("uftp.key"))
        try "".write(toFile: folder.file("participants.toml"), atomically: true, encoding: .utf8)
        func problems(_ uftp: String, _ market: String) -> String {
            let text = "[scd]\nurl = \"sqlite://scd.sqlite\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = 1883\nshare_group = \"g\"\n"
                + "[http]\nlisten = \"127.0.0.1:0\"\n[uftp]\ndomain = \"dso.example.com\"\nsigning_key_file = \"uftp.key\"\n"
                + "participants_file = \"participants.toml\"\n\(uftp)\n[market]\n\(market)\n"
            try? text.write(toFile: folder.file("coordinator.toml"), atomically: true, encoding: .utf8)
            do {
                _ = try CoordinatorConfig.load(file: folder.file("coordinator.toml"))
                return ""
            } catch {
                return error.description
            }
        }
        #expect(problems("roles = [\"DSO\"]", "uftp_aggregators = [\"agr.example.com\"]") == "")
        #expect(problems("roles = [\"AGR\"]", "uftp_aggregators = [\"agr.example.com\"]").contains("uftp_aggregators: needs [uftp] with the DSO role"))
        #expect(problems("roles = [\"DSO\"]", "uftp_dsos = [\"dso.example.com\"]").contains("uftp_dsos: needs [uftp] with the AGR role"))
        #expect(problems("roles = [\"DSO\"]", "uftp_aggregators = [\"not a domain\"]").contains("is not an internet domain"))
        let zones = problems("roles = [\"DSO\"]\nmarket_time_zone = \"Europe/London\"", "uftp_aggregators = [\"agr.example.com\"]")
        #expect(zones.contains("time_zone: the market's time zone and ISP (Europe/Amsterdam, 15 min) must be [uftp]'s (Europe/London, 15 min)"), "\(zones)")
        // The Common Reference a DSO checks aggregators against: a CRO's domain, its own only as CRO.
        #expect(problems("roles = [\"DSO\"]\ncro_domain = \"cro.example.com\"", "") == "")
        #expect(problems("roles = [\"DSO\", \"CRO\"]\ncro_domain = \"dso.example.com\"", "") == "")
        #expect(problems("roles = [\"DSO\"]\ncro_domain = \"dso.example.com\"", "").contains("cro_domain: names this platform, which does not play the CRO role"))
        #expect(problems("roles = [\"AGR\"]\ncro_domain = \"cro.example.com\"", "").contains("cro_domain: applies only with the DSO role"))
        #expect(problems("roles = [\"DSO\"]\ncro_domain = \"CRO\"", "").contains("cro_domain:"))
        // Each congestion point names the DSO operating it, as a participant's name.
        #expect(problems("roles = [\"DSO\"]", "[market.congestion_point_operators]\n\"cp-1\" = \"dso-1\"") == "")
        let number = problems("roles = [\"DSO\"]", "[market.congestion_point_operators]\n\"cp-1\" = 7")
        #expect(number.contains("must be a string") && !number.contains("must name the DSO"), "one problem, said once: \(number)")
        #expect(problems("roles = [\"DSO\"]", "[market.congestion_point_operators]\n\"cp-1\" = \"\"").contains("must name the DSO operating cp-1"))
    }

    /// A market FlexRequest names the requested ISPs and, as UFTP asks, the Period's others as
    /// Available (no headroom stated), in runs that cover the day once.
    @Test func aFlexRequestOffersTheRestOfTheDayAsAvailable() {
        let requested: [UFTPActions.FlexRequestDraft.ISP] = [.init(start: 40, duration: 2, minPower: -5000, maxPower: -1000),
                                                              .init(start: 60, duration: nil, minPower: -800, maxPower: -800)]
        let isps = Marketplace.withAvailable(requested, ispCount: 100)
        #expect(isps.map { "\($0.start)+\($0.duration ?? 1) \($0.disposition ?? "Requested")" }
                == ["1+39 Available", "40+2 Requested", "42+18 Available", "60+1 Requested", "61+40 Available"])
        #expect(isps.filter { $0.disposition != nil }.allSatisfy { $0.minPower == 0 && $0.maxPower == 0 })
        #expect(Marketplace.withAvailable([.init(start: 1, duration: 96, minPower: -1, maxPower: -1)], ispCount: 96).count == 1)
    }

    /// `[clock]`: a simulated wall clock from `start` (at `real_start`, default the moment the
    /// configuration is loaded) at `speed`.
    @Test func aSimulatedClockIsConfiguredWhole() throws {
        let folder = TemporaryDirectory("clock-config")
        func load(_ clock: String) -> Result<CoordinatorConfig, ConfigError> {
            let text = "[scd]\nurl = \"sqlite://scd.sqlite\"\n[mqtt]\nhost = \"127.0.0.1\"\nport = 1883\nshare_group = \"g\"\n"
                + "[http]\nlisten = \"127.0.0.1:0\"\n\(clock)\n"
            try? text.write(toFile: folder.file("coordinator.toml"), atomically: true, encoding: .utf8)
            return Result { () throws(ConfigError) in try CoordinatorConfig.load(file: folder.file("coordinator.toml")) }
        }
        #expect(try load("").get().clock == nil)
        let clock = try #require(try load("[clock]\nstart = \"2026-11-25T22:15:00Z\"\nreal_start = \"2025-01-01T00:00:00Z\"\nspeed = 60").get().clock)
        #expect(clock == SimulatedClock(start: Timestamp(rfc3339: "2026-11-25T22:15:00Z")!,
                                        realStart: Timestamp(rfc3339: "2025-01-01T00:00:00Z")!, speed: 60))
        let defaulted = try #require(try load("[clock]\nstart = \"2026-11-25T22:15:00Z\"").get().clock)
        #expect(defaulted.speed == 1 && abs(defaulted.realStart.millisecondsSince1970 - Timestamp.realNow().millisecondsSince1970) < 60_000)
        func problem(_ clock: String) -> String {
            if case .failure(let error) = load(clock) { return error.description }
            return ""
        }
        #expect(problem("[clock]\nspeed = 60").contains("start"))
        #expect(problem("[clock]\nstart = \"tomorrow\"").contains("must be an RFC 3339 time"))
        #expect(problem("[clock]\nstart = \"2026-11-25T22:15:00Z\"\nspeed = 0").contains("speed"))
        #expect(problem("[clock]\nstart = \"2026-11-25T22:15:00Z\"\nrate = 2").contains("rate"))
    }

    @Test func aDPrognosisIsTheBaselineWhenConfigured() async throws {
        let (market, store, _, _, folder) = try await Self.rig(
            timeZone: TimeZone(identifier: "Europe/Amsterdam")!, uftpAggregators: [Self.agr.text], baseline: .dPrognosis,
            uftp: { store in
                UFTPActions(responder: UFTPResponder(domain: Self.dso, roles: [.dso], signingKey: SigningKey.generate(),
                                                     directory: ParticipantsFile(participants: []), store: store,
                                                     terms: MarketTerms(ispMinutes: 15, timeZone: TimeZone(identifier: "Europe/Amsterdam")!),
                                                     logger: Logger(label: "test")))
            })
        _ = folder
        for pod in ["POD-U", "POD-V"] {
            try await store.upsertPOD(PODRecord(id: pod, congestionPoint: Self.entityAddress, aggregator: Self.agr.text, brp: "brp-1"))
        }
        // Revision 1 accepted (3,001 W over ISPs 40–41), revision 2 rejected: revision 1 is the baseline.
        for (revision, power, result) in [(Int64(1), 3001, AcceptedRejected.accepted), (2, 9999, .rejected)] {
            let prognosis = Self.uftp(DPrognosis(ispDuration: ISPDuration(minutes: 15), timeZone: try TimeZoneName(validating: "Europe/Amsterdam"),
                                                 period: try Period(validating: "2026-11-27"),
                                                 congestionPoint: try EntityAddress(validating: Self.entityAddress), revision: revision,
                                                 isps: [.init(power: power, start: 40, duration: 2)]), from: Self.agr)
            let response = Self.uftp(DPrognosisResponse(result: result, rejectionReason: nil, referencedMessageID: prognosis.metadata.messageID),
                                     from: Self.dso)
            for (message, direction) in [(prognosis, UFTPMessageRecord.Direction.inbound), (response, .outbound)] {
                let record = UFTPMessageRecord(direction: direction, type: message.typeName, messageID: message.metadata.messageID.text,
                                               conversationID: message.metadata.conversationID.text, senderDomain: message.metadata.senderDomain.text,
                                               senderRole: direction == .inbound ? "AGR" : "DSO", recipientDomain: message.metadata.recipientDomain.text,
                                               time: .now(), signed: UFTPCodec.encode(message), payload: UFTPCodec.encode(message))
                if direction == .inbound { _ = try await store.addUFTPMessage(record) } else {
                    _ = try await store.queueUFTPMessage(record, endpoint: "http://127.0.0.1:9/")
                }
            }
        }
        let morning = Self.date("2026-11-26T08:00:00Z")
        _ = try await market.submitRequest(.init(session: .dayAhead, day: "2026-11-27", id: "r-p", area: [Self.entityAddress],
                                                 isps: [.init(start: 40, minPower: -1000, maxPower: -1000)], priceLimit: nil),
                                           buyer: .dso, participant: "dso-1", now: morning)
        _ = try await market.submitOffer(.init(session: .dayAhead, day: "2026-11-27", id: "o-p", location: Self.entityAddress, price: 5,
                                               minActivationFactor: nil, isps: [.init(start: 40, power: -1000)],
                                               pods: [.init(pod: "POD-U"), .init(pod: "POD-V")], validUntil: nil),
                                         aggregator: Self.agr.text, now: morning)
        let round = try #require(try await market.clear(.dayAhead, day: "2026-11-27", now: Self.date("2026-11-26T11:00:00Z")))
        #expect(round.final?.awards.count == 1)
        let order = try await market.order(round: round.id, award: 0, by: .init(role: .dso, participant: "dso-1"), now: Self.date("2026-11-26T11:00:00Z"))
        let baselines = order.setPoints.compactMap(\.baseline)
        #expect(baselines.count == 2 && baselines.reduce(0, +) == 3001 && Set(baselines).isSubset(of: [1500, 1501]), "\(order.setPoints)")
        #expect(order.setPoints.map(\.ordered).reduce(0, +) == -1000)
        // No Light Node meters these PODs: nothing could carry the parts.
        #expect(order.setPoints.allSatisfy { $0.status == .undeliverable && $0.reason?.contains("no active Light Node") == true })
    }
}
