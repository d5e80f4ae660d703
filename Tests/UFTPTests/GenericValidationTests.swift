import Foundation
import GridCore
import Sodium
import Testing
import TestSupport
import UFTP

@Suite struct GenericValidationTests {
    static let amsterdam = MarketTerms(ispMinutes: 15, timeZone: TimeZone(identifier: "Europe/Amsterdam")!)

    @Test func aDSTDayHas92Or100QuarterHours() throws {
        #expect(Self.amsterdam.ispCount(try Period(validating: "2026-03-29")) == 92)
        #expect(Self.amsterdam.ispCount(try Period(validating: "2026-10-25")) == 100)
        #expect(Self.amsterdam.ispCount(try Period(validating: "2026-11-26")) == 96)
        #expect(MarketTerms(ispMinutes: 30, timeZone: TimeZone(identifier: "Europe/Amsterdam")!).ispCount(try Period(validating: "2026-10-25")) == 50)
        // ISP 9 of the spring-forward day begins at 03:00 CEST (01:00 UTC).
        #expect(Self.amsterdam.start(of: 9, in: try Period(validating: "2026-03-29")) == Timestamp(rfc3339: "2026-03-29T01:00:00Z"))
    }

    func request(period: String, zone: String = "Europe/Amsterdam", minutes: Int = 15, isps: [(Int, Int)],
                 expires: String = "2026-11-26T23:00:00Z") throws -> FlexRequest {
        FlexRequest(ispDuration: ISPDuration(minutes: minutes), timeZone: try TimeZoneName(validating: zone), period: try Period(validating: period),
                    congestionPoint: try EntityAddress(validating: "ean.871685900012636543"), revision: 1,
                    expirationDateTime: try DateTime(validating: expires),
                    isps: try isps.map { .init(disposition: .requested, minPower: -10, maxPower: -5, start: try PositiveInteger($0.0), duration: try PositiveInteger($0.1)) })
    }

    @Test func ispsAreCheckedAgainstThePeriodAndEachOther() throws {
        #expect(GenericValidation.isps(try request(period: "2026-11-26", isps: [(1, 48), (49, 48)]), terms: Self.amsterdam).isEmpty)
        #expect(GenericValidation.isps(try request(period: "2026-11-26", isps: [(90, 8)]), terms: Self.amsterdam) == [RejectionReason.ispsOutOfBounds])
        #expect(GenericValidation.isps(try request(period: "2026-10-25", isps: [(97, 4)]), terms: Self.amsterdam).isEmpty, "100 ISPs on the fall-back day")
        #expect(GenericValidation.isps(try request(period: "2026-03-29", isps: [(93, 1)]), terms: Self.amsterdam) == [RejectionReason.ispsOutOfBounds])
        #expect(GenericValidation.isps(try request(period: "2026-11-26", isps: [(1, 4), (2, 1)]), terms: Self.amsterdam) == [RejectionReason.ispConflict])
        #expect(GenericValidation.isps(try request(period: "2026-11-26", minutes: 30, isps: [(1, 1)]), terms: Self.amsterdam) == [RejectionReason.ispDurationRejected])
        // Same offsets all day (Paris) passes; another offset (London) does not.
        #expect(GenericValidation.isps(try request(period: "2026-11-26", zone: "Europe/Paris", isps: [(1, 1)]), terms: Self.amsterdam).isEmpty)
        #expect(GenericValidation.isps(try request(period: "2026-11-26", zone: "Europe/London", isps: [(1, 1)]), terms: Self.amsterdam) == [RejectionReason.timeZoneRejected])
        #expect(GenericValidation.isps(try request(period: "2026-11-26", zone: "Europe/Atlantis", isps: [(1, 1)]), terms: Self.amsterdam) == [RejectionReason.timeZoneRejected])
    }

    /// A FlexOffer's options are alternatives: they may cover the same ISPs, one option may not twice.
    @Test func offerOptionsMayOverlapEachOtherButNotThemselves() throws {
        func offer(_ options: [[(Int, Int)]]) throws -> FlexOffer {
            FlexOffer(ispDuration: ISPDuration(minutes: 15), timeZone: try TimeZoneName(validating: "Europe/Amsterdam"),
                      period: try Period(validating: "2026-11-26"), congestionPoint: try EntityAddress(validating: "ean.871685900012636543"),
                      expirationDateTime: try DateTime(validating: "2026-11-26T00:00:00Z"), unsolicited: true,
                      currency: try CurrencyCode(validating: "EUR"),
                      options: try options.enumerated().map { index, isps in
                          FlexOffer.Option(optionReference: "\(index)", price: try CurrencyAmount(validating: "1"),
                                           isps: try isps.map { PowerISP(power: -1000, start: try PositiveInteger($0.0), duration: try PositiveInteger($0.1)) })
                      })
        }
        #expect(GenericValidation.isps(try offer([[(33, 4)], [(33, 2)]]), terms: Self.amsterdam).isEmpty)
        #expect(GenericValidation.isps(try offer([[(33, 4), (35, 1)], [(33, 2)]]), terms: Self.amsterdam) == [RejectionReason.ispConflict])
        #expect(GenericValidation.isps(try offer([[(33, 4)], [(96, 2)]]), terms: Self.amsterdam) == [RejectionReason.ispsOutOfBounds])
    }

    @Test func expirationMustLieAheadAndWithinTheISPs() throws {
        let now = Timestamp(rfc3339: "2026-11-25T12:00:00Z")!
        let message = try request(period: "2026-11-26", isps: [(1, 4)])
        #expect(GenericValidation.expiration(try DateTime(validating: "2026-11-25T20:00:00Z"), of: message, terms: Self.amsterdam, now: now).isEmpty)
        #expect(GenericValidation.expiration(try DateTime(validating: "2026-11-25T11:00:00Z"), of: message, terms: Self.amsterdam, now: now)
            == [RejectionReason.expirationOutOfBounds])
        // ISPs 1–4 end at 01:00 local (00:00 UTC).
        #expect(GenericValidation.expiration(try DateTime(validating: "2026-11-26T00:30:00Z"), of: message, terms: Self.amsterdam, now: now)
            == [RejectionReason.expirationOutOfBounds])
    }

    @Test func theWrapperTheTypeAndTheRecipientMustAgree() throws {
        let key = SigningKey.generate()
        let offer = UFTPMessage(metadata: Examples.metadata(from: "agr.example.com", to: "dso.example.com"),
                                payload: try #require(Examples.payloads.first { $0 is FlexOffer }))
        let served: Set = [Examples.domain("dso.example.com")]
        #expect(GenericValidation.addressing(offer, wrapper: SignedMessage(sealing: offer, role: .agr, key: key), servedDomains: served).isEmpty)
        // A FlexOffer is the AGR's to send; and it must come from the wrapper's domain.
        #expect(GenericValidation.addressing(offer, wrapper: SignedMessage(sealing: offer, role: .dso, key: key), servedDomains: served) == [RejectionReason.invalidSender])
        var other = SignedMessage(sealing: offer, role: .agr, key: key)
        other.senderDomain = Examples.domain("mallory.example.com")
        #expect(GenericValidation.addressing(offer, wrapper: other, servedDomains: served) == [RejectionReason.invalidSender])
        #expect(GenericValidation.addressing(offer, wrapper: SignedMessage(sealing: offer, role: .agr, key: key), servedDomains: [])
            == [RejectionReason.unknownRecipient])
        var future = offer
        future.metadata.version = try SpecVersion(validating: "4.0.0")
        #expect(GenericValidation.addressing(future, wrapper: SignedMessage(sealing: future, role: .agr, key: key), servedDomains: served)
            == ["\(RejectionReason.unsupportedVersion) 4.0.0"])
    }
}

@Suite struct UseCaseValidationTests {
    @Test func aPrognosisMustCoverTheWholePeriod() throws {
        let full = try #require(Examples.payloads.first { $0 is DPrognosis } as? DPrognosis)
        #expect(UseCaseValidation.prognosis(full, terms: GenericValidationTests.amsterdam).isEmpty)
        var short = full
        short.isps = [.init(power: 1, start: 1, duration: 95)]
        #expect(UseCaseValidation.prognosis(short, terms: GenericValidationTests.amsterdam) == [UseCaseValidation.lackingISPs])
    }

    @Test func aRequestNeedsARequestedISPWithADirection() throws {
        var request = try #require(Examples.payloads.first { $0 is FlexRequest } as? FlexRequest)
        #expect(UseCaseValidation.request(request).isEmpty)
        request.isps = [.init(disposition: .available, minPower: 0, maxPower: 10, start: 1)]
        #expect(UseCaseValidation.request(request) == [UseCaseValidation.lackingRequestedDisposition])
        request.isps = [.init(disposition: .requested, minPower: -5, maxPower: 5, start: 1), .init(disposition: .available, minPower: 3, maxPower: 1, start: 2)]
        #expect(UseCaseValidation.request(request) == [UseCaseValidation.requestedPowerDiscrepancy, UseCaseValidation.powerDiscrepancy])
    }

    static func prognosis(_ power: (Int) -> Int) -> DPrognosis {
        DPrognosis(ispDuration: Examples.quarter, timeZone: Examples.zone, period: Examples.day, congestionPoint: Examples.cp, revision: 1,
                   isps: (1...96).map { .init(power: power($0), start: $0) })
    }

    static func placed(_ n: Int, baseline: DPrognosis?, isps: [(start: Int, count: Int, power: Int)]) -> UseCaseValidation.PlacedOrder {
        UseCaseValidation.PlacedOrder(messageID: Examples.id(n), order: FlexOrder(
            ispDuration: Examples.quarter, timeZone: Examples.zone, period: Examples.day, congestionPoint: Examples.cp,
            flexOfferMessageID: Examples.id(100 + n), price: Examples.amount("1"), currency: Examples.eur, orderReference: "O-\(n)",
            isps: isps.map { .init(power: $0.power, start: try! PositiveInteger($0.start), duration: try! PositiveInteger($0.count)) }),
            baseline: baseline)
    }

    /// FR31/FR38: an updated D-Prognosis reflects an order when, at each ordered ISP not yet
    /// begun, it is the order's baseline plus the power ordered; a later order of the same ISPs
    /// is checked against its own baseline; an order without one cannot be validated.
    @Test func anUpdatedPrognosisReflectsTheOrders() {
        let baseline = Self.prognosis { _ in 1000 }
        let first = Self.placed(1, baseline: baseline, isps: [(40, 2, -500)])
        func statuses(_ prognosis: DPrognosis, _ orders: [UseCaseValidation.PlacedOrder], from open: Int = 1) -> [Bool] {
            UseCaseValidation.orderStatuses(of: prognosis, orders: orders, firstOpenISP: open).map(\.isValidated)
        }
        let reflecting = Self.prognosis { [40, 41].contains($0) ? 500 : 1000 }
        #expect(statuses(reflecting, [first]) == [true])
        #expect(statuses(baseline, [first]) == [false])
        #expect(statuses(Self.prognosis { $0 == 41 ? 500 : 1000 }, [first], from: 41) == [true], "ISP 40 has begun: ignored")
        #expect(statuses(Self.prognosis { $0 == 41 ? 500 : 1000 }, [first], from: 40) == [false])
        // A second order of ISP 41, placed on the prognosis that reflects the first.
        let second = Self.placed(2, baseline: reflecting, isps: [(41, 1, -200)])
        #expect(statuses(Self.prognosis { $0 == 40 ? 500 : $0 == 41 ? 300 : 1000 }, [first, second]) == [true, true])
        #expect(statuses(reflecting, [first, second]) == [false, false])
        #expect(statuses(reflecting, [Self.placed(3, baseline: nil, isps: [(40, 2, -500)])]) == [false], "no baseline")
    }

    /// Over random orders and powers (a peer's, to the extremes of Int): one status per order, no
    /// trap, and a prognosis made as the orders ask is validated for each.
    @Test func orderStatusesHoldOverRandomOrders() {
        var random = SplitMix64(seed: 26)
        for _ in 0..<500 {
            let extreme = random.next() % 4 == 0
            func power() -> Int { extreme ? [Int.max, Int.min, 0, -1][Int(random.next() % 4)] : Int(random.next() % 20_001) - 10_000 }
            let baselinePowers = (1...96).map { _ in power() }
            let baseline = Self.prognosis { baselinePowers[$0 - 1] }
            var expected = baselinePowers
            var orders: [UseCaseValidation.PlacedOrder] = []
            var overflow = false
            for n in 0..<Int(random.next() % 4) {
                let start = Int(random.next() % 90) + 1, count = Int(random.next() % 6) + 1, ordered = power()
                orders.append(Self.placed(n, baseline: baseline, isps: [(start, count, ordered)]))
                for isp in start..<min(start + count, 97) {
                    let (sum, wrapped) = baselinePowers[isp - 1].addingReportingOverflow(ordered)
                    overflow = overflow || wrapped
                    expected[isp - 1] = sum
                }
            }
            let open = Int(random.next() % 97) + 1
            let statuses = UseCaseValidation.orderStatuses(of: Self.prognosis { expected[$0 - 1] }, orders: orders, firstOpenISP: open)
            #expect(statuses.map(\.flexOrderMessageID) == orders.map(\.messageID))
            // Where orders overlap the later one's sum is the prognosis, which its baseline (the
            // same here) makes the earlier one's expectation too: every order is validated.
            for index in orders.indices where !overflow {
                #expect(statuses[index].isValidated, "order \(index) of \(orders.count), open from \(open)")
            }
        }
    }

    /// Partial activation (§2.4.4): 80% of the offer is every ISP at 80% and the price at 80%.
    @Test func anOrderRepeatsTheOfferScaledByItsActivationFactor() throws {
        let offer = FlexOffer(ispDuration: Examples.quarter, timeZone: Examples.zone, period: Examples.day, congestionPoint: Examples.cp,
                              expirationDateTime: Examples.expiry, currency: Examples.eur, options: [
                                  .init(optionReference: "A", price: Examples.amount("10"), minActivationFactor: try ActivationFactor(validating: "0.5"),
                                        isps: [.init(power: -5000, start: 70, duration: 2), .init(power: -3000, start: 72)]),
                              ])
        func order(_ factor: String?, powers: [Int], price: String, starts: [Int] = [70, 71, 72]) throws -> FlexOrder {
            FlexOrder(ispDuration: Examples.quarter, timeZone: Examples.zone, period: Examples.day, congestionPoint: Examples.cp,
                      flexOfferMessageID: Examples.id(7), price: Examples.amount(price), currency: Examples.eur, orderReference: "O-1",
                      optionReference: "A", activationFactor: try factor.map { try ActivationFactor(validating: $0) },
                      isps: try zip(starts, powers).map { .init(power: $0.1, start: try PositiveInteger($0.0)) })
        }
        #expect(UseCaseValidation.order(try order(nil, powers: [-5000, -5000, -3000], price: "10"), against: offer).isEmpty)
        #expect(UseCaseValidation.order(try order("0.8", powers: [-4000, -4000, -2400], price: "8"), against: offer).isEmpty)
        #expect(UseCaseValidation.order(try order("0.4", powers: [-2000, -2000, -1200], price: "4"), against: offer) == [UseCaseValidation.powerMismatch])
        #expect(UseCaseValidation.order(try order("0.8", powers: [-4000, -4000, -3000], price: "8"), against: offer) == [UseCaseValidation.powerMismatch])
        #expect(UseCaseValidation.order(try order(nil, powers: [-5000, -5000, -3000], price: "9"), against: offer) == [UseCaseValidation.priceMismatch])
        #expect(UseCaseValidation.order(try order(nil, powers: [-5000, -5000], price: "10", starts: [70, 71]), against: offer) == [UseCaseValidation.ispMismatch])
    }
}

/// Numbers at the edges of their types, and markup floods, in messages from peers.
@Suite struct ExtremeValueTests {
    /// Numbers a peer may put in any message, at the edges of their types: each is refused or
    /// answered with a reason, none traps, none makes the checks allocate beyond a day's ISPs.
    @Test func extremeNumbersAreRefusedNotFatal() throws {
        for text in ["PT9223372036854775807H", "PT1H9223372036854775807M", "PT9223372036854775807M60S", "PT99999M", "PT1441M", "PT0M"] {
            #expect(throws: UFTPValueError.self, "\(text)") { try ISPDuration(validating: text) }
        }
        #expect(try ISPDuration(validating: "PT24H").minutes == 1440)
        #expect(try ISPDuration(validating: "PT900S").minutes == 15)
        #expect(throws: UFTPValueError.self) { try CurrencyAmount(validating: "1000000000000000") }
        #expect(throws: UFTPValueError.self) { try CurrencyAmount(validating: "-" + String(repeating: "9", count: 160)) }
        #expect(try CurrencyAmount(validating: "999999999999999.9999").text == "999999999999999.9999")

        let terms = GenericValidationTests.amsterdam, now = Timestamp(millisecondsSince1970: 1_795_600_000_000)
        for (start, duration) in [(Int.max, 1), (1, Int.max), (Int.max, Int.max), (96, Int.max - 95), (1_000_000_000, 1)] {
            let request = try GenericValidationTests().request(period: "2026-11-26", isps: [(start, duration)])
            #expect(GenericValidation.isps(request, terms: terms) == [RejectionReason.ispsOutOfBounds])
            _ = GenericValidation.expiration(request.expirationDateTime, of: request, terms: terms, now: now)
            let prognosis = DPrognosis(ispDuration: Examples.quarter, timeZone: Examples.zone, period: Examples.day, congestionPoint: Examples.cp,
                                       revision: 1, isps: [.init(power: 1, start: start, duration: duration), .init(power: 1, start: -start, duration: duration)])
            #expect(UseCaseValidation.prognosis(prognosis, terms: terms) == [UseCaseValidation.lackingISPs])
            #expect(prognosis.powerByISP.count <= 20_000)
            #expect(UseCaseValidation.numbers(try PositiveInteger(start), try PositiveInteger(duration)).count <= 10_000)
        }
        var request = try GenericValidationTests().request(period: "2026-11-26", isps: [(1, 1)])
        for power in [Int.min, Int.max, Bounds.powerW.lowerBound - 1] {
            request.isps = [.init(disposition: .requested, minPower: power, maxPower: -1, start: 1)]
            #expect(GenericValidation.isps(request, terms: terms).contains(RejectionReason.powerOutOfBounds))
        }
        request.isps = [.init(disposition: .requested, minPower: Bounds.powerW.lowerBound, maxPower: -1, start: 1)]
        #expect(GenericValidation.isps(request, terms: terms).isEmpty)

        // An order of extreme powers against an offer of the other extreme: a mismatch, not a trap.
        let offer = FlexOffer(ispDuration: Examples.quarter, timeZone: Examples.zone, period: Examples.day, congestionPoint: Examples.cp,
                              expirationDateTime: Examples.expiry, currency: Examples.eur,
                              options: [.init(optionReference: "A", price: Examples.amount("10"), isps: [.init(power: Int.max, start: 70)])])
        let order = FlexOrder(ispDuration: Examples.quarter, timeZone: Examples.zone, period: Examples.day, congestionPoint: Examples.cp,
                              flexOfferMessageID: Examples.id(7), price: Examples.amount("10"), currency: Examples.eur, orderReference: "O",
                              optionReference: "A", isps: [.init(power: Int.min, start: 70)])
        #expect(UseCaseValidation.order(order, against: offer) == [UseCaseValidation.powerMismatch])
    }

    /// libxml2 compares an element's attributes pairwise: a flood of them is refused before parsing.
    @Test func anAttributeFloodIsRefusedBeforeParsing() {
        let flood = "<TestMessage " + (0..<65).map { "a\($0)=\"\"" }.joined(separator: " ") + "/>"
        let error = #expect(throws: XMLError.self) { try XMLDocument.parse(Array(flood.utf8)) }
        #expect(error?.problem.contains("more than 64 attributes") == true)
        let fine = "<TestMessage " + (0..<64).map { "a\($0)='>'" }.joined(separator: " ") + "/>"
        #expect((try? XMLDocument.parse(Array(fine.utf8))) != nil)
    }
}
