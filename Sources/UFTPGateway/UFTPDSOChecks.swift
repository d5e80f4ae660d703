import Foundation
import GridCore
import SCD
import UFTP

/// The DSO's checks of an aggregator's messages against what it knows beyond the exchange: the
/// Common Reference (UFTP §3.5, FUSION FR16) and the orders an updated D-Prognosis must reflect
/// (FUSION FR31/FR38, UFTP §4.2.17).
extension UFTPResponder {
    /// A D-Prognosis or FlexOffer must be for a congestion point where its aggregator represents
    /// connections on the Period, per the Common Reference (UFTP §3.5, FUSION FR16), when
    /// `croDomain` names one: this platform's own register, or the remote CRO's latest accepted
    /// answer to a DSOPortfolioQuery, asked again (at most hourly) when it is missing or an hour old.
    func commonReferenceReason(_ payload: any UFTPPayload, from aggregator: InternetDomain, now: Timestamp) async throws -> String? {
        guard let croDomain, roles.contains(.dso) else { return nil }
        let point: EntityAddress, period: Period
        switch payload {
        case let prognosis as DPrognosis: (point, period) = (prognosis.congestionPoint, prognosis.period)
        case let offer as FlexOffer: (point, period) = (offer.congestionPoint, offer.period)
        default: return nil
        }
        let refusal = "\(RejectionReason.invalidCongestionPoint): [\(point.text)] holds no connections of the sender on \(period.text) in the Common Reference"
        if croDomain == domain, commonReference != nil {
            let day = period.text
            let connections = try await store.portfolio(PortfolioScope(congestionPoints: [point.text], holders: [(.congestionPoint, point.text)]))
                .assignments.filter { $0.holds(on: day) }.map(\.connection)
            guard !connections.isEmpty else { return refusal }
            let represented = try await store.portfolio(PortfolioScope(connections: connections)).assignments
                .contains { $0.kind == .aggregator && $0.holder == aggregator.text && $0.holds(on: day) }
            return represented ? nil : refusal
        }
        let hour: Int64 = 3_600_000
        var latest: (time: Timestamp, aggregators: Set<String>)?
        for record in try await store.everyUFTPMessage(UFTPMessageQuery(senderDomain: croDomain.text, type: DSOPortfolioQueryResponse.elementName, limit: 1_000))
        where record.direction == .inbound && record.senderRole == USEFRole.cro.rawValue && record.recipientDomain == domain.text {
            guard let answer = try? UFTPCodec.decode(record.payload).payload as? DSOPortfolioQueryResponse, answer.result == .accepted,
                  answer.period == period, let listed = answer.congestionPoint, listed.entityAddress == point else { continue }
            latest = (record.time, Set(listed.connections.compactMap { $0.agrDomain?.text }))
        }
        if (latest?.time.millisecondsSince1970 ?? .min) < now.millisecondsSince1970 - hour {
            try await askCommonReference(croDomain, about: point, on: period, unlessSince: now.adding(milliseconds: -hour), now: now)
        }
        return latest?.aggregators.contains(aggregator.text) == true ? nil : refusal
    }

    /// Queues a DSOPortfolioQuery to the CRO for the congestion point and Period, unless one was sent since `since`.
    func askCommonReference(_ cro: InternetDomain, about point: EntityAddress, on period: Period, unlessSince since: Timestamp,
                            now: Timestamp) async throws {
        for record in try await store.everyUFTPMessage(UFTPMessageQuery(senderDomain: domain.text, type: DSOPortfolioQuery.elementName, limit: 1_000))
        where record.direction == .outbound && record.recipientDomain == cro.text && record.time >= since {
            if let asked = try? UFTPCodec.decode(record.payload).payload as? DSOPortfolioQuery, asked.entityAddress == point, asked.period == period {
                return
            }
        }
        let query = DSOPortfolioQuery(timeZone: try TimeZoneName(validating: terms.timeZone.identifier), period: period, entityAddress: point)
        try await queue(UFTPMessage(metadata: Metadata(senderDomain: domain, recipientDomain: cro, timeStamp: DateTime(now), conversationID: .random()),
                                    payload: query), to: cro, role: .cro, as: .dso, now: now)
    }

    /// The D-Prognoses `aggregator` sent for the congestion point and Period that this platform
    /// accepted, in arrival order.
    package func acceptedPrognoses(from aggregator: String, congestionPoint: String, period: String) async throws
        -> [(record: UFTPMessageRecord, prognosis: DPrognosis)] {
        var accepted: Set<String> = []
        for record in try await store.everyUFTPMessage(UFTPMessageQuery(senderDomain: domain.text, type: DPrognosisResponse.elementName, limit: 1_000))
        where record.direction == .outbound && record.recipientDomain == aggregator {
            if let response = try? UFTPCodec.decode(record.payload).payload as? DPrognosisResponse, response.result == .accepted {
                accepted.insert(response.referencedMessageID.text)
            }
        }
        // The first record of a MessageID is the one its response accepted; a later one reusing
        // the id was refused as a duplicate, unchecked.
        var seen: Set<String> = []
        var found: [(record: UFTPMessageRecord, prognosis: DPrognosis)] = []
        for record in try await store.everyUFTPMessage(UFTPMessageQuery(senderDomain: aggregator, type: DPrognosis.elementName, limit: 1_000))
        where record.direction == .inbound && accepted.contains(record.messageID) && seen.insert(record.messageID).inserted {
            if let prognosis = try? UFTPCodec.decode(record.payload).payload as? DPrognosis,
               prognosis.period.text == period, prognosis.congestionPoint.text == congestionPoint {
                found.append((record, prognosis))
            }
        }
        return found
    }

    /// Whether a D-Prognosis reflects each order this platform placed with its sender for its
    /// congestion point and Period (UseCaseValidation.orderStatuses), leaving out orders the
    /// aggregator refused. An order's baseline is the D-Prognosis it names, else the last one
    /// accepted before it was sent.
    package func flexOrderStatuses(_ prognosis: DPrognosis, from sender: InternetDomain, now: Timestamp) async throws
        -> [DPrognosisResponse.FlexOrderStatus] {
        var orders: [UseCaseValidation.PlacedOrder] = []
        let accepted = try await acceptedPrognoses(from: sender.text, congestionPoint: prognosis.congestionPoint.text,
                                                   period: prognosis.period.text)
        for record in try await store.everyUFTPMessage(UFTPMessageQuery(senderDomain: domain.text, type: FlexOrder.elementName, limit: 1_000))
        where record.direction == .outbound && record.recipientDomain == sender.text {
            guard let message = try? UFTPCodec.decode(record.payload), let order = message.payload as? FlexOrder,
                  order.period == prognosis.period, order.congestionPoint == prognosis.congestionPoint else { continue }
            let refused = try await conversation(record.conversationID, of: [FlexOrderResponse.self]).contains { answer in
                answer.record.direction == .inbound && (answer.payload as? FlexOrderResponse).map {
                    $0.referencedMessageID == message.metadata.messageID && $0.result == .rejected
                } == true
            }
            if refused { continue }
            let baseline = order.dPrognosisMessageID.flatMap { id in accepted.first { $0.record.messageID == id.text } }
                ?? accepted.last { ($0.record.id ?? .max) < (record.id ?? .min) }
            orders.append(.init(messageID: message.metadata.messageID, order: order, baseline: baseline?.prognosis))
        }
        guard !orders.isEmpty else { return [] }
        let count = terms.ispCount(prognosis.period)
        let firstOpen = (1...max(count, 1)).first { terms.start(of: $0, in: prognosis.period) > now } ?? count + 1
        return UseCaseValidation.orderStatuses(of: prognosis, orders: orders, firstOpenISP: firstOpen)
    }
}
