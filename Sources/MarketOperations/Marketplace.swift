import Foundation
import GridCore
import Logging
import Market
import SCD
import Sodium
import UFTPGateway
import Wire

/// The local flexibility market on the SCD (PlatOne UC-IT-1; docs/market.md): entries into the
/// day-ahead and real-time sessions, clearing at gate closure, validation by the DSO (or the
/// built-in validator), orders dispatched per POD as signed set-points, acknowledgements and
/// alerts. One actor per coordinator: the market's writes are serialised here.
public actor Marketplace {
    /// How set-points and notifications leave: the MQTT publish (topic, payload) and the webhook's
    /// POST (URL, body, headers), which answers the HTTP status.
    public struct Outlets: Sendable {
        public var publish: @Sendable (String, [UInt8]) throws -> Void
        public var post: @Sendable (String, [UInt8], [(name: String, value: String)]) async throws -> Int

        public init(publish: @escaping @Sendable (String, [UInt8]) throws -> Void,
                    post: @escaping @Sendable (String, [UInt8], [(name: String, value: String)]) async throws -> Int) {
            self.publish = publish
            self.post = post
        }
    }

    nonisolated package let store: any SCDStore
    nonisolated package let config: MarketConfig
    package let topicPrefix: String
    let setPointKey: SigningKey
    let outlets: Outlets
    /// The Light Nodes' acquisition interval (`[ingest] interval_ms`): the samples a quarter should hold.
    nonisolated package let readingIntervalMs: Int
    package let logger: Logger
    /// The platform's UFTP actions (as DSO), when the market speaks UFTP with aggregators.
    package let uftp: UFTPActions?
    /// Orders with set-points awaiting acknowledgement (rebuilt from recent days at start).
    var pendingOrders: Set<String> = []
    /// Orders, set-points and acknowledgements (MarketDispatch).
    let dispatchLock = MarketLock()
    /// The book: clearing, validation, withdrawals and revocations.
    let bookLock = MarketLock()
    /// Settlement runs: one issues a month's statement versions at a time.
    let statementLock = MarketLock()
    /// Sessions the scheduler could not clear, by `<session> <day>`.
    private var failures: [String: ClearingFailure] = [:]
    /// Notifications not yet delivered (rebuilt from the last two days at start).
    var owed: [String: MarketNotification] = [:]
    var loadedOwed = false
    var loadedPending = false

    public init(store: any SCDStore, config: MarketConfig, topicPrefix: String, setPointKey: SigningKey, outlets: Outlets,
                readingIntervalMs: Int, uftp: UFTPActions? = nil, clock: @escaping @Sendable () -> Timestamp = Marketplace.wallClock, logger: Logger) {
        self.store = store
        self.clock = clock
        self.uftp = uftp
        self.readingIntervalMs = readingIntervalMs
        self.config = config
        self.topicPrefix = topicPrefix
        self.setPointKey = setPointKey
        self.outlets = outlets
        self.logger = logger
    }

    package nonisolated var calendar: MarketCalendar { config.calendar }

    /// The time participants act at (the API's and console's "now"): the wall clock, or the
    /// simulated one; a fixed one in tests.
    package nonisolated let clock: @Sendable () -> Timestamp

    public static let wallClock: @Sendable () -> Timestamp = { Timestamp.now() }

    /// Who acts in the market: a token's role and participant, or a UFTP sender as aggregator or DSO.
    package struct Party: Sendable, CustomStringConvertible {
        package var role: Role
        package var participant: String?

        /// The name its requests and offers are kept under.
        package var owner: String { participant ?? role.rawValue }
        package var description: String { participant.map { "\(role.rawValue) \($0)" } ?? role.rawValue }

        /// The platform itself, ordering a UFTP aggregator's award at once.
        static let builtIn = Party(role: .admin, participant: "built-in")

        package init(role: Role, participant: String? = nil) {
            self.role = role
            self.participant = participant
        }
    }

    // MARK: Entries

    package struct RequestSubmission: Decodable {
        package var session: SessionKind
        package var day: String
        package var id: String?
        package var area: [String]
        package var isps: [RequestEntry.ISP]
        package var priceLimit: Money?
        enum CodingKeys: String, CodingKey { case session, day, id, area, isps, priceLimit = "price_limit_per_mwh" }
    }

    package struct OfferSubmission: Decodable {
        package var session: SessionKind
        package var day: String
        package var id: String?
        package var location: String
        package var price: Money
        package var minActivationFactor: Double?
        package var isps: [OfferEntry.ISP]
        package var pods: [OfferPOD]
        var validUntil: String?
        enum CodingKeys: String, CodingKey {
            case session, day, id, location, price, minActivationFactor = "min_activation_factor", isps, pods, validUntil = "valid_until"
        }
    }

    /// A DSO's or TSO's request (I-05/I-06), admitted when its session takes it.
    package func submitRequest(_ submission: RequestSubmission, buyer: Buyer, participant: String?, origin: UFTPOrigin? = nil,
                       now: Timestamp) async throws -> MarketRequest {
        let id = try entryID(submission.id, overUFTP: origin != nil)
        let entry = RequestEntry(id: id, buyer: buyer.rawValue, area: submission.area, isps: submission.isps, priceLimit: submission.priceLimit)
        let request = try checked { () throws(Scenario.Problem) in try entry.checked("request", ispsPerDay: 100, sequence: 0) }
        try await admit(submission.session, day: submission.day, isps: request.isps.flatMap { Array($0.isps) }, now: now)
        if buyer == .dso {
            for point in submission.area { try mustOperate(point, Party(role: .dso, participant: participant)) }
        }
        let record = MarketRequest(entry: entry, session: submission.session, day: submission.day, participant: participant,
                                   submitted: now.millisecondsSince1970, status: .open, round: nil, uftp: origin)
        guard try await store.put(record, replace: false) else {
            throw MarketRefusal.conflict("you have a request \(id) already")
        }
        logger.info("market request \(id) (\(buyer.rawValue)) for \(submission.session.rawValue) \(submission.day)")
        await announce(record, now: now)
        return record
    }

    /// An aggregator's offer (I-05): its PODs must be the aggregator's and at the offer's location.
    package func submitOffer(_ submission: OfferSubmission, aggregator: String, origin: UFTPOrigin? = nil, now: Timestamp) async throws -> MarketOffer {
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
                                 validUntil: validUntil, submitted: now.millisecondsSince1970, status: .open, awarded: 0, uftp: origin)
        guard try await store.put(record, replace: false) else {
            throw MarketRefusal.conflict("you have an offer \(id) already")
        }
        logger.info("market offer \(id) (\(aggregator)) for \(submission.session.rawValue) \(submission.day)")
        return record
    }

    /// Revokes an open offer before it is cleared: its aggregator, by the offer's id; the market
    /// operator or the administrator, any offer by its key (`<aggregator>:<id>`), with a reason
    /// kept on the offer.
    package func revokeOffer(_ name: String, by party: Party, reason: String? = nil, now: Timestamp) async throws -> MarketOffer {
        try await holding(bookLock) { try await revoke(name, by: party, reason: reason, now: now) }
    }

    private func revoke(_ name: String, by party: Party, reason: String?, now: Timestamp) async throws -> MarketOffer {
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
        offer.revocation = Withdrawal(by: party.description, t: now.rfc3339, reason: reason)
        try await store.put(offer, replace: true)
        logger.notice("market offer \(key) revoked by \(party)\(reason.map { ": \($0)" } ?? "")")
        return offer
    }

    /// Withdraws an open request before its clearing: its buyer, by the request's id; the market
    /// operator or the administrator, any by its key, with a reason kept on the request.
    package func withdrawRequest(_ name: String, by party: Party, reason: String?, now: Timestamp) async throws -> MarketRequest {
        try await holding(bookLock) { try await withdraw(name, by: party, reason: reason, now: now) }
    }

    private func withdraw(_ name: String, by party: Party, reason: String?, now: Timestamp) async throws -> MarketRequest {
        let own = [.dso, .tso].contains(party.role)
        let key = MarketKey.named(name, owner: own ? party.owner : nil)
        guard var request = try await store.record(MarketRequest.self, id: key), !own || request.owner == party.owner else {
            throw MarketRefusal.notFound("no request \(name)")
        }
        guard request.status == .open else { throw MarketRefusal.conflict("request \(name) is \(request.status.rawValue)") }
        request.status = .withdrawn
        request.withdrawal = Withdrawal(by: party.description, t: now.rfc3339, reason: reason)
        try await store.put(request, replace: true)
        logger.notice("market request \(key) withdrawn by \(party)\(reason.map { ": \($0)" } ?? "")")
        return request
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
    package func admit(_ session: SessionKind, day: String, isps: [Int], now: Timestamp) async throws {
        if let refusal = config.rules.refusal(session, day: day, isps: isps, now: now) {
            throw MarketRefusal.invalid(field: refusal.hasPrefix("day:") ? "day" : "isps", refusal)
        }
        if session == .dayAhead, try await dayAheadCleared(day) {
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

    /// A round by its session, its market day and when it was cleared (UTC):
    /// `da-2026-11-26-20261125T110000Z`, `rt-2026-11-26-20261126T080000Z`.
    static func roundID(_ session: SessionKind, day: String, at time: Timestamp) -> String {
        let text = time.rfc3339  // 2026-11-25T11:00:00.000Z
        let clock = text.prefix(19).replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
        return "\(session == .dayAhead ? "da" : "rt")-\(day)-\(clock)Z"
    }

    /// Whether the day-ahead session of `day` is cleared (its gate closed).
    func dayAheadCleared(_ day: String) async throws -> Bool {
        try await rounds(day: day).contains { $0.session == .dayAhead }
    }

    /// Clears a session's open book now: the day-ahead session of `day` (at its gate closure, or
    /// earlier when the market operator closes it), or the real-time session (the open real-time
    /// requests of `day`, with the real-time offers and what final day-ahead outcomes left of
    /// the day-ahead offers). Nil when there was nothing to clear.
    package func clear(_ session: SessionKind, day: String, now: Timestamp) async throws -> ClearingRound? {
        try await holding(bookLock) { try await clearSession(session, day: day, now: now) }
    }

    private func clearSession(_ session: SessionKind, day: String, now: Timestamp) async throws -> ClearingRound? {
        let id = Self.roundID(session, day: day, at: now)
        if try await store.marketDocument(kind: .round, id: id) != nil { throw MarketRefusal.conflict("round \(id) exists") }
        if session == .dayAhead, try await dayAheadCleared(day) { throw MarketRefusal.conflict("the day-ahead session of \(day) is cleared") }
        let storedRequests = try await store.readableRecords(MarketRequest.self, as: .request, days: day...day)
        let requests = storedRequests.records.filter { $0.session == session && $0.status == .open }
        let dayRounds = try await rounds(day: day)
        let dayAheadFinal = dayRounds.contains { $0.session == .dayAhead && $0.state == .final }
        // What rounds awaiting validation awarded is spoken for until they are decided.
        var reserved: [String: Int] = [:]
        for round in dayRounds where round.state == .preliminary {
            for award in round.preliminary.awards { reserved[award.offer, default: 0] += award.factor }
        }
        func available(_ offer: MarketOffer) -> Int { max(0, 100 - offer.awarded - (reserved[offer.key] ?? 0)) }
        let storedOffers = try await store.readableRecords(MarketOffer.self, as: .offer, days: day...day)
        let offers = storedOffers.records
            .filter { offer in
                offer.status == .open && available(offer) > 0 && (offer.validUntil ?? .max) > now.millisecondsSince1970
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
                var checked = try offer.entry.checked("offer", ispsPerDay: ispsPerDay, sequence: index, available: available(offer))
                checked.id = offer.key
                flexOffers.append(checked)
            } catch {
                excluded.append(Exclusion(kind: .offer, id: offer.key, reason: error.description))
            }
        }
        var outcome = Clearing.clear(requests: flexRequests, offers: flexOffers,
                                     rules: ClearingRules(ispMinutes: calendar.ispMinutes, reliabilityMargin: config.reliabilityMargin))
        outcome.excluded.insert(contentsOf: excluded, at: 0)
        var round = ClearingRound(id: id, session: session, day: day, cleared: now.millisecondsSince1970, requests: ordered.map(\.key),
                                  offers: book.map(\.key), preliminary: outcome, state: .preliminary, validatedBy: nil, final: nil)
        guard try await store.put(round, replace: false) else {
            throw MarketRefusal.conflict("round \(id) exists")
        }
        for exclusion in outcome.excluded {
            logger.error("market round \(id): \(exclusion.kind.rawValue) \(exclusion.id) left out: \(exclusion.reason)")
            await notify(event: "excluded", exclusion)
        }
        for var request in ordered {
            request.status = .cleared
            request.round = id
            try await store.put(request, replace: true)
        }
        logger.notice("market round \(id): \(flexRequests.count) requests, \(flexOffers.count) offers, \(outcome.awards.count) awards (preliminary)")
        await notify(event: "preliminary", round)
        if config.validation == .builtIn {
            round = try await finalize(round, validation: config.limits.validate(outcome), by: "built-in")
        } else if outcome.awards.isEmpty {
            round = try await finalize(round, validation: Validation(), by: "nothing to validate")
        }
        return round
    }

    /// A DSO's decision on a preliminary round (I-07): rejected awards by index, with reasons. A
    /// DSO decides the awards of its own requests and of the TSO's; the round is final once every
    /// DSO with awarded requests in it has decided (the administrator decides all at once).
    package func validate(round id: String, rejections: [Int: String], by party: Party, now: Timestamp) async throws -> ClearingRound {
        try await holding(bookLock) { try await decide(round: id, rejections: rejections, by: party, now: now) }
    }

    private func decide(round id: String, rejections: [Int: String], by party: Party, now: Timestamp) async throws -> ClearingRound {
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
                                         t: now.rfc3339))
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
        return try await finalize(round, validation: Validation(rejected: rejected), by: decided.joined(separator: ", "))
    }

    private func finalize(_ preliminary: ClearingRound, validation: Validation, by participant: String) async throws -> ClearingRound {
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
        await notify(event: "final", round)
        // A UFTP aggregator's award is ordered at once: its FlexOrder is the final outcome it receives.
        for (index, award) in final.awards.enumerated() where overUFTP.contains(award.offer) {
            do { _ = try await order(round: round.id, award: index, by: .builtIn, now: clock()) } catch {
                logger.error("market: ordering award \(index) of \(round.id) over UFTP failed: \(error)")
            }
        }
        return round
    }

    package func rounds(day: String) async throws -> [ClearingRound] {
        try await store.records(ClearingRound.self, days: day...day)
    }

    package func round(_ id: String) async throws -> ClearingRound {
        guard let round = try await store.record(ClearingRound.self, id: id) else { throw MarketRefusal.notFound("no round \(id)") }
        return round
    }

    /// The scheduler's tick: day-ahead sessions whose gate has closed, and the real-time session
    /// when its interval is due; then acknowledgements overdue.
    package func tick(now: Timestamp, realTimeDue: Bool) async {
        let today = calendar.day(of: now)
        let days = [today] + [calendar.day(after: today)].compactMap { $0 }
        failures = failures.filter { days.contains($0.value.day) }
        for day in days {
            guard let closure = config.rules.gateClosure(dayAhead: day), closure <= now else { continue }
            await scheduledClearing(.dayAhead, day: day, now: now) { market in
                if try await !market.dayAheadCleared(day) {
                    _ = try await market.clear(.dayAhead, day: day, now: now)
                }
            }
        }
        if realTimeDue {
            for day in days {
                await scheduledClearing(.realTime, day: day, now: now) { market in _ = try await market.clear(.realTime, day: day, now: now) }
            }
        }
        // Yesterday's too: a round cleared late in the day times out after midnight.
        for day in [calendar.day(after: today, by: -1)].compactMap({ $0 }) + days {
            do {
                for round in try await rounds(day: day) where round.state == .preliminary
                    && now.millisecondsSince1970 - round.cleared >= Int64(config.validationTimeoutSeconds) * 1000 {
                    try await holding(bookLock) {
                        // A DSO may have decided it meanwhile.
                        let current = try await self.round(round.id)
                        if current.state == .preliminary { _ = try await fallBack(current) }
                    }
                }
            } catch {
                logger.error("market: the validation timeout of \(day)'s rounds failed: \(error)")
            }
        }
        do { try await sweepAcknowledgements(now: now) } catch { logger.error("market: acknowledgement sweep failed: \(error)") }
    }

    /// A round no DSO decided within `validation_timeout_s` is decided by `validation_fallback`
    /// (`built-in`: the congestion point limits; `reject-all`: every award rejected, its offer
    /// free again), keeping the rejections the DSOs that did answer gave.
    func fallBack(_ round: ClearingRound) async throws -> ClearingRound {
        var rejected = config.validationFallback == .builtIn ? config.limits.validate(round.preliminary).rejected
            : Dictionary(uniqueKeysWithValues: round.preliminary.awards.indices.map { ($0, "not validated within \(config.validationTimeoutSeconds) s") })
        for validation in round.validations ?? [] {
            for rejection in validation.rejected where rejected[rejection.award] == nil { rejected[rejection.award] = rejection.reason }
        }
        logger.warning("market round \(round.id): not validated within \(config.validationTimeoutSeconds) s, decided by \(config.validationFallback.rawValue)")
        return try await finalize(round, validation: Validation(rejected: rejected), by: "timeout (\(config.validationFallback.rawValue))")
    }

    /// A session the scheduler could not clear: why, since when, and when it is tried again.
    package struct ClearingFailure: Encodable, Sendable {
        package var session: SessionKind
        package var day: String
        package var reason: String
        package var since: String
        package var attempts: Int
        var retryAt: Timestamp

        enum CodingKeys: String, CodingKey { case session, day, reason, since, attempts, retry }

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(session, forKey: .session)
            try container.encode(day, forKey: .day)
            try container.encode(reason, forKey: .reason)
            try container.encode(since, forKey: .since)
            try container.encode(attempts, forKey: .attempts)
            try container.encode(retryAt.rfc3339, forKey: .retry)
        }
    }

    /// The sessions of `day` the scheduler failed to clear, until it succeeds.
    func clearingFailures(day: String) -> [ClearingFailure] {
        failures.values.filter { $0.day == day }.sorted { $0.session.rawValue < $1.session.rawValue }
    }

    /// Runs a clearing for the scheduler. A failure stops neither the process nor the other
    /// sessions: it is kept (`clearingFailures`), logged and notified (`clearing-failed`) once
    /// per reason, and tried again after 1 s, doubling to 5 minutes.
    private func scheduledClearing(_ session: SessionKind, day: String, now: Timestamp, _ clearing: (isolated Marketplace) async throws -> Void) async {
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
                                                           since: now.rfc3339,
                                                           attempts: 0, retryAt: now)
            let changed = failure.attempts == 0 || failure.reason != reason
            failure.attempts += 1
            failure.reason = reason
            failure.retryAt = now.adding(milliseconds: min(300, Int64(1) << min(failure.attempts - 1, 9)) * 1000)
            failures[key] = failure
            if changed {
                logger.error("market: clearing the \(key) session failed: \(reason); retrying with back-off")
                await notify(event: "clearing-failed", failure)
            }
        }
    }

}
