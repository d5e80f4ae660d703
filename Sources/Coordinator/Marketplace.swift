import Foundation
import GridCore
import Logging
import Market
import SCD
import Sodium
import Wire

/// The local flexibility market on the SCD (PlatOne UC-IT-1; docs/market.md): entries into the
/// day-ahead and real-time sessions, clearing at gate closure, validation by the DSO (or the
/// built-in validator), orders dispatched per POD as signed set-points, acknowledgements and
/// alerts. One actor per coordinator: the market's writes are serialised here.
public actor Marketplace {
    /// How set-points and notifications leave: the MQTT publish (topic, payload) and the webhook.
    public struct Outlets: Sendable {
        public var publish: @Sendable (String, [UInt8]) throws -> Void
        public var notify: @Sendable (String, [UInt8]) -> Void

        public init(publish: @escaping @Sendable (String, [UInt8]) throws -> Void,
                    notify: @escaping @Sendable (String, [UInt8]) -> Void) {
            self.publish = publish
            self.notify = notify
        }
    }

    let store: any SCDStore
    let config: MarketConfig
    let topicPrefix: String
    let setPointKey: SigningKey
    let outlets: Outlets
    /// The Light Nodes' acquisition interval (`[ingest] interval_ms`): the samples a quarter should hold.
    let readingIntervalMs: Int
    let logger: Logger
    /// The platform's UFTP actions (as DSO), when the market speaks UFTP with aggregators.
    let uftp: UFTPActions?
    /// Orders with set-points awaiting acknowledgement (rebuilt from recent days at start).
    private var pendingOrders: Set<String> = []
    /// Sessions the scheduler could not clear, by `<session> <day>`.
    private var failures: [String: ClearingFailure] = [:]
    private var loadedPending = false

    public init(store: any SCDStore, config: MarketConfig, topicPrefix: String, setPointKey: SigningKey, outlets: Outlets,
                readingIntervalMs: Int, uftp: UFTPActions? = nil, logger: Logger) {
        self.store = store
        self.uftp = uftp
        self.readingIntervalMs = readingIntervalMs
        self.config = config
        self.topicPrefix = topicPrefix
        self.setPointKey = setPointKey
        self.outlets = outlets
        self.logger = logger
    }

    nonisolated var calendar: MarketCalendar { config.calendar }

    /// Who acts in the market: a token's role and participant, or a UFTP sender as aggregator or DSO.
    struct Party: Sendable, CustomStringConvertible {
        var role: Role
        var participant: String?

        /// The name its requests and offers are kept under.
        var owner: String { participant ?? role.rawValue }
        var description: String { participant.map { "\(role.rawValue) \($0)" } ?? role.rawValue }

        /// The platform itself, ordering a UFTP aggregator's award at once.
        static let builtIn = Party(role: .admin, participant: "built-in")
    }

    // MARK: Entries

    struct RequestSubmission: Decodable {
        var session: SessionKind
        var day: String
        var id: String?
        var area: [String]
        var isps: [RequestEntry.ISP]
        var priceLimit: Double?
        enum CodingKeys: String, CodingKey { case session, day, id, area, isps, priceLimit = "price_limit_per_mwh" }
    }

    struct OfferSubmission: Decodable {
        var session: SessionKind
        var day: String
        var id: String?
        var location: String
        var price: Double
        var minActivationFactor: Double?
        var isps: [OfferEntry.ISP]
        var pods: [OfferPOD]
        var validUntil: String?
        enum CodingKeys: String, CodingKey {
            case session, day, id, location, price, minActivationFactor = "min_activation_factor", isps, pods, validUntil = "valid_until"
        }
    }

    /// A DSO's or TSO's request (I-05/I-06), admitted when its session takes it.
    func submitRequest(_ submission: RequestSubmission, buyer: Buyer, participant: String?, origin: UFTPOrigin? = nil,
                       now: Date) async throws -> MarketRequest {
        let id = try entryID(submission.id, overUFTP: origin != nil)
        let entry = RequestEntry(id: id, buyer: buyer.rawValue, area: submission.area, isps: submission.isps, priceLimit: submission.priceLimit)
        let request = try checked { () throws(Scenario.Problem) in try entry.checked("request", ispsPerDay: 100, sequence: 0) }
        try await admit(submission.session, day: submission.day, isps: request.isps.flatMap { Array($0.isps) }, now: now)
        let record = MarketRequest(entry: entry, session: submission.session, day: submission.day, participant: participant,
                                   submitted: Self.milliseconds(now), status: .open, round: nil, uftp: origin)
        guard try await store.put(record, replace: false) else {
            throw MarketRefusal.conflict("you have a request \(id) already")
        }
        logger.info("market request \(id) (\(buyer.rawValue)) for \(submission.session.rawValue) \(submission.day)")
        await announce(record, now: now)
        return record
    }

    /// An aggregator's offer (I-05): its PODs must be the aggregator's and at the offer's location.
    func submitOffer(_ submission: OfferSubmission, aggregator: String, origin: UFTPOrigin? = nil, now: Date) async throws -> MarketOffer {
        let id = try entryID(submission.id, overUFTP: origin != nil)
        guard submission.pods.count <= Bounds.offerPODs else {
            throw MarketRefusal.invalid(field: "pods", "pods: at most \(Bounds.offerPODs) PODs")
        }
        let entry = OfferEntry(id: id, aggregator: aggregator, location: submission.location, price: submission.price,
                               minActivationFactor: submission.minActivationFactor, isps: submission.isps)
        let offer = try checked { () throws(Scenario.Problem) in try entry.checked("offer", ispsPerDay: 100, sequence: 0) }
        try await admit(submission.session, day: submission.day, isps: offer.isps.flatMap { Array($0.isps) }, now: now)
        var validUntil: Int64?
        if let text = submission.validUntil {
            guard let time = Timestamp(rfc3339: text) else {
                throw MarketRefusal.invalid(field: "valid_until", "valid_until is not an RFC 3339 UTC time")
            }
            validUntil = time.millisecondsSince1970
        }
        try await checkPODs(submission.pods, aggregator: aggregator, location: submission.location, day: submission.day)
        let record = MarketOffer(entry: entry, session: submission.session, day: submission.day, pods: submission.pods,
                                 validUntil: validUntil, submitted: Self.milliseconds(now), status: .open, awarded: 0, uftp: origin)
        guard try await store.put(record, replace: false) else {
            throw MarketRefusal.conflict("you have an offer \(id) already")
        }
        logger.info("market offer \(id) (\(aggregator)) for \(submission.session.rawValue) \(submission.day)")
        return record
    }

    /// Revokes an open offer before it is cleared: its aggregator, by the offer's id; the market
    /// operator or the administrator, any offer by its key (`<aggregator>:<id>`), with a reason
    /// kept on the offer.
    func revokeOffer(_ name: String, by party: Party, reason: String? = nil, now: Date) async throws -> MarketOffer {
        let own = party.role == .aggregator
        let key = MarketKey.named(name, owner: own ? party.owner : nil)
        guard var offer = try await store.record(MarketOffer.self, id: key), !own || offer.entry.aggregator == party.owner else {
            throw MarketRefusal.notFound("no offer \(name)")
        }
        guard offer.status == .open, offer.awarded == 0 else { throw MarketRefusal.conflict("offer \(name) is \(offer.awarded > 0 ? "awarded" : "revoked")") }
        let rounds = try await rounds(day: offer.day)
        if rounds.contains(where: { $0.offers.contains(key) && $0.state == .preliminary }) {
            throw MarketRefusal.conflict("offer \(name) is in a clearing awaiting validation")
        }
        offer.status = .revoked
        offer.revocation = Withdrawal(by: party.description, t: Timestamp(millisecondsSince1970: Self.milliseconds(now)).rfc3339, reason: reason)
        try await store.put(offer, replace: true)
        logger.notice("market offer \(key) revoked by \(party)\(reason.map { ": \($0)" } ?? "")")
        return offer
    }

    /// The id given, or a new one; `uftp-` is kept for entries that came in over UFTP.
    private func entryID(_ given: String?, overUFTP: Bool) throws -> String {
        let id = given ?? UUID().uuidString.lowercased()
        guard Identifier.isValid(id) else { throw MarketRefusal.invalid(field: "id", "id must be \(Identifier.rule)") }
        guard overUFTP || !id.hasPrefix("uftp-") else { throw MarketRefusal.invalid(field: "id", "ids starting uftp- name entries that came over UFTP") }
        return id
    }

    private func checked<T>(_ body: () throws(Scenario.Problem) -> T) throws -> T {
        do {
            return try body()
        } catch {
            let text = error.description
            let field = text.split(separator: ":").first.map { String($0.split(separator: ".", maxSplits: 1).last ?? $0) }
            throw MarketRefusal.invalid(field: field, text)
        }
    }

    /// The session's gate (docs/market.md, "Sessions"), and a day-ahead session not yet cleared.
    func admit(_ session: SessionKind, day: String, isps: [Int], now: Date) async throws {
        if let refusal = config.rules.refusal(session, day: day, isps: isps, now: now) {
            throw MarketRefusal.invalid(field: refusal.hasPrefix("day:") ? "day" : "isps", refusal)
        }
        if session == .dayAhead, try await store.marketDocument(kind: .round, id: Self.roundID(.dayAhead, day: day, at: now)) != nil {
            throw MarketRefusal.invalid(field: "day", "the day-ahead session of \(day) is cleared (gate closed)")
        }
    }

    /// Each POD known, the aggregator's (its registry entry or the day's customer list, I-02), at the offer's location.
    private func checkPODs(_ pods: [OfferPOD], aggregator: String, location: String, day: String) async throws {
        guard !pods.isEmpty else { throw MarketRefusal.invalid(field: "pods", "pods: at least one POD") }
        guard Set(pods.map(\.pod)).count == pods.count else { throw MarketRefusal.invalid(field: "pods", "pods: each POD once") }
        let shares = pods.compactMap(\.share)
        if !shares.isEmpty {
            guard shares.count == pods.count, shares.allSatisfy({ $0.isFinite && $0 >= 0 }), abs(shares.reduce(0, +) - 1) < 1e-6 else {
                throw MarketRefusal.invalid(field: "pods", "pods: shares are given for every POD or none, not negative, summing to 1")
            }
        }
        let listed = Set(try await store.customerList(day: day, aggregator: aggregator).map(\.pod))
        for (index, item) in pods.enumerated() {
            guard let pod = try await store.pod(item.pod), pod.aggregator == aggregator || listed.contains(item.pod) else {
                throw MarketRefusal.invalid(field: "pods[\(index)]", "POD \(item.pod) is not held by \(aggregator) in the SCD")
            }
            guard pod.congestionPoint == location else {
                throw MarketRefusal.invalid(field: "pods[\(index)]",
                                            "POD \(item.pod) is at \(pod.congestionPoint ?? "no congestion point"), not the offer's location \(location)")
            }
        }
    }

    // MARK: Clearing

    /// `da-YYYY-MM-DD`; a real-time round by its day and clearing time (UTC), `rt-YYYY-MM-DD-HHMMSS`.
    static func roundID(_ session: SessionKind, day: String, at time: Date) -> String {
        switch session {
        case .dayAhead: return "da-\(day)"
        case .realTime:
            let text = Timestamp(millisecondsSince1970: milliseconds(time)).rfc3339
            return "rt-\(day)-" + text.dropFirst(11).prefix(8).replacingOccurrences(of: ":", with: "")
        }
    }

    /// Clears a session's open book now: the day-ahead session of `day` (at its gate closure, or
    /// earlier when the market operator closes it), or the real-time session (the open real-time
    /// requests of `day`, with the real-time offers and what final day-ahead outcomes left of
    /// the day-ahead offers). Nil when there was nothing to clear.
    func clear(_ session: SessionKind, day: String, now: Date) async throws -> ClearingRound? {
        let id = Self.roundID(session, day: day, at: now)
        if try await store.marketDocument(kind: .round, id: id) != nil { throw MarketRefusal.conflict("round \(id) exists") }
        let storedRequests = try await store.readableRecords(MarketRequest.self, as: .request, days: day...day)
        let requests = storedRequests.records.filter { $0.session == session && $0.status == .open }
        let dayAheadFinal = try await rounds(day: day).contains { $0.session == .dayAhead && $0.state == .final }
        let storedOffers = try await store.readableRecords(MarketOffer.self, as: .offer, days: day...day)
        let offers = storedOffers.records
            .filter { offer in
                offer.status == .open && offer.awarded < 100 && (offer.validUntil ?? .max) > Self.milliseconds(now)
                    && (offer.session == session || (session == .realTime && dayAheadFinal))
            }
        guard session == .dayAhead || !requests.isEmpty else { return nil }
        let ordered = requests.sorted { ($0.submitted, $0.key) < ($1.submitted, $1.key) }
        let book = offers.sorted { ($0.submitted, $0.key) < ($1.submitted, $1.key) }
        let ispsPerDay = calendar.ispCount(day) ?? 96
        // An entry stored before today's checks (or written behind the market's back) that fails
        // them, or cannot be read at all, is left out with its reason: it never stops the day's clearing.
        var excluded = storedRequests.unreadable + storedOffers.unreadable
        var flexRequests: [FlexibilityRequest] = []
        for (index, request) in ordered.enumerated() {
            do {
                var checked = try request.entry.checked("request", ispsPerDay: ispsPerDay, sequence: index)
                checked.id = request.key
                flexRequests.append(checked)
            } catch {
                excluded.append(Exclusion(kind: .request, id: request.key, reason: error.description))
            }
        }
        var flexOffers: [FlexibilityOffer] = []
        for (index, offer) in book.enumerated() {
            do {
                var checked = try offer.entry.checked("offer", ispsPerDay: ispsPerDay, sequence: index, available: 100 - offer.awarded)
                checked.id = offer.key
                flexOffers.append(checked)
            } catch {
                excluded.append(Exclusion(kind: .offer, id: offer.key, reason: error.description))
            }
        }
        var outcome = Clearing.clear(requests: flexRequests, offers: flexOffers,
                                     rules: ClearingRules(ispMinutes: calendar.ispMinutes, reliabilityMargin: config.reliabilityMargin))
        outcome.excluded.insert(contentsOf: excluded, at: 0)
        var round = ClearingRound(id: id, session: session, day: day, cleared: Self.milliseconds(now), requests: ordered.map(\.key),
                                  offers: book.map(\.key), preliminary: outcome, state: .preliminary, validatedBy: nil, final: nil)
        guard try await store.put(round, replace: false) else {
            throw MarketRefusal.conflict("round \(id) exists")
        }
        for exclusion in outcome.excluded {
            logger.error("market round \(id): \(exclusion.kind.rawValue) \(exclusion.id) left out: \(exclusion.reason)")
            notify(event: "excluded", exclusion)
        }
        for var request in ordered {
            request.status = .cleared
            request.round = id
            try await store.put(request, replace: true)
        }
        logger.notice("market round \(id): \(flexRequests.count) requests, \(flexOffers.count) offers, \(outcome.awards.count) awards (preliminary)")
        notify(event: "preliminary", round)
        if config.validation == .builtIn {
            round = try await finalize(round, Validation: config.limits.validate(outcome), by: "built-in")
        } else if outcome.awards.isEmpty {
            round = try await finalize(round, Validation: Validation(), by: "nothing to validate")
        }
        return round
    }

    /// A DSO's decision on a preliminary round (I-07): rejected awards by index, with reasons. A
    /// DSO decides the awards of its own requests and of the TSO's; the round is final once every
    /// DSO with awarded requests in it has decided (the administrator decides all at once).
    func validate(round id: String, rejections: [Int: String], by party: Party, now: Date) async throws -> ClearingRound {
        var round = try await round(id)
        guard round.state == .preliminary else { throw MarketRefusal.conflict("round \(id) is final") }
        let awards = round.preliminary.awards
        if let index = rejections.keys.first(where: { !awards.indices.contains($0) }) {
            throw MarketRefusal.invalid(field: "rejected", "round \(id) has no award \(index) (it has \(awards.count))")
        }
        let buyers = Dictionary(round.preliminary.requests.map { ($0.request, $0.buyer) }, uniquingKeysWith: { first, _ in first })
        if party.role != .admin, let index = rejections.keys.sorted().first(where: {
            buyers[awards[$0].request] != .tso && MarketKey.owner(awards[$0].request) != party.owner
        }) {
            throw MarketRefusal.forbidden("award \(index) of \(id) answers another DSO's request")
        }
        let due = Set(awards.filter { buyers[$0.request] == .dso }.compactMap { MarketKey.owner($0.request) })
        guard party.role == .admin || due.isEmpty || due.contains(party.owner) else {
            throw MarketRefusal.forbidden("round \(id) holds no award of your requests to validate")
        }
        var validations = round.validations ?? []
        guard !validations.contains(where: { $0.by == party.owner }) else { throw MarketRefusal.conflict("you have validated round \(id)") }
        validations.append(DSOValidation(by: party.owner, rejected: rejections.sorted { $0.key < $1.key }.map { AwardRejection(award: $0.key, reason: $0.value) },
                                         t: Timestamp(millisecondsSince1970: Self.milliseconds(now)).rfc3339))
        round.validations = validations
        let decided = validations.map(\.by)
        guard party.role == .admin || due.isSubset(of: decided) else {
            try await store.put(round, replace: true)
            logger.notice("market round \(id): validated by \(party), awaiting \(due.subtracting(decided).sorted().joined(separator: ", "))")
            return round
        }
        var rejected: [Int: String] = [:]
        for validation in validations {
            for rejection in validation.rejected where rejected[rejection.award] == nil { rejected[rejection.award] = rejection.reason }
        }
        return try await finalize(round, Validation: Validation(rejected: rejected), by: decided.joined(separator: ", "))
    }

    private func finalize(_ preliminary: ClearingRound, Validation validation: Validation, by participant: String) async throws -> ClearingRound {
        var round = preliminary
        let final = round.preliminary.finalize(validation)
        round.final = final
        round.state = .final
        round.validatedBy = participant
        // What each offer gave, in hundredths, so that later real-time rounds offer only the rest.
        var awarded: [String: Int] = [:]
        for award in final.awards { awarded[award.offer, default: 0] += award.factor }
        var overUFTP: Set<String> = []
        for (id, factor) in awarded {
            guard var offer = try await store.record(MarketOffer.self, id: id) else { continue }
            offer.awarded = min(100, offer.awarded + factor)
            try await store.put(offer, replace: true)
            if offer.uftp != nil { overUFTP.insert(id) }
        }
        try await store.put(round, replace: true)
        logger.notice("market round \(round.id) final: \(final.awards.count) awards, \(final.rejected.count) rejected by \(participant)")
        notify(event: "final", round)
        // A UFTP aggregator's award is ordered at once: its FlexOrder is the final outcome it receives.
        for (index, award) in final.awards.enumerated() where overUFTP.contains(award.offer) {
            do { _ = try await order(round: round.id, award: index, by: .builtIn, now: Date(.now())) } catch {
                logger.error("market: ordering award \(index) of \(round.id) over UFTP failed: \(error)")
            }
        }
        return round
    }

    func rounds(day: String) async throws -> [ClearingRound] {
        try await store.records(ClearingRound.self, days: day...day)
    }

    func round(_ id: String) async throws -> ClearingRound {
        guard let round = try await store.record(ClearingRound.self, id: id) else { throw MarketRefusal.notFound("no round \(id)") }
        return round
    }

    /// The scheduler's tick: day-ahead sessions whose gate has closed, and the real-time session
    /// when its interval is due; then acknowledgements overdue.
    func tick(now: Date, realTimeDue: Bool) async {
        let today = calendar.day(of: now)
        let days = [today] + [calendar.day(after: today)].compactMap { $0 }
        failures = failures.filter { days.contains($0.value.day) }
        for day in days {
            guard let closure = config.rules.gateClosure(dayAhead: day), closure <= now else { continue }
            await scheduledClearing(.dayAhead, day: day, now: now) { market in
                if try await market.store.marketDocument(kind: .round, id: Self.roundID(.dayAhead, day: day, at: now)) == nil {
                    _ = try await market.clear(.dayAhead, day: day, now: now)
                }
            }
        }
        if realTimeDue {
            for day in days {
                await scheduledClearing(.realTime, day: day, now: now) { market in _ = try await market.clear(.realTime, day: day, now: now) }
            }
        }
        do { try await sweepAcknowledgements(now: now) } catch { logger.error("market: acknowledgement sweep failed: \(error)") }
    }

    /// A session the scheduler could not clear: why, since when, and when it is tried again.
    struct ClearingFailure: Encodable, Sendable {
        var session: SessionKind
        var day: String
        var reason: String
        var since: String
        var attempts: Int
        var retryAt: Date

        enum CodingKeys: String, CodingKey { case session, day, reason, since, attempts, retry }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(session, forKey: .session)
            try container.encode(day, forKey: .day)
            try container.encode(reason, forKey: .reason)
            try container.encode(since, forKey: .since)
            try container.encode(attempts, forKey: .attempts)
            try container.encode(Timestamp(millisecondsSince1970: Marketplace.milliseconds(retryAt)).rfc3339, forKey: .retry)
        }
    }

    /// The sessions of `day` the scheduler failed to clear, until it succeeds.
    func clearingFailures(day: String) -> [ClearingFailure] {
        failures.values.filter { $0.day == day }.sorted { $0.session.rawValue < $1.session.rawValue }
    }

    /// Runs a clearing for the scheduler. A failure stops neither the process nor the other
    /// sessions: it is kept (`clearingFailures`), logged and notified (`clearing-failed`) once
    /// per reason, and tried again after 1 s, doubling to 5 minutes.
    private func scheduledClearing(_ session: SessionKind, day: String, now: Date, _ clearing: (isolated Marketplace) async throws -> Void) async {
        let key = "\(session.rawValue) \(day)"
        if let failure = failures[key], failure.retryAt > now { return }
        do {
            try await clearing(self)
            if let failure = failures.removeValue(forKey: key) {
                logger.notice("market: the \(key) session cleared after \(failure.attempts) failed attempts")
            }
        } catch {
            let reason = "\(error)"
            var failure = failures[key] ?? ClearingFailure(session: session, day: day, reason: reason,
                                                           since: Timestamp(millisecondsSince1970: Self.milliseconds(now)).rfc3339,
                                                           attempts: 0, retryAt: now)
            let changed = failure.attempts == 0 || failure.reason != reason
            failure.attempts += 1
            failure.reason = reason
            failure.retryAt = now.addingTimeInterval(min(300, Double(1 << min(failure.attempts - 1, 9))))
            failures[key] = failure
            if changed {
                logger.error("market: clearing the \(key) session failed: \(reason); retrying with back-off")
                notify(event: "clearing-failed", failure)
            }
        }
    }

    // MARK: Dispatch

    /// An award is ordered by the participant whose request it answers (a DSO's by that DSO), or
    /// by the administrator.
    static func mayOrder(request key: String, buyer: String?, by party: Party) -> Bool {
        party.role == .admin || (buyer == party.role.rawValue && MarketKey.owner(key) == party.owner)
    }

    /// An order (I-09) for award `index` of a final round: split over the offer's PODs (by the
    /// aggregator's shares, else by each POD's baseline) and sent as one signed set-point per POD
    /// and ISP: at most (less consumption) or at least (more) the POD's baseline plus its part.
    func order(round roundID: String, award index: Int, by party: Party, now: Date) async throws -> MarketOrder {
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
        var order = MarketOrder(id: id, round: roundID, award: award, issuer: party.role.rawValue, day: round.day, pods: offer.pods,
                                setPoints: [], alerts: [], created: Self.milliseconds(now))
        order.placedBy = party.description
        let podIDs = offer.pods.map(\.pod)
        let baselines = config.baseline == .brp
            ? try await baselinesByISP(pods: podIDs, day: round.day)
            : try await prognosisBaselines(aggregator: award.aggregator, location: award.location, day: round.day, pods: offer.pods)
        var nodes: [String: String] = [:]
        for pod in podIDs {
            nodes[pod] = try await store.nodes(pod: pod).first { $0.quarantine == nil }?.id
        }
        for span in award.isps where span.value != 0 {
            for isp in span.isps {
                guard let interval = calendar.interval(day: round.day, isp: isp) else { continue }
                let weights = offer.pods.map { item in item.share ?? baselines[item.pod]?[isp].map { Double(abs($0)) } ?? 0 }
                let parts = PODSplit.split(span.value, weights: weights)
                for (podIndex, pod) in podIDs.enumerated() {
                    let baseline = baselines[pod]?[isp]
                    let mode = span.value < 0 ? "max" : "min"
                    var setPoint = DispatchedSetPoint(
                        id: "\(id).\(podIndex).\(isp)", pod: pod, node: nodes[pod], isp: isp,
                        from: Timestamp(millisecondsSince1970: Self.milliseconds(interval.start)).rfc3339,
                        until: Timestamp(millisecondsSince1970: Self.milliseconds(interval.end)).rfc3339,
                        mode: mode, w: baseline.map { $0 + parts[podIndex] }, ordered: parts[podIndex], baseline: baseline,
                        status: .sent, reason: nil, sent: nil, seq: nil)
                    if offer.uftp != nil {
                        setPoint.status = .delegated
                    } else if let problem = send(&setPoint, now: now) {
                        setPoint.status = .undeliverable
                        setPoint.reason = problem
                        order.alerts.append(alert(order, pod: pod, setPoint: setPoint.id, problem, now: now))
                    }
                    order.setPoints.append(setPoint)
                }
            }
        }
        if let origin = offer.uftp { order.uftp = await sendFlexOrder(order, offer: origin, now: now) }
        try await store.put(order, replace: false)
        if order.pending { pendingOrders.insert(id) }
        for alert in order.alerts { report(alert) }
        logger.notice("market order \(id): \(order.setPoints.count) set-points to \(podIDs.count) PODs, \(order.alerts.count) alerts")
        return order
    }

    /// Baselines as W per ISP (the BRP's quarter-hour energies, I-03), by POD.
    func baselinesByISP(pods: [String], day: String) async throws -> [String: [Int: Int]] {
        guard let start = calendar.start(of: day), let count = calendar.ispCount(day) else { return [:] }
        // Baselines are kept per UTC day; a local day spans two.
        let utcDays = Set([start, start.addingTimeInterval(Double(count * calendar.ispMinutes * 60 - 1))].map {
            Timestamp(millisecondsSince1970: Self.milliseconds($0)).rfc3339.prefix(10).description
        })
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
        let dayStart = Self.milliseconds(start), ispMs = Int64(calendar.ispMinutes) * 60_000
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

    /// Signs and publishes a set-point (DESIGN §5); the problem when it cannot be sent.
    private func send(_ setPoint: inout DispatchedSetPoint, now: Date) -> String? {
        guard let node = setPoint.node else { return "no active Light Node meters POD \(setPoint.pod)" }
        guard let w = setPoint.w else { return "no baseline of POD \(setPoint.pod) for ISP \(setPoint.isp): the set-point cannot be computed" }
        let issued = Timestamp(millisecondsSince1970: Self.milliseconds(now)).rfc3339
        let text = #"{"id":"\#(setPoint.id)","node":"\#(node)","issued":"\#(issued)","from":"\#(setPoint.from)","#
            + #""until":"\#(setPoint.until)","mode":"\#(setPoint.mode)","w":\#(w),"order":"\#(setPoint.id.split(separator: ".").dropLast(2).joined(separator: "."))"}"#
        let signature = Base64.encode(setPointKey.sign(Array(text.utf8)).bytes)
        var writer = JSONObjectWriter()
        writer.string("sp", text)
        writer.string("sig", signature)
        do {
            try outlets.publish("\(topicPrefix)/\(node)/setpoints", writer.finish())
        } catch {
            return "the broker did not take the set-point: \(error)"
        }
        setPoint.sent = Self.milliseconds(now)
        return nil
    }

    /// A Light Node's acknowledgement (`{prefix}/{node}/setpoints/ack`): recorded on its order;
    /// a rejection or failure is an alert.
    func acknowledge(node: String, payload: [UInt8], now: Date) async throws {
        guard let ack = SetPointAcknowledgement(payload: payload),
              let status = DispatchedSetPoint.Status(rawValue: ack.status), status != .sent, status != .unacknowledged, status != .undeliverable else {
            logger.warning("market: an unreadable set-point acknowledgement from \(node) was ignored")
            return
        }
        let parts = ack.id.split(separator: ".")
        guard parts.count >= 3 else { return }  // not one of the market's set-points
        let orderID = parts.dropLast(2).joined(separator: ".")
        guard var order = try await store.record(MarketOrder.self, id: orderID) else { return }
        guard let index = order.setPoints.firstIndex(where: { $0.id == ack.id }), order.setPoints[index].node == node else {
            logger.warning("market: \(node) acknowledged \(ack.id.prefix(64)), which was not sent to it")
            return
        }
        let before = order.setPoints[index].status
        // accepted → applied → expired (its end, with the node's report); a late acknowledgement
        // still counts after `unacknowledged`; nothing moves a final status.
        guard !order.setPoints[index].isFinal else { return }
        order.setPoints[index].status = status
        order.setPoints[index].reason = ack.reason
        order.setPoints[index].seq = ack.seq.map(Int64.init)
        var raised: [MarketAlert] = []
        if [.rejected, .failed].contains(status) || (status == .expired && before != .applied) {
            raised.append(alert(order, pod: order.setPoints[index].pod, setPoint: ack.id,
                                "set-point \(status.rawValue) by \(node): \(ack.reason ?? "no reason given")", now: now))
        }
        order.alerts += raised
        try await store.put(order, replace: true)
        if !order.pending { pendingOrders.remove(orderID) }
        for alert in raised { report(alert) }
    }

    /// Set-points sent longer than `ack_timeout_s` ago without acknowledgement become alerts.
    func sweepAcknowledgements(now: Date) async throws {
        if !loadedPending {
            let today = calendar.day(of: now)
            let days = (calendar.day(after: today, by: -2) ?? today)...(calendar.day(after: today, by: 2) ?? today)
            for order in try await store.records(MarketOrder.self, days: days) where order.pending { pendingOrders.insert(order.id) }
            loadedPending = true
        }
        let deadline = Self.milliseconds(now) - Int64(config.ackTimeoutSeconds) * 1000
        for id in pendingOrders.sorted() {
            guard var order = try await store.record(MarketOrder.self, id: id) else { pendingOrders.remove(id); continue }
            var raised: [MarketAlert] = []
            for index in order.setPoints.indices where order.setPoints[index].status == .sent && (order.setPoints[index].sent ?? 0) <= deadline {
                order.setPoints[index].status = .unacknowledged
                raised.append(alert(order, pod: order.setPoints[index].pod, setPoint: order.setPoints[index].id,
                                    "set-point not acknowledged by \(order.setPoints[index].node ?? "?") within \(config.ackTimeoutSeconds) s",
                                    now: now))
            }
            guard !raised.isEmpty else { continue }
            order.alerts += raised
            try await store.put(order, replace: true)
            if !order.pending { pendingOrders.remove(id) }
            for alert in raised { report(alert) }
        }
    }

    func alert(_ order: MarketOrder, pod: String, setPoint: String?, _ problem: String, now: Date) -> MarketAlert {
        MarketAlert(t: Timestamp(millisecondsSince1970: Self.milliseconds(now)).rfc3339, order: order.id, aggregator: order.award.aggregator,
                    pod: pod, setPoint: setPoint, problem: problem)
    }

    func report(_ alert: MarketAlert) {
        logger.warning("market alert: order \(alert.order), POD \(alert.pod): \(alert.problem)")
        notify(event: "alert", alert)
    }

    func orders(days: ClosedRange<String>) async throws -> [MarketOrder] {
        try await store.records(MarketOrder.self, days: days)
    }

    /// An order of award n of a round is `<round>.<n>`.
    static func orderID(round: String, award index: Int) -> String { "\(round).\(index)" }

    /// The ids of the day's orders (the orders themselves are large: a set-point per POD and ISP).
    nonisolated func orderIDs(day: String) async throws -> Set<String> {
        Set(try await store.marketDocumentIDs(kind: .order, days: day...day))
    }

    /// The day's orders of awards whose offer includes `pod`: only those are read.
    nonisolated func orders(day: String, pod: String) async throws -> [MarketOrder] {
        let offers = Set(try await store.records(MarketOffer.self, days: day...day).filter { $0.pods.contains { $0.pod == pod } }.map(\.key))
        guard !offers.isEmpty else { return [] }
        var orders: [MarketOrder] = []
        for round in try await store.records(ClearingRound.self, days: day...day) {
            for (index, award) in (round.final?.awards ?? []).enumerated() where offers.contains(award.offer) {
                if let order = try await store.record(MarketOrder.self, id: Self.orderID(round: round.id, award: index)) { orders.append(order) }
            }
        }
        return orders
    }

    // MARK: Helpers

    func notify(event: String, _ value: some Encodable) {
        guard let body = try? MarketJSON.encode(value) else { return }
        var payload = Array(#"{"event":""#.utf8) + Array(event.utf8) + Array(#"","data":"#.utf8)
        payload += body
        payload.append(UInt8(ascii: "}"))
        outlets.notify(event, payload)
    }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
}
