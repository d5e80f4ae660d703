import GridCore
import UFTP

/// One message of every type, with every optional attribute set (and, where a list may be
/// empty, one without), as test material.
public enum Examples {
    public static func domain(_ text: String) -> InternetDomain { try! InternetDomain(validating: text) }
    public static func id(_ n: Int) -> UUIDValue { try! UUIDValue(validating: "00000000-0000-4000-8000-\(String(repeating: "0", count: 12 - String(n).count))\(n)") }
    public static let cp = try! EntityAddress(validating: "ea1.2023-01.com.example.dso:cp-1")
    public static let ean = try! EntityAddress(validating: "ean.871685900012636543")
    public static let zone = try! TimeZoneName(validating: "Europe/Amsterdam")
    public static let day = try! Period(validating: "2026-11-26")
    public static let eur = try! CurrencyCode(validating: "EUR")
    public static let quarter = ISPDuration(minutes: 15)
    public static let expiry = try! DateTime(validating: "2026-11-25T18:00:00Z")
    public static func amount(_ text: String) -> CurrencyAmount { try! CurrencyAmount(validating: text) }

    public static func metadata(_ version: SpecVersion = .v3_1_0, from sender: String = "agr.example.com", to recipient: String = "dso.example.com") -> Metadata {
        Metadata(version: version, senderDomain: domain(sender), recipientDomain: domain(recipient),
                 timeStamp: try! DateTime(validating: "2026-11-25T10:00:00.123Z"), messageID: id(1), conversationID: id(2))
    }

    public static var payloads: [any UFTPPayload] {
        [
            TestMessage(), TestMessageResponse(),
            AGRPortfolioUpdate(timeZone: zone, connections: [.init(entityAddress: ean, startPeriod: day, endPeriod: day.adding(days: 30))]),
            AGRPortfolioUpdateResponse(result: .rejected, rejectionReason: "Unauthorized", referencedMessageID: id(3)),
            AGRPortfolioQuery(timeZone: zone, period: day),
            AGRPortfolioQueryResponse(result: .accepted, timeZone: zone, referencedMessageID: id(3), period: day, dsoViews: [
                .init(dsoPortfolios: [.init(dsoDomain: domain("dso.example.com"), congestionPoints: [
                    .init(entityAddress: cp, mutexOffersSupported: true, dayAheadRedispatchBy: .dso, intradayRedispatchBy: .agr,
                          connections: [.init(entityAddress: ean)]),
                ])], connections: [.init(entityAddress: try! EntityAddress(validating: "ean.871685900012636544"))]),
            ]),
            DSOPortfolioUpdate(timeZone: zone, congestionPoints: [
                .init(entityAddress: cp, startPeriod: day, endPeriod: day.adding(days: 365), mutexOffersSupported: false,
                      dayAheadRedispatchBy: .dso, intradayRedispatchBy: .dso,
                      connections: [.init(entityAddress: ean, startPeriod: day, endPeriod: day.adding(days: 365))]),
            ]),
            DSOPortfolioUpdateResponse(result: .accepted, referencedMessageID: id(3)),
            DSOPortfolioQuery(timeZone: zone, period: day, entityAddress: cp),
            DSOPortfolioQueryResponse(result: .accepted, referencedMessageID: id(3), timeZone: zone, period: day,
                                      congestionPoint: .init(entityAddress: cp, connections: [.init(entityAddress: ean, agrDomain: domain("agr.example.com"))])),
            DPrognosis(ispDuration: quarter, timeZone: zone, period: day, congestionPoint: cp, revision: 3,
                       isps: [.init(power: 1500, start: 1, duration: 48), .init(power: -200, start: 49, duration: 48)]),
            DPrognosisResponse(result: .accepted, referencedMessageID: id(3),
                               flexOrderStatuses: [.init(flexOrderMessageID: id(4), isValidated: true)]),
            FlexReservationUpdate(ispDuration: quarter, timeZone: zone, period: day, congestionPoint: cp, contractID: "C-1",
                                  reference: "R-1", isps: [.init(power: -2000, start: 12, duration: 4)]),
            FlexReservationUpdateResponse(result: .accepted, referencedMessageID: id(3)),
            FlexRequest(ispDuration: quarter, timeZone: zone, period: day, congestionPoint: cp, revision: 1, expirationDateTime: expiry,
                        contractID: "C-1", serviceType: "congestion", isps: [
                            .init(disposition: .requested, minPower: -6000, maxPower: -4000, start: 70, duration: 4),
                            .init(disposition: .available, minPower: 0, maxPower: 2000, start: 74),
                        ]),
            FlexRequestResponse(result: .rejected, rejectionReason: "Lacking Requested Disposition", referencedMessageID: id(3)),
            FlexOffer(ispDuration: quarter, timeZone: zone, period: day, congestionPoint: cp, expirationDateTime: expiry, unsolicited: false,
                      flexRequestMessageID: id(5), contractID: "C-1", dPrognosisMessageID: id(6), baselineReference: "B-1", currency: eur,
                      options: [.init(optionReference: "A", price: amount("12.5"), minActivationFactor: try! ActivationFactor(validating: "0.5"),
                                      isps: [.init(power: -5000, start: 70, duration: 4)]),
                                .init(optionReference: "B", price: amount("20.1234"), isps: [.init(power: -6000, start: 70, duration: 4)])]),
            FlexOfferResponse(result: .accepted, referencedMessageID: id(3)),
            FlexOfferRevocation(flexOfferMessageID: id(7)),
            FlexOfferRevocationResponse(result: .rejected, rejectionReason: "Flexibility procured", referencedMessageID: id(3)),
            FlexOrder(ispDuration: quarter, timeZone: zone, period: day, congestionPoint: cp, unsolicited: false, flexOfferMessageID: id(7),
                      serviceType: "congestion", contractID: "C-1", dPrognosisMessageID: id(6), baselineReference: "B-1",
                      price: amount("6.25"), currency: eur, orderReference: "O-1", optionReference: "A",
                      activationFactor: try! ActivationFactor(validating: "0.5"), isps: [.init(power: -2500, start: 70, duration: 4)]),
            FlexOrderResponse(result: .accepted, referencedMessageID: id(3)),
            FlexSettlement(periodStart: try! Period(validating: "2026-11-01"), periodEnd: try! Period(validating: "2026-11-30"), currency: eur,
                           orderSettlements: [.init(orderReference: "O-1", period: day, contractID: "C-1", dPrognosisMessageID: id(6),
                                                    baselineReference: "B-1", congestionPoint: cp, price: amount("14"), penalty: amount("11"),
                                                    netSettlement: amount("3"), isps: [
                                                        .init(start: 70, duration: 4, baselinePower: 10000, orderedFlexPower: -2000, actualPower: 9000,
                                                              deliveredFlexPower: 1000, powerDeficiency: 1000),
                                                    ])],
                           contractSettlements: [.init(contractID: "C-1", periods: [.init(period: day, isps: [
                               .init(start: 12, duration: 4, reservedPower: -2000, requestedPower: -2000, availablePower: 0,
                                     offeredPower: -2000, orderedPower: -2000),
                           ])])]),
            FlexSettlementResponse(result: .accepted, referencedMessageID: id(3),
                                   orderStatuses: [.init(orderReference: "O-1", disposition: .disputed, disputeReason: "meter data differ")]),
            Metering(revision: 1, ispDuration: quarter, timeZone: zone, currency: eur, period: day,
                     ean: try! MeteringEAN(validating: "E1234567890123456"), profiles: [
                        .init(profileType: .power, unit: .kW, isps: [.init(start: 1, value: try! MeteringValue(validating: "1.5"))]),
                        .init(profileType: .importEnergy, unit: .kWh, isps: [.init(start: 1, value: try! MeteringValue(validating: "0.375"))]),
                     ]),
            MeteringResponse(result: .accepted, referencedMessageID: id(3)),
        ]
    }

    /// The XSD file of 3.0.0 that defines a message (3.0.0 has no aggregate schema).
    public static func schemaFile30(_ name: String) -> String {
        switch name {
        case "TestMessage", "TestMessageResponse": "UFTP-common.xsd"
        case let name where name.hasPrefix("AGRPortfolio"): "UFTP-agr-cro.xsd"
        case let name where name.hasPrefix("DSOPortfolio"): "UFTP-cro-dso.xsd"
        default: "UFTP-agr-dso.xsd"
        }
    }
}
