import Foundation
import GridCore
import Logging
import SCD
import SCDSQLite
import Sodium
import Testing
import TestSupport
import UFTP
@testable import UFTPGateway
import UFTPTransport

/// The CRO: portfolio updates keep a connection in one congestion point and with one aggregator
/// at a time (FUSION FR10, FR12, FR13), queries answer from the register (FR14, FR15), closed
/// mode serves only registered participants, and an older update is subordinate.
@Suite struct CommonReferenceTests {
    static let cro = try! InternetDomain(validating: "cro.example.com")
    static let dsoA = try! InternetDomain(validating: "dso-a.example.com")
    static let dsoB = try! InternetDomain(validating: "dso-b.example.com")
    static let agrA = try! InternetDomain(validating: "agr-a.example.com")
    static let agrB = try! InternetDomain(validating: "agr-b.example.com")
    static let keys = [dsoA, dsoB, agrA, agrB].reduce(into: [InternetDomain: SigningKey]()) { $0[$1] = SigningKey.generate() }
    static let zone = try! TimeZoneName(validating: "Europe/Amsterdam")
    static let amsterdam = TimeZone(identifier: "Europe/Amsterdam")!

    static func ea(_ name: String) -> EntityAddress { try! EntityAddress(validating: "ea1.2023-01.com.example.dso:\(name)") }
    static var today: Period { CommonReference.day(of: .now(), in: amsterdam) }

    struct Rig {
        let folder = TemporaryDirectory()
        let store: SQLiteStore
        let receiver: UFTPReceiver

        init(mode: CommonReference.Mode = .closed, registered: Bool = true) async throws {
            store = try SQLiteStore(path: folder.path + "/scd.sqlite")
            let directory = ParticipantsFile(participants: [
                Participant(domain: dsoA, role: .dso, endpoint: "http://127.0.0.1:9/m", keys: [keys[dsoA]!.publicKey]),
                Participant(domain: dsoB, role: .dso, endpoint: "http://127.0.0.1:9/m", keys: [keys[dsoB]!.publicKey]),
                Participant(domain: agrA, role: .agr, endpoint: "http://127.0.0.1:9/m", keys: [keys[agrA]!.publicKey]),
                Participant(domain: agrB, role: .agr, endpoint: "http://127.0.0.1:9/m", keys: [keys[agrB]!.publicKey]),
            ])
            let responder = UFTPResponder(domain: cro, roles: [.cro], signingKey: SigningKey.generate(), directory: directory,
                                          store: store, terms: MarketTerms(ispMinutes: 15, timeZone: amsterdam),
                                          logger: Logger(label: "test"),
                                          commonReference: CommonReference(store: store, mode: mode, timeZone: amsterdam))
            receiver = UFTPReceiver(directory: directory, inbox: SCDInbox(store: store, responder: responder, logger: Logger(label: "test")))
            if registered {
                for (role, domain) in [(CROParticipant.Role.dso, dsoA), (.dso, dsoB), (.agr, agrA), (.agr, agrB)] {
                    try await store.registerCROParticipant(CROParticipant(role: role, domain: domain.text, name: domain.text))
                }
            }
        }

        /// Posts `payload` from `sender` (signed in its role) and returns the response queued for it.
        func send(_ payload: any UFTPPayload, from sender: InternetDomain, at time: Timestamp = .now()) async throws -> any UFTPResponse {
            #expect(await post(payload, from: sender, at: time) == .stored)
            let queued = try await store.uftpMessages(UFTPMessageQuery(limit: 1000)).last { $0.direction == .outbound }
            let response = try UFTPCodec.decode(try #require(queued).payload).payload as? any UFTPResponse
            return try #require(response)
        }

        /// Posts `payload` from `sender` (signed in its role) and returns the transport's answer.
        func post(_ payload: any UFTPPayload, from sender: InternetDomain, at time: Timestamp = .now()) async -> TransportAnswer {
            let message = UFTPMessage(metadata: Metadata(senderDomain: sender, recipientDomain: cro, timeStamp: DateTime(time),
                                                         conversationID: .random()), payload: payload)
            let role: USEFRole = [dsoA, dsoB].contains(sender) ? .dso : .agr
            let document = SignedMessage(sealing: message, role: role, key: keys[sender]!).encode()
            return await receiver.receive(contentType: "text/xml", contentLength: document.count, body: document, now: .now())
        }

        func declare(_ dso: InternetDomain, _ point: String, from first: Period = today, through last: Period? = nil,
                     connections: [(String, Period, Period?)], at time: Timestamp = .now()) async throws -> any UFTPResponse {
            try await send(DSOPortfolioUpdate(timeZone: zone, congestionPoints: [.init(
                entityAddress: ea(point), startPeriod: first, endPeriod: last, mutexOffersSupported: false, dayAheadRedispatchBy: .dso,
                connections: connections.map { PortfolioConnection(entityAddress: ea($0.0), startPeriod: $0.1, endPeriod: $0.2) })]),
                from: dso, at: time)
        }

        func represent(_ agr: InternetDomain, _ connections: [(String, Period, Period?)]) async throws -> any UFTPResponse {
            try await send(AGRPortfolioUpdate(timeZone: zone, connections: connections.map {
                PortfolioConnection(entityAddress: ea($0.0), startPeriod: $0.1, endPeriod: $0.2)
            }), from: agr)
        }
    }

    /// FR10: a connection is in one congestion point at a time; a DSO cannot declare another's.
    @Test func aConnectionIsInOneCongestionPointAtATime() async throws {
        let rig = try await Rig()
        let today = Self.today
        #expect(try await rig.declare(Self.dsoA, "cp-1", connections: [("c-1", today, nil), ("c-2", today, nil)]).result == .accepted)
        let conflict = try await rig.declare(Self.dsoB, "cp-2", connections: [("c-2", today.adding(days: 5), nil)])
        #expect(conflict.result == .rejected)
        #expect(conflict.rejectionReason == "Connection conflict: [\(Self.ea("c-2").text)] at [\(Self.ea("cp-1").text)]")
        let taken = try await rig.declare(Self.dsoB, "cp-1", connections: [("c-9", today, nil)])
        #expect(taken.rejectionReason?.hasPrefix(RejectionReason.invalidCongestionPoint) == true)

        // c-2 leaves cp-1 after tomorrow (FR08: sent again with its end); then cp-2 may take it.
        #expect(try await rig.declare(Self.dsoA, "cp-1", connections: [("c-2", today, today.adding(days: 1))]).result == .accepted)
        #expect(try await rig.declare(Self.dsoB, "cp-2", connections: [("c-2", today.adding(days: 2), nil)]).result == .accepted)
        let held = try await rig.store.portfolio(PortfolioScope(connections: [Self.ea("c-2").text])).assignments
        #expect(Set(held.map { "\($0.holder) \($0.firstDay) \($0.lastDay ?? "-")" }) == [
            "\(Self.ea("cp-1").text) \(today.text) \(today.adding(days: 1).text)",
            "\(Self.ea("cp-2").text) \(today.adding(days: 2).text) -",
        ])
        // A refused update wrote nothing: c-9 is nowhere.
        #expect(try await rig.store.portfolio(PortfolioScope(connections: [Self.ea("c-9").text])).assignments.isEmpty)
    }

    /// Periods that end before they begin, or a connection outside its congestion point's days.
    @Test func oddPeriodsAreRefused() async throws {
        let rig = try await Rig()
        let today = Self.today
        let backwards = try await rig.declare(Self.dsoA, "cp-1", from: today, through: today.adding(days: -1),
                                              connections: [("c-1", today, nil)])
        #expect(backwards.rejectionReason?.contains("EndPeriod before StartPeriod at [\(Self.ea("cp-1").text)]") == true)
        let outside = try await rig.declare(Self.dsoA, "cp-1", from: today, through: today.adding(days: 30),
                                            connections: [("c-1", today, nil)])
        #expect(outside.rejectionReason == "Connection period outside its congestion point's: [\(Self.ea("c-1").text)] at [\(Self.ea("cp-1").text)]")
        let twice = try await rig.represent(Self.agrA, [("c-1", today, nil), ("c-1", today.adding(days: 3), nil)])
        #expect(twice.rejectionReason == "Connection listed twice: [\(Self.ea("c-1").text)]")
        // One connection listed day by day for ten years: refused after 100 listings, each compared
        // with at most 100 earlier ones, and the reasons given are bounded.
        let flood = try await rig.declare(Self.dsoA, "cp-1", connections: (0..<3650).map { ("c-1", today.adding(days: $0), today.adding(days: $0)) })
        #expect(flood.rejectionReason == "Connection listed more than 100 times: [\(Self.ea("c-1").text)]")
        let conflicts = try await rig.declare(Self.dsoA, "cp-1", connections: (0..<600).map { ("c-\($0 / 2)", today, nil) })
        #expect(conflicts.rejectionReason?.hasSuffix("; and 200 more") == true, "\(conflicts.rejectionReason?.suffix(80) ?? "")")
    }

    /// FR12, FR13: one aggregator a connection at a time; connections left out of an aggregator's
    /// list are detached from the update's day.
    @Test func aConnectionHasOneAggregatorAtATime() async throws {
        let rig = try await Rig()
        let today = Self.today
        #expect(try await rig.represent(Self.agrA, [("c-1", today, nil), ("c-2", today, nil)]).result == .accepted)
        let conflict = try await rig.represent(Self.agrB, [("c-2", today.adding(days: 10), nil)])
        #expect(conflict.rejectionReason == "Connection conflict: [\(Self.ea("c-2").text)] at [another aggregator]")

        #expect(try await rig.represent(Self.agrA, [("c-1", today, nil)]).result == .accepted)
        let detached = try await rig.store.portfolio(PortfolioScope(connections: [Self.ea("c-2").text])).assignments
        #expect(detached == [ConnectionAssignment(connection: Self.ea("c-2").text, kind: .aggregator, holder: Self.agrA.text,
                                                  firstDay: today.text, lastDay: today.text)])
        #expect(try await rig.represent(Self.agrB, [("c-2", today, nil)]).result == .rejected, "agr-a still holds it today")
        #expect(try await rig.represent(Self.agrB, [("c-2", today.adding(days: 1), nil)]).result == .accepted)
    }

    /// FR14, FR15: the AGR sees its connections by DSO and congestion point; the DSO sees who
    /// represents each connection of its congestion point.
    @Test func queriesAnswerFromTheRegister() async throws {
        let rig = try await Rig()
        let today = Self.today
        _ = try await rig.declare(Self.dsoA, "cp-1", connections: [("c-1", today, nil), ("c-2", today, nil)])
        _ = try await rig.declare(Self.dsoB, "cp-2", connections: [("c-3", today, nil)])
        _ = try await rig.represent(Self.agrA, [("c-1", today, nil), ("c-3", today, nil), ("c-4", today, nil)])

        let agrView = try #require(try await rig.send(AGRPortfolioQuery(timeZone: Self.zone, period: today), from: Self.agrA)
            as? AGRPortfolioQueryResponse)
        #expect(agrView.result == .accepted && agrView.dsoViews.count == 1)
        let view = try #require(agrView.dsoViews.first)
        #expect(view.dsoPortfolios.map(\.dsoDomain) == [Self.dsoA, Self.dsoB])
        #expect(view.dsoPortfolios[0].congestionPoints.map(\.entityAddress) == [Self.ea("cp-1")])
        #expect(view.dsoPortfolios[0].congestionPoints[0].connections.map(\.entityAddress) == [Self.ea("c-1")])
        #expect(view.dsoPortfolios[1].congestionPoints[0].connections.map(\.entityAddress) == [Self.ea("c-3")])
        #expect(view.connections.map(\.entityAddress) == [Self.ea("c-4")], "in no congestion point")

        let dsoView = try #require(try await rig.send(DSOPortfolioQuery(timeZone: Self.zone, period: today, entityAddress: Self.ea("cp-1")),
                                                      from: Self.dsoA) as? DSOPortfolioQueryResponse)
        #expect(dsoView.result == .accepted)
        #expect(dsoView.congestionPoint?.connections == [.init(entityAddress: Self.ea("c-1"), agrDomain: Self.agrA),
                                                         .init(entityAddress: Self.ea("c-2"), agrDomain: nil)])

        // No AGRPortfolioQueryResponse can carry a rejection, or a portfolio without congestion
        // points (the XSD wants one of each in every response): the transport says so instead.
        #expect(await rig.post(AGRPortfolioQuery(timeZone: Self.zone, period: today.adding(days: -1)), from: Self.agrA)
                == TransportAnswer(status: 400, reason: "AGRPortfolioQuery Rejected: \(CommonReference.noConnections)"))
        _ = try await rig.represent(Self.agrB, [("c-5", today, nil)])
        #expect(await rig.post(AGRPortfolioQuery(timeZone: Self.zone, period: today), from: Self.agrB)
                == TransportAnswer(status: 400, reason: "AGRPortfolioQuery Rejected: \(CommonReference.noneInACongestionPoint)"))
        #expect(try await rig.store.uftpMessages(UFTPMessageQuery(senderDomain: Self.agrB.text, type: "AGRPortfolioQuery")).count == 1,
                "kept in the log all the same")
        let notTheirs = try await rig.send(DSOPortfolioQuery(timeZone: Self.zone, period: today, entityAddress: Self.ea("cp-2")),
                                           from: Self.dsoA)
        #expect(notTheirs.rejectionReason?.hasPrefix(RejectionReason.invalidCongestionPoint) == true)
    }

    /// Closed mode: only registered DSOs and aggregators; open mode: any that signs.
    @Test func closedModeServesOnlyRegisteredParticipants() async throws {
        let closed = try await Rig(mode: .closed, registered: false)
        let refused = try await closed.represent(Self.agrA, [("c-1", Self.today, nil)])
        #expect(refused.rejectionReason == CommonReference.unauthorized)
        try await closed.store.registerCROParticipant(CROParticipant(role: .agr, domain: Self.agrA.text, name: "Aggregator A"))
        #expect(try await closed.represent(Self.agrA, [("c-1", Self.today, nil)]).result == .accepted)
        let open = try await Rig(mode: .open, registered: false)
        #expect(try await open.represent(Self.agrA, [("c-1", Self.today, nil)]).result == .accepted)
    }

    /// Portfolio updates have no sequence number: one older (by TimeStamp) than an update taken
    /// from the same sender is subordinate.
    @Test func anOlderUpdateIsSubordinate() async throws {
        let rig = try await Rig()
        let now = Timestamp.now()
        #expect(try await rig.declare(Self.dsoA, "cp-1", connections: [("c-1", Self.today, nil)], at: now).result == .accepted)
        let older = try await rig.declare(Self.dsoA, "cp-1", connections: [("c-2", Self.today, nil)], at: now.adding(milliseconds: -60_000))
        #expect(older.rejectionReason == RejectionReason.subordinateSequenceNumber)
    }

    /// The market's calendar day of an instant, across midnight in Amsterdam.
    @Test func theDayIsTheMarketsCalendarDay() throws {
        let evening = try #require(Timestamp(rfc3339: "2026-06-30T22:30:00Z"))
        #expect(CommonReference.day(of: evening, in: Self.amsterdam).text == "2026-07-01")
        #expect(CommonReference.day(of: evening, in: TimeZone(identifier: "UTC")!).text == "2026-06-30")
    }

    /// Our DSO's actions (FR08) reach our CRO: the update it declares and the query it asks, as
    /// signed and queued by the DSO, are accepted and answered by the CRO; a draft the CRO would
    /// refuse is not sent.
    @Test func theDSOsDeclarationAndQueryReachTheCRO() async throws {
        let cro = try await Rig()
        let folder = TemporaryDirectory()
        let dsoStore = try SQLiteStore(path: folder.path + "/dso.sqlite")
        let directory = ParticipantsFile(participants: [
            Participant(domain: Self.cro, role: .cro, endpoint: "http://127.0.0.1:9/m", keys: [SigningKey.generate().publicKey]),
        ])
        let actions = UFTPActions(responder: UFTPResponder(
            domain: Self.dsoA, roles: [.dso], signingKey: Self.keys[Self.dsoA]!, directory: directory, store: dsoStore,
            terms: MarketTerms(ispMinutes: 15, timeZone: Self.amsterdam), logger: Logger(label: "test")))
        /// Delivers what the DSO queued last to the CRO and returns the CRO's response.
        func deliver() async throws -> any UFTPResponse {
            let sent = try #require(try await dsoStore.uftpMessages(UFTPMessageQuery(limit: 1000)).last)
            #expect(sent.recipientDomain == Self.cro.text && sent.delivery?.state == .pending)
            let answer = await cro.receiver.receive(contentType: "text/xml", contentLength: sent.signed.count, body: sent.signed, now: .now())
            #expect(answer == .stored)
            let queued = try await cro.store.uftpMessages(UFTPMessageQuery(limit: 1000)).last { $0.direction == .outbound }
            let payload = try UFTPCodec.decode(try #require(queued).payload).payload
            return try #require(payload as? any UFTPResponse)
        }
        let today = Self.today.text
        let cp = Self.ea("cp-1").text, c1 = Self.ea("c-1").text
        _ = try await actions.portfolioUpdate(.init(recipient: Self.cro.text, congestionPoints: [.init(
            entityAddress: cp, start: today, connections: [.init(entityAddress: c1, start: today)])]))
        #expect(try await deliver().result == .accepted)
        _ = try await actions.portfolioQuery(.init(recipient: Self.cro.text, congestionPoint: cp, period: today))
        let view = try #require(try await deliver() as? DSOPortfolioQueryResponse)
        #expect(view.result == .accepted && view.congestionPoint?.connections.map(\.entityAddress.text) == [c1])

        do {
            _ = try await actions.portfolioUpdate(.init(recipient: Self.cro.text, congestionPoints: [.init(
                entityAddress: cp, start: today, end: today, connections: [.init(entityAddress: c1, start: today)])]))
            Issue.record("a connection outside its congestion point's days was sent")
        } catch UFTPActions.Refusal.invalid(_, let reason) {
            #expect(reason.contains("Connection period outside"))
        }
    }
}
