import Foundation
import GridCore
import Market
import SCD
import UFTP
import UFTPGateway

/// The market's UFTP side (docs/market.md, "UFTP"): a FlexRequest received (this platform as the
/// DSO's aggregator) is a market request, a FlexOffer received (as the aggregators' DSO) a market
/// offer and a FlexOfferRevocation its revocation; market requests go to the UFTP aggregators as
/// FlexRequests; a UFTP aggregator's final award is ordered at once as a FlexOrder and settled
/// with a FlexSettlement, whose answer records the aggregator's disputes.
extension Marketplace: UFTPMarket {
    /// Takes a received flex message into the market when its sender trades there (`[market]
    /// uftp_dsos`, `uftp_aggregators`; others trade bilaterally); the reasons to reject it, if the
    /// market cannot take it (an entry it refuses is refused in UFTP too, with the same words).
    public func intake(_ message: UFTPMessage, from sender: InternetDomain, now: Timestamp) async throws -> [String] {
        var origin = UFTPOrigin(domain: sender.text, messageID: message.metadata.messageID.text)
        let trades = message.payload is FlexRequest ? config.uftpDSOs.contains(sender.text) : config.uftpAggregators.contains(sender.text)
        guard trades else { return [] }
        do {
            switch message.payload {
            case let request as FlexRequest:
                if let mismatch = ispMismatch(request.ispDuration, request.timeZone) { return [mismatch] }
                let isps = request.isps.filter { ($0.disposition ?? .requested) == .requested }.map {
                    RequestEntry.ISP(start: $0.start.value, duration: $0.duration?.value, minPower: $0.minPower, maxPower: $0.maxPower)
                }
                // Only ISPs marked Available: information for the aggregator, nothing to clear.
                guard !isps.isEmpty else { return [] }
                let day = request.period.text
                let session = await session(day: day, isps: isps.map(\.start), now: now)
                _ = try await submitRequest(RequestSubmission(session: session, day: day, id: "uftp-" + origin.messageID,
                                                              area: [request.congestionPoint.text], isps: isps, priceLimit: nil),
                                            buyer: .dso, participant: sender.text, origin: origin, now: now)
            case let offer as FlexOffer:
                if let mismatch = ispMismatch(offer.ispDuration, offer.timeZone) { return [mismatch] }
                guard offer.options.count == 1, let option = offer.options.first else {
                    return ["the market takes one OfferOption per FlexOffer (this one has \(offer.options.count))"]
                }
                let isps = option.isps.map { OfferEntry.ISP(start: $0.start.value, duration: $0.duration?.value, power: $0.power) }
                // The option's price is the whole offer's at full activation, as the market's, in cents.
                guard let price = Money(exactly: option.price.value) else {
                    return ["the market's prices are in cents: \(option.price.text) has more decimals"]
                }
                let day = offer.period.text
                let location = offer.congestionPoint.text
                let pods = try await aggregatorPODs(sender.text, at: location, day: day)
                guard !pods.isEmpty else { return ["\(sender.text) holds no POD at \(location) in the SCD"] }
                let session = await session(day: day, isps: isps.map(\.start), now: now)
                origin.optionReference = option.optionReference
                _ = try await submitOffer(
                    OfferSubmission(session: session, day: day, id: "uftp-" + origin.messageID, location: location, price: price,
                                    minActivationFactor: option.minActivationFactor.map { NSDecimalNumber(decimal: $0.value).doubleValue },
                                    isps: isps, pods: pods.map { OfferPOD(pod: $0) }, validUntil: offer.expirationDateTime.text),
                    aggregator: sender.text, origin: origin, now: now)
            case let revocation as FlexOfferRevocation:
                do {
                    _ = try await revokeOffer("uftp-" + revocation.flexOfferMessageID.text, by: Party(role: .aggregator, participant: sender.text),
                                             reason: "FlexOfferRevocation \(origin.messageID)", now: now)
                } catch MarketRefusal.notFound {
                    // The offer never entered the market (it was rejected): nothing to take back.
                }
            default:
                break
            }
        } catch let refusal as MarketRefusal {
            return [refusal.description]
        }
        return []
    }

    /// A response to the market's FlexOrder or FlexSettlement, recorded on its orders.
    public func received(_ message: UFTPMessage, now: Timestamp) async throws {
        switch message.payload {
        case let response as FlexOrderResponse:
            guard let order = try await sentMessage(FlexOrder.self, response.referencedMessageID),
                  var record = try await store.record(MarketOrder.self, id: order.orderReference), var link = record.uftp else { return }
            link.state = response.result == .accepted ? .accepted : .rejected
            link.reason = response.rejectionReason
            record.uftp = link
            var raised: MarketAlert?
            if response.result == .rejected {
                let rejection = alert(record, pod: "*", setPoint: nil,
                                      "the aggregator rejected FlexOrder \(response.referencedMessageID.text): \(response.rejectionReason ?? "no reason given")",
                                      now: now)
                record.alerts.append(rejection)
                raised = rejection
            }
            try await store.put(record, replace: true)
            if let raised { await report(raised) }
        case let response as FlexSettlementResponse:
            guard let settlement = try await sentMessage(FlexSettlement.self, response.referencedMessageID) else { return }
            let statuses = Dictionary(response.orderStatuses.compactMap { status in status.orderReference.map { ($0, status) } },
                                      uniquingKeysWith: { first, _ in first })
            for reference in settlement.orderSettlements.compactMap(\.orderReference) {
                guard var record = try await store.record(MarketOrder.self, id: reference), var link = record.uftp else { continue }
                if response.result == .rejected {
                    link.disposition = "Rejected"
                    link.disputeReason = response.rejectionReason
                } else {
                    link.disposition = statuses[reference]?.disposition.rawValue ?? AcceptedDisputed.accepted.rawValue
                    link.disputeReason = statuses[reference]?.disputeReason
                }
                record.uftp = link
                try await store.put(record, replace: true)
                if link.disposition != AcceptedDisputed.accepted.rawValue {
                    logger.warning("market: \(link.aggregator) \(link.disposition ?? "?") the settlement of order \(reference): \(link.disputeReason ?? "no reason given")")
                    await notify(event: "dispute", link)
                }
            }
        default:
            break
        }
    }

    /// The UFTP's ISP and time zone must be the market's (the configuration checks `[uftp]`; a
    /// peer may still send others).
    private nonisolated func ispMismatch(_ duration: ISPDuration, _ zone: TimeZoneName) -> String? {
        guard duration.minutes == calendar.ispMinutes, zone.text == calendar.timeZone.identifier else {
            return "the market's ISPs are \(calendar.ispMinutes) min in \(calendar.timeZone.identifier), not \(duration.minutes) min in \(zone.text)"
        }
        return nil
    }

    /// The day-ahead session while it admits the entry, else the real-time session.
    func session(day: String, isps: [Int], now: Timestamp) async -> SessionKind {
        (try? await admit(.dayAhead, day: day, isps: isps, now: now)) != nil ? .dayAhead : .realTime
    }

    /// The PODs an aggregator holds at a location: its registry entries and the day's customer list.
    private func aggregatorPODs(_ aggregator: String, at location: String, day: String) async throws -> [String] {
        var pods = Set(try await store.pods(aggregator: aggregator).filter { $0.congestionPoint == location }.map(\.id))
        for entry in try await store.customerList(day: day, aggregator: aggregator) where !pods.contains(entry.pod) {
            if try await store.pod(entry.pod)?.congestionPoint == location { pods.insert(entry.pod) }
        }
        return pods.sorted()
    }

    /// The message of type `T` with `id` this platform sent, as logged; nil when it sent none
    /// (a response to someone else's message).
    private func sentMessage<T: UFTPPayload>(_ type: T.Type, _ id: UUIDValue) async throws -> T? {
        guard let uftp else { return nil }
        do {
            return try await uftp.logged(T.self, id, .outbound).payload
        } catch is UFTPActions.Refusal {
            return nil
        }
    }

    /// Sends a market request to the UFTP aggregators holding PODs in its area: day-ahead
    /// requests expire at the gate closure, real-time ones at the end of their last ISP.
    func announce(_ request: MarketRequest, now: Timestamp) async {
        guard let uftp, !config.uftpAggregators.isEmpty else { return }
        let last = request.entry.isps.map { $0.start + ($0.duration ?? 1) - 1 }.max() ?? 1
        let expiration = request.session == .dayAhead
            ? config.rules.gateClosure(dayAhead: request.day)
            : calendar.interval(day: request.day, isp: last)?.upperBound
        guard let expiration else { return }
        let requested = request.entry.isps.map {
            UFTPActions.FlexRequestDraft.ISP(start: $0.start, duration: $0.duration, minPower: $0.minPower, maxPower: $0.maxPower)
        }
        let isps = (try? Period(validating: request.day)).map { Self.withAvailable(requested, ispCount: uftp.responder.terms.ispCount($0)) } ?? requested
        for aggregator in config.uftpAggregators where aggregator != request.participant {
            for location in request.entry.area {
                do {
                    guard !(try await aggregatorPODs(aggregator, at: location, day: request.day)).isEmpty else { continue }
                    let receipt = try await uftp.flexRequest(UFTPActions.FlexRequestDraft(
                        recipient: aggregator, congestionPoint: location, period: request.day,
                        expiration: expiration.rfc3339, isps: isps), now: now)
                    logger.info("market request \(request.entry.id) sent to \(aggregator) as FlexRequest \(receipt.messageID)")
                } catch {
                    logger.error("market request \(request.entry.id): no FlexRequest to \(aggregator) for \(location): \(error)")
                }
            }
        }
    }

    /// The requested ISPs and, as UFTP asks (§4.2.18), the Period's other ISPs as `Available`,
    /// in runs. The market knows no headroom there, so it states none: MinPower = MaxPower = 0.
    nonisolated static func withAvailable(_ requested: [UFTPActions.FlexRequestDraft.ISP], ispCount: Int) -> [UFTPActions.FlexRequestDraft.ISP] {
        var taken = Set<Int>()
        for isp in requested { taken.formUnion(ISPNumbers.clamped(start: isp.start, count: isp.duration ?? 1)) }
        var isps = requested
        var number = 1
        while number <= ispCount {
            guard !taken.contains(number) else { number += 1; continue }
            var end = number
            while end + 1 <= ispCount && !taken.contains(end + 1) { end += 1 }
            isps.append(.init(start: number, duration: end - number + 1, minPower: 0, maxPower: 0, disposition: AvailableRequested.available.rawValue))
            number = end + 1
        }
        return isps.sorted { $0.start < $1.start }
    }

    /// Baselines as W per ISP from the aggregator's latest D-Prognosis for the congestion point
    /// and day that this platform accepted (`[market] baseline = "d-prognosis"`), split over the
    /// PODs by their shares, else equally; none when it sent none.
    func prognosisBaselines(aggregator: String, location: String, day: String, pods: [OfferPOD]) async throws -> [String: [Int: Int]] {
        guard let latest = try await latestPrognosis(aggregator: aggregator, location: location, day: day) else { return [:] }
        let weights = pods.map { $0.share ?? 1 }
        var byPOD: [String: [Int: Int]] = [:]
        for (number, power) in latest.powerByISP {
            for (index, part) in PODSplit.split(power, weights: weights).enumerated() {
                byPOD[pods[index].pod, default: [:]][number] = part
            }
        }
        return byPOD
    }

    /// The aggregator's latest accepted D-Prognosis (UFTP) for the congestion point and day.
    package func latestPrognosis(aggregator: String, location: String, day: String) async throws -> DPrognosis? {
        guard let uftp else { return nil }
        return try await uftp.responder.acceptedPrognoses(from: aggregator, congestionPoint: location, period: day)
            .map(\.prognosis).max { $0.revision < $1.revision }
    }

    /// The FlexOrder of an order of a UFTP aggregator's award: the offer's option at the award's
    /// activation factor, the market order's id as its OrderReference.
    func sendFlexOrder(_ order: MarketOrder, offer origin: UFTPOrigin, now: Timestamp) async -> UFTPOrderLink {
        var link = UFTPOrderLink(aggregator: origin.domain, state: .unsent)
        guard let uftp else {
            link.reason = "this platform plays no DSO role in UFTP"
            return link
        }
        let factor = order.award.factor
        do {
            let receipt = try await uftp.flexOrder(UFTPActions.FlexOrderDraft(
                offerMessageID: origin.messageID, optionReference: origin.optionReference,
                activationFactor: factor == 100 ? nil : String(format: "%d.%02d", factor / 100, factor % 100), orderReference: order.id),
                now: now)
            link.flexOrder = receipt.messageID
            link.state = .sent
        } catch {
            link.reason = "\(error)"
            logger.error("market order \(order.id): no FlexOrder to \(origin.domain): \(error)")
        }
        return link
    }

    /// What a month's FlexSettlements did: one per UFTP aggregator whose statement has a version
    /// not sent yet.
    package struct FlexSettlementsSent: Encodable, Sendable {
        package struct Sent: Encodable, Sendable {
            package var aggregator: String
            package var version: Int
            package var messageID: String
            package var conversationID: String
            package var orders: [String]
            enum CodingKeys: String, CodingKey {
                case aggregator, version, messageID = "message_id", conversationID = "conversation_id", orders
            }
        }

        package struct Held: Encodable, Sendable {
            package var order: String
            package var reason: String
        }

        /// The statement versions the settlement run issued.
        package var issued: [Statement]
        package var sent: [Sent]
        /// Orders not settled in UFTP now, and why (not accepted, version sent already, nothing verified).
        package var held: [Held]
    }

    /// Runs the month's settlement and sends each UFTP aggregator the latest version of its
    /// statement not sent yet as a FlexSettlement (UFTP §2.5): per order the verified ISPs
    /// (baseline, actual and delivered power summed over its PODs), the fee and penalty; per
    /// contract its reserved power. UFTP 3 has no revision on a FlexSettlement: every version of
    /// the month is a complete FlexSettlement in one conversation, the later superseding the earlier.
    package func sendFlexSettlements(month: String, now: Timestamp) async throws -> FlexSettlementsSent {
        guard let uftp else { throw MarketRefusal.notFound("this platform plays no DSO role in UFTP") }
        let (issued, report, latest) = try await settlementRun(month, now: now)
        var result = FlexSettlementsSent(issued: issued, sent: [], held: [])
        var byAggregator: [String: [(order: MarketOrder, settled: SettledOrder, flexOrder: String)]] = [:]
        for settled in report.orders {
            guard let order = try await store.record(MarketOrder.self, id: settled.order), let link = order.uftp,
                  let flexOrder = link.flexOrder else { continue }
            if link.state != .accepted {
                result.held.append(.init(order: order.id, reason: "its FlexOrder is \(link.state.rawValue), not accepted"))
            } else {
                byAggregator[link.aggregator, default: []].append((order, settled, flexOrder))
            }
        }
        for aggregator in byAggregator.keys.sorted() {
            guard let record = latest[StatementOwner(role: .aggregator, party: aggregator)] else { continue }
            if let sent = record.flexSettlement {
                for entry in byAggregator[aggregator] ?? [] {
                    result.held.append(.init(order: entry.order.id, reason: "version \(record.statement.version) was sent in FlexSettlement \(sent)"))
                }
                continue
            }
            var orders: [UFTPActions.FlexSettlementDraft.Order] = []
            var included: [MarketOrder] = []
            for (order, settled, flexOrder) in byAggregator[aggregator] ?? [] {
                let isps = Self.verifiedISPs(settled)
                guard !isps.isEmpty else {
                    result.held.append(.init(order: order.id, reason: "no ISP verified yet (\(settled.unverified.count) POD ISPs unverified)"))
                    continue
                }
                orders.append(.init(orderMessageID: flexOrder, price: settled.fee.description, penalty: settled.penalty.description, isps: isps))
                included.append(order)
            }
            guard !orders.isEmpty else { continue }
            let receipt: UFTPActions.Receipt
            do {
                receipt = try await uftp.flexSettlement(UFTPActions.FlexSettlementDraft(
                    periodStart: month + "-01", periodEnd: Self.lastDay(ofMonth: month), orders: orders,
                    contracts: try await reservations(record.statement), conversationID: record.conversationID), now: now)
            } catch let refusal as UFTPActions.Refusal {
                throw MarketRefusal.conflict("the FlexSettlement to \(aggregator) is not sent: \(refusal)")
            }
            try await recordDelivery(of: record, messageID: receipt.messageID, conversationID: receipt.conversationID)
            for var order in included {
                order.uftp?.flexSettlement = receipt.messageID
                try await store.put(order, replace: true)
            }
            result.sent.append(.init(aggregator: aggregator, version: record.statement.version, messageID: receipt.messageID,
                                     conversationID: receipt.conversationID, orders: included.map(\.id)))
            logger.notice("market: FlexSettlement \(receipt.messageID) to \(aggregator): version \(record.statement.version) of \(month), \(included.count) orders")
        }
        return result
    }

    /// An order's ISPs settled at every POD on verified measures, its powers the PODs' sums.
    private nonisolated static func verifiedISPs(_ settled: SettledOrder) -> [UFTPActions.FlexSettlementDraft.ISP] {
        let rows = settled.pods.map { Dictionary($0.isps.map { ($0.isp, $0) }, uniquingKeysWith: { first, _ in first }) }
        return Set(settled.pods.flatMap { $0.isps.map(\.isp) }).sorted().compactMap { isp in
            let parts = rows.compactMap { $0[isp] }
            guard parts.count == rows.count, parts.allSatisfy(\.verified) else { return nil }
            let direction = parts.reduce(0) { $0 + $1.ordered } < 0 ? -1 : 1
            return .init(start: isp, duration: nil, baselinePower: parts.reduce(0) { $0 + $1.baseline },
                         actualPower: parts.reduce(0) { $0 + ($1.allocation ?? 0) },
                         deliveredFlexPower: direction * parts.reduce(0) { $0 + $1.delivered },
                         powerDeficiency: parts.reduce(0) { $0 + $1.deficiency })
        }
    }

    /// The ContractSettlements of a statement's availability lines: each service day of the
    /// month, the power reserved at each service ISP (0 where released); nil without contracts.
    private nonisolated func reservations(_ statement: Statement) async throws -> [UFTPActions.FlexSettlementDraft.Contract]? {
        var contracts: [UFTPActions.FlexSettlementDraft.Contract] = []
        for line in statement.lines where line.kind == .availability {
            guard let record = try await store.record(MarketContract.self, id: line.reference) else { continue }
            let released = record.released
            let days: [UFTPActions.FlexSettlementDraft.Contract.Day] = MarketCalendar.days(of: statement.month).compactMap { day in
                let service = record.contract.serviceISPs(on: day, calendar: calendar)
                guard !service.isEmpty else { return nil }
                let free = released[day] ?? []
                return .init(period: day, isps: service.map { .init(start: $0, reservedPower: free.contains($0) ? 0 : record.contract.power) })
            }
            if !days.isEmpty { contracts.append(.init(contractID: line.reference, periods: days)) }
        }
        return contracts.isEmpty ? nil : contracts
    }

    /// `YYYY-MM-DD` of the month's last day (`month` checked by the report).
    private nonisolated static func lastDay(ofMonth month: String) -> String {
        MarketCalendar.days(of: month).last ?? month + "-28"
    }
}
