import Foundation
import GridCore
import Ledger
import Market
import SCD
import Sodium
import UFTPGateway
import Wire

/// Dispatch (I-09, docs/market.md "Dispatch"): an order split over its offer's PODs; each part
/// composed, POD and ISP by POD and ISP, with the other orders standing there into the one
/// set-point the node holds (its baseline plus every standing part); cancellation of the ISPs not
/// begun; the nodes' acknowledgements.
extension Marketplace {
    /// An award is ordered by the participant whose request it answers (a DSO's by that DSO), or
    /// by the administrator.
    package static func mayOrder(request key: String, buyer: String?, by party: Party) -> Bool {
        party.role == .admin || (buyer == party.role.rawValue && MarketKey.owner(key) == party.owner)
    }

    /// An order (I-09) for award `index` of a final round: split over the offer's PODs (by the
    /// aggregator's shares, else by each POD's baseline), each part carried to the POD's node by
    /// the set-point of its POD and ISP. ISPs that begin within `dispatch_lead_s` are trimmed
    /// (never dispatched, never settled), with an alert.
    package func order(round roundID: String, award index: Int, by party: Party, now: Timestamp) async throws -> MarketOrder {
        try await holding(dispatchLock) { try await placeOrder(round: roundID, award: index, by: party, now: now) }
    }

    /// Runs `body` holding `lock` (MarketLock).
    package func holding<T>(_ lock: MarketLock, _ body: () async throws -> T) async throws -> T {
        await lock.acquire()
        do {
            let value = try await body()
            await lock.release()
            return value
        } catch {
            await lock.release()
            throw error
        }
    }

    private func placeOrder(round roundID: String, award index: Int, by party: Party, now: Timestamp) async throws -> MarketOrder {
        let round = try await round(roundID)
        guard round.state == .final, let final = round.final else { throw MarketRefusal.conflict("round \(roundID) is not final yet") }
        guard final.awards.indices.contains(index) else {
            throw MarketRefusal.invalid(field: "award", "round \(roundID) has no final award \(index) (it has \(final.awards.count))")
        }
        let award = final.awards[index]
        let request = try await store.record(MarketRequest.self, id: award.request)
        if !Self.mayOrder(request: award.request, buyer: request?.entry.buyer, by: party) {
            throw MarketRefusal.forbidden("award \(index) of \(roundID) answers another participant's request")
        }
        let id = Self.orderID(round: roundID, award: index)
        if try await store.marketDocument(kind: .order, id: id) != nil { throw MarketRefusal.conflict("award \(index) of \(roundID) is ordered") }
        guard let offer = try await store.record(MarketOffer.self, id: award.offer) else {
            throw MarketRefusal.notFound("the offer \(award.offer) of the award is gone")
        }
        let earliest = now.adding(milliseconds: Int64(config.dispatchLeadSeconds) * 1000)
        let intervals = award.isps.filter { $0.value != 0 }.flatMap { span in
            span.isps.compactMap { isp in calendar.interval(day: round.day, isp: isp).map { (span, isp, $0) } }
        }
        guard intervals.contains(where: { $0.2.lowerBound >= earliest }) else {
            throw MarketRefusal.conflict("every ISP of award \(index) of \(roundID) begins within dispatch_lead_s (\(config.dispatchLeadSeconds) s)")
        }
        // A FlexOrder repeats its offer whole: it is placed before any of its ISPs begins, or not at all.
        if offer.uftp != nil, let late = intervals.first(where: { $0.2.lowerBound < earliest }) {
            throw MarketRefusal.conflict("ISP \(late.1) of the award begins within dispatch_lead_s; a FlexOrder repeats the whole offer")
        }
        var order = MarketOrder(id: id, round: roundID, award: award, issuer: party.role.rawValue, day: round.day, pods: offer.pods,
                                setPoints: [], alerts: [], created: now.millisecondsSince1970)
        order.placedBy = party.description
        let podIDs = offer.pods.map(\.pod)
        let baselines = config.baseline == .brp
            ? try await baselinesByISP(pods: podIDs, day: round.day)
            : try await prognosisBaselines(aggregator: award.aggregator, location: award.location, day: round.day, pods: offer.pods)
        var nodes: [String: String] = [:]
        for pod in podIDs {
            nodes[pod] = try await store.nodes(pod: pod).first { $0.quarantine == nil }?.id
        }
        var late: [Int] = []
        for (span, isp, interval) in intervals {
            let weights = offer.pods.map { item in item.share ?? baselines[item.pod]?[isp].map { Double(abs($0)) } ?? 0 }
            let parts = PODSplit.split(span.value, weights: weights)
            if interval.lowerBound < earliest { late.append(isp) }
            for (podIndex, pod) in podIDs.enumerated() {
                var row = DispatchedSetPoint(
                    id: "\(id).\(podIndex).\(isp)", pod: pod, node: nodes[pod], isp: isp, from: interval.lowerBound.rfc3339,
                    until: interval.upperBound.rfc3339, mode: span.value < 0 ? "max" : "min", w: nil, ordered: parts[podIndex],
                    baseline: baselines[pod]?[isp], status: offer.uftp != nil ? .delegated : .sent)
                if interval.lowerBound < earliest {
                    row.status = .trimmed
                    row.reason = "ISP \(isp) begins at \(row.from), within dispatch_lead_s (\(config.dispatchLeadSeconds) s) of the order"
                }
                order.setPoints.append(row)
            }
        }
        if !late.isEmpty {
            order.alerts.append(alert(order, pod: "*", setPoint: nil,
                                      "ISPs \(late.map(String.init).joined(separator: ", ")) begin within dispatch_lead_s of the order: not dispatched",
                                      now: now))
        }
        if let origin = offer.uftp { order.uftp = await sendFlexOrder(order, offer: origin, now: now) }
        try await store.put(order, replace: false)
        for alert in order.alerts { await report(alert) }
        // Each POD and ISP's set-point now carries this order's part too.
        for (pod, isp) in Self.places(order.setPoints.filter { $0.status == .sent }) {
            try await compose(pod: pod, isp: isp, day: round.day, now: now)
        }
        order = try await store.record(MarketOrder.self, id: id) ?? order
        if order.pending { pendingOrders.insert(id) }
        logger.notice("market order \(id) by \(party): \(order.setPoints.count) parts at \(podIDs.count) PODs, \(order.alerts.count) alerts")
        return order
    }

    /// Cancels the ISPs of an order that have not begun (its request's buyer, or the
    /// administrator): they settle at nothing (or the cancellation share of their price), and
    /// each POD and ISP's set-point is issued again with what still stands there, `release` when
    /// nothing does. UFTP has no way to withdraw a FlexOrder: a UFTP aggregator's order stands.
    package func cancel(order id: String, by party: Party, reason: String?, now: Timestamp) async throws -> MarketOrder {
        try await holding(dispatchLock) { try await cancelOrder(id, by: party, reason: reason, now: now) }
    }

    private func cancelOrder(_ id: String, by party: Party, reason: String?, now: Timestamp) async throws -> MarketOrder {
        guard var order = try await store.record(MarketOrder.self, id: id) else { throw MarketRefusal.notFound("no order \(id)") }
        let request = try await store.record(MarketRequest.self, id: order.award.request)
        guard Self.mayOrder(request: order.award.request, buyer: request?.entry.buyer, by: party) else {
            throw MarketRefusal.notFound("no order \(id)")
        }
        guard order.uftp == nil else {
            throw MarketRefusal.conflict("order \(id) went to its aggregator as a UFTP FlexOrder, which UFTP 3.x cannot withdraw: it stands")
        }
        let cancelled = Self.partsNotBegun(order, at: now)
        guard !cancelled.isEmpty else { throw MarketRefusal.conflict("order \(id) has no ISP left that has not begun") }
        for index in cancelled {
            order.setPoints[index].status = .cancelled
            order.setPoints[index].reason = "cancelled by \(party)" + (reason.map { ": \($0)" } ?? "")
        }
        order.cancellation = Withdrawal(by: party.description, t: now.rfc3339, reason: reason)
        try await store.put(order, replace: true)
        logger.notice("market order \(id): \(cancelled.count) parts cancelled by \(party)")
        for (pod, isp) in Self.places(cancelled.map { order.setPoints[$0] }) {
            try await compose(pod: pod, isp: isp, day: order.day, now: now)
        }
        return try await store.record(MarketOrder.self, id: id) ?? order
    }

    /// Whether `party` may cancel something of `order` now: its buyer (or the administrator), a
    /// set-point order with a part not begun.
    package func mayCancel(_ order: MarketOrder, by party: Party, now: Timestamp? = nil) async throws -> Bool {
        guard order.uftp == nil, !Self.partsNotBegun(order, at: now ?? clock()).isEmpty else { return false }
        let request = try await store.record(MarketRequest.self, id: order.award.request)
        return Self.mayOrder(request: order.award.request, buyer: request?.entry.buyer, by: party)
    }

    /// The parts of `order` still standing whose ISP has not begun at `now`.
    static func partsNotBegun(_ order: MarketOrder, at now: Timestamp) -> [Int] {
        let nowMs = now.millisecondsSince1970
        return order.setPoints.indices.filter { index in
            order.setPoints[index].isStanding && (Timestamp(rfc3339: order.setPoints[index].from)?.millisecondsSince1970 ?? 0) > nowMs
        }
    }

    /// The POD and ISP places of some parts, each once, in order.
    package static func places(_ parts: [DispatchedSetPoint]) -> [(pod: String, isp: Int)] {
        var seen: Set<String> = []
        return parts.compactMap { seen.insert("\($0.pod) \($0.isp)").inserted ? ($0.pod, $0.isp) : nil }
    }

    /// Issues the set-point POD `pod` holds at ISP `isp`: the baseline of the first order standing
    /// there plus every standing part (`release`, no constraint, once none stands after one was
    /// sent). A part the other way from those standing before it is trimmed. The standing parts
    /// are carried by it from now; when it cannot be sent they keep what carried them, and a
    /// part nothing carried yet is undeliverable, with an alert.
    func compose(pod: String, isp: Int, day: String, now: Timestamp) async throws {
        var orders = try await orders(day: day, pod: pod).sorted { ($0.created, $0.id) < ($1.created, $1.id) }
        var standing: [(order: Int, part: Int)] = [], changed: Set<Int> = [], raised: [MarketAlert] = []
        var direction = 0, template: DispatchedSetPoint?, everSent = false
        for (o, order) in orders.enumerated() {
            for (p, part) in order.setPoints.enumerated() where part.pod == pod && part.isp == isp {
                template = template ?? part
                everSent = everSent || part.setPoint != nil
                guard part.isStanding else { continue }
                let sign = part.ordered.signum()
                if direction == 0 { direction = sign }
                if sign != 0 && sign != direction {
                    orders[o].setPoints[p].status = .trimmed
                    orders[o].setPoints[p].reason = "an order the other way stands at POD \(pod), ISP \(isp)"
                    raised.append(alert(orders[o], pod: pod, setPoint: part.id, orders[o].setPoints[p].reason!, now: now))
                    orders[o].alerts.append(raised.last!)
                    changed.insert(o)
                    continue
                }
                standing.append((o, p))
            }
        }
        guard let template, !standing.isEmpty || everSent else { return }
        let baseline = standing.first.flatMap { orders[$0.order].setPoints[$0.part].baseline }
        let sum = standing.reduce(0) { $0 + orders[$1.order].setPoints[$1.part].ordered }
        let mode = sum < 0 ? "max" : sum > 0 ? "min" : "release"
        let w = mode == "release" ? nil : baseline.map { $0 + sum }
        let issued = IssuedSetPoint(id: UUID().uuidString.lowercased(), day: day, pod: pod, node: template.node ?? "", isp: isp, from: template.from,
                                    until: template.until, mode: mode, w: w, orders: Array(Set(standing.map { orders[$0.order].id })).sorted(),
                                    issued: now.millisecondsSince1970, status: .sent)
        // Recorded before it is sent: the node's acknowledgement may come back at once.
        let before = orders
        var problem = template.node == nil ? "no active Light Node meters POD \(pod)"
            : mode != "release" && w == nil ? "no baseline of POD \(pod) for ISP \(isp): the set-point cannot be computed" : nil
        if problem == nil {
            try await store.put(issued, replace: false)
            for (o, p) in standing {
                orders[o].setPoints[p].setPoint = issued.id
                orders[o].setPoints[p].status = .sent
                orders[o].setPoints[p].reason = nil
                orders[o].setPoints[p].sent = issued.issued
                orders[o].setPoints[p].seq = nil
                orders[o].setPoints[p].applied = nil
                orders[o].setPoints[p].mode = mode
                orders[o].setPoints[p].w = w
                orders[o].setPoints[p].baseline = baseline
                changed.insert(o)
                pendingOrders.insert(orders[o].id)
            }
            for o in changed.sorted() { try await store.put(orders[o], replace: true) }
            problem = publish(issued, now: now)
        }
        if let problem {
            // The parts keep what carried them before; a part nothing carried yet is undeliverable.
            for (o, p) in standing {
                orders[o].setPoints[p] = before[o].setPoints[p]
                guard orders[o].setPoints[p].setPoint == nil, orders[o].setPoints[p].status != .undeliverable else { continue }
                orders[o].setPoints[p].status = .undeliverable
                orders[o].setPoints[p].reason = problem
                raised.append(alert(orders[o], pod: pod, setPoint: orders[o].setPoints[p].id, problem, now: now))
                orders[o].alerts.append(raised.last!)
                changed.insert(o)
            }
        }
        for o in changed.sorted() { try await store.put(orders[o], replace: true) }
        for alert in raised { await report(alert) }
    }

    /// Signs and publishes a set-point (DESIGN §5, v1.1: `orders`, `release`); the problem when it
    /// cannot be sent.
    private func publish(_ setPoint: IssuedSetPoint, now: Timestamp) -> String? {
        guard let from = Timestamp(rfc3339: setPoint.from), let until = Timestamp(rfc3339: setPoint.until),
              let mode = SetPointMode(rawValue: setPoint.mode) else { return "the set-point's window or mode is unreadable" }
        let message = SetPoint.message(id: setPoint.id, node: setPoint.node, issued: now,
                                       from: from, until: until, mode: mode, w: setPoint.w.map(Int64.init), orders: setPoint.orders,
                                       signedBy: setPointKey)
        do {
            try outlets.publish("\(topicPrefix)/\(setPoint.node)/setpoints", message)
        } catch {
            return "the broker did not take the set-point: \(error)"
        }
        return nil
    }

    /// A Light Node's acknowledgement (`{prefix}/{node}/setpoints/ack`): recorded on the set-point
    /// and on the parts it carries; a rejection, a failure or an expiry before it applied is an alert.
    package func acknowledge(node: String, payload: [UInt8], now: Timestamp) async throws {
        try await holding(dispatchLock) { try await record(acknowledgement: payload, from: node, now: now) }
    }

    private func record(acknowledgement payload: [UInt8], from node: String, now: Timestamp) async throws {
        guard let ack = SetPointAcknowledgement(payload: payload), let status = DispatchedSetPoint.Status(rawValue: ack.status),
              [.accepted, .applied, .rejected, .expired, .failed].contains(status) else {
            logger.warning("market: an unreadable set-point acknowledgement from \(node) was ignored")
            return
        }
        guard var issued = try await store.record(IssuedSetPoint.self, id: ack.id) else { return }  // not one of the market's
        guard issued.node == node else {
            logger.warning("market: \(node) acknowledged \(ack.id.prefix(64)), which was not sent to it")
            return
        }
        let seq = ack.seq.map { Int64($0) }
        issued.status = status
        issued.reason = ack.reason
        issued.seq = seq
        try await store.put(issued, replace: true)
        for orderID in issued.orders {
            guard var order = try await store.record(MarketOrder.self, id: orderID) else { continue }
            var raised: [MarketAlert] = []
            // accepted → applied → expired (its end, with the node's report); a late
            // acknowledgement still counts after `unacknowledged`; nothing moves a final status.
            for index in order.setPoints.indices where order.setPoints[index].setPoint == issued.id && !order.setPoints[index].isFinal {
                order.setPoints[index].status = status
                order.setPoints[index].reason = ack.reason
                order.setPoints[index].seq = seq
                if status == .applied { order.setPoints[index].applied = now.millisecondsSince1970 }
                if [.rejected, .failed].contains(status) || (status == .expired && order.setPoints[index].applied == nil) {
                    raised.append(alert(order, pod: issued.pod, setPoint: ack.id,
                                        "set-point \(status.rawValue) by \(node): \(ack.reason ?? "no reason given")", now: now))
                }
            }
            order.alerts += raised
            try await store.put(order, replace: true)
            if !order.pending { pendingOrders.remove(orderID) }
            for alert in raised { await report(alert) }
        }
    }

    /// Parts sent longer than `ack_timeout_s` ago without acknowledgement become alerts.
    func sweepAcknowledgements(now: Timestamp) async throws {
        try await holding(dispatchLock) { try await sweep(now: now) }
    }

    private func sweep(now: Timestamp) async throws {
        if !loadedPending {
            let today = calendar.day(of: now)
            let days = (calendar.day(after: today, by: -2) ?? today)...(calendar.day(after: today, by: 2) ?? today)
            for order in try await store.records(MarketOrder.self, days: days) where order.pending { pendingOrders.insert(order.id) }
            loadedPending = true
        }
        let deadline = now.millisecondsSince1970 - Int64(config.ackTimeoutSeconds) * 1000
        for id in pendingOrders.sorted() {
            guard var order = try await store.record(MarketOrder.self, id: id) else { pendingOrders.remove(id); continue }
            var raised: [MarketAlert] = []
            for index in order.setPoints.indices where order.setPoints[index].status == .sent && (order.setPoints[index].sent ?? 0) <= deadline {
                order.setPoints[index].status = .unacknowledged
                raised.append(alert(order, pod: order.setPoints[index].pod, setPoint: order.setPoints[index].setPoint,
                                    "set-point not acknowledged by \(order.setPoints[index].node ?? "?") within \(config.ackTimeoutSeconds) s",
                                    now: now))
            }
            if !order.pending { pendingOrders.remove(id) }
            guard !raised.isEmpty else { continue }
            order.alerts += raised
            try await store.put(order, replace: true)
            for alert in raised { await report(alert) }
        }
    }

    func alert(_ order: MarketOrder, pod: String, setPoint: String?, _ problem: String, now: Timestamp) -> MarketAlert {
        MarketAlert(t: now.rfc3339, order: order.id, aggregator: order.award.aggregator, pod: pod, setPoint: setPoint, problem: problem)
    }

    package func report(_ alert: MarketAlert) async {
        logger.warning("market alert: order \(alert.order), POD \(alert.pod): \(alert.problem)")
        await notify(event: "alert", alert)
    }

    /// Baselines as W per ISP (the BRP's quarter-hour energies, I-03), by POD.
    package func baselinesByISP(pods: [String], day: String) async throws -> [String: [Int: Int]] {
        guard let start = calendar.start(of: day), let count = calendar.ispCount(day) else { return [:] }
        // Baselines are kept per UTC day; a local day spans two.
        let end = start.adding(milliseconds: Int64(count) * Int64(calendar.ispMinutes) * 60_000 - 1)
        let utcDays = Set([start, end].map { String($0.rfc3339.prefix(10)) })
        var quarterEnergy: [String: [Int64: Double]] = [:]
        for utcDay in utcDays {
            guard let midnight = Timestamp(rfc3339: utcDay + "T00:00:00.000Z") else { continue }
            for baseline in try await store.baselines(pods: pods, day: utcDay) {
                for (quarter, energy) in baseline.energyWh.enumerated() {
                    quarterEnergy[baseline.pod, default: [:]][midnight.millisecondsSince1970 + Int64(quarter) * 900_000] = energy
                }
            }
        }
        // ISPs follow one another from the day's start: ISP n's quarters start (n − 1) ISPs later.
        let dayStart = start.millisecondsSince1970, ispMs = Int64(calendar.ispMinutes) * 60_000
        let quarters = calendar.ispMinutes / 15
        var byISP: [String: [Int: Int]] = [:]
        for (pod, energies) in quarterEnergy {
            for isp in 1...count {
                let first = dayStart + Int64(isp - 1) * ispMs
                let values = (0..<quarters).compactMap { energies[first + Int64($0) * 900_000] }
                guard values.count == quarters else { continue }
                // Wh per quarter → average W over the ISP.
                byISP[pod, default: [:]][isp] = Int((values.reduce(0, +) * 4 / Double(quarters)).rounded())
            }
        }
        return byISP
    }

    package func orders(days: ClosedRange<String>) async throws -> [MarketOrder] {
        try await store.records(MarketOrder.self, days: days)
    }

    /// An order of award n of a round is `<round>.<n>`.
    package static func orderID(round: String, award index: Int) -> String { "\(round).\(index)" }

    /// The ids of the day's orders (the orders themselves are large: a part per POD and ISP).
    package nonisolated func orderIDs(day: String) async throws -> Set<String> {
        Set(try await store.marketDocumentIDs(kind: .order, days: day...day))
    }

    /// The day's orders of awards whose offer includes `pod`: only those are read.
    package nonisolated func orders(day: String, pod: String) async throws -> [MarketOrder] {
        try await orders(day: day, pods: [pod])
    }

    /// The day's orders of awards whose offer includes one of `pods`.
    package nonisolated func orders(day: String, pods: Set<String>) async throws -> [MarketOrder] {
        let offers = Self.offers(try await store.records(MarketOffer.self, days: day...day), holding: pods)
        guard !offers.isEmpty else { return [] }
        return try await orders(of: try await store.records(ClearingRound.self, days: day...day)) { offers.contains($0.offer) }
    }

    /// The point's orders in `book`'s day not cancelled (`standing`), and with them every order
    /// whose offer shares their offers' PODs (`sharing`, a superset to settle them among), read in
    /// one pass over the book's rounds: each order is large (a part per POD and ISP).
    package nonisolated func orders(at point: String, in book: MarketBook) async throws -> (standing: [MarketOrder], sharing: [MarketOrder]) {
        let here = Set(book.rounds.flatMap { $0.final?.awards ?? [] }.filter { $0.location == point }.map(\.offer))
        let pods = Set(book.offers.filter { here.contains($0.key) }.flatMap { $0.pods.map(\.pod) })
        let sharing = Self.offers(book.offers, holding: pods)
        let orders = try await orders(of: book.rounds) { $0.location == point || sharing.contains($0.offer) }
        return (orders.filter { $0.award.location == point && $0.cancellation == nil }, orders)
    }

    /// The keys of the `offers` that include one of `pods`.
    static func offers(_ offers: [MarketOffer], holding pods: Set<String>) -> Set<String> {
        Set(offers.filter { $0.pods.contains { pods.contains($0.pod) } }.map(\.key))
    }

    /// The orders of the final awards of `rounds` that `include` picks, each read by its id.
    private nonisolated func orders(of rounds: [ClearingRound], awards include: (Award) -> Bool) async throws -> [MarketOrder] {
        var orders: [MarketOrder] = []
        for round in rounds {
            for (index, award) in (round.final?.awards ?? []).enumerated() where include(award) {
                if let order = try await store.record(MarketOrder.self, id: Self.orderID(round: round.id, award: index)) { orders.append(order) }
            }
        }
        return orders
    }
}
