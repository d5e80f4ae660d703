import Foundation
import GridCore
import Market
import SCD
import UFTP

/// A DSO's profile of a congestion point's day as the market keeps it: replaced by a re-import.
package struct MarketProfile: Codable, Sendable {
    package var profile: CongestionProfile
    package var importedBy: String
    package var t: String

    enum CodingKeys: String, CodingKey { case profile, importedBy = "imported_by", t }
}

extension MarketProfile: MarketRecord {
    package static var kind: MarketDocument.Kind { .profile }
    package var recordID: String { "\(profile.point)/\(profile.day)" }
    package var day: String { profile.day }
}

/// A congestion point's day as the DSO plans it (FR20, FR21, FR25, FR34, FR35, FR45): per ISP the
/// forecast, the maximum power, and the load measured since.
package struct CongestionDay: Sendable {
    package var forecast: [Int?]
    package var maxW: [Int?]
    /// The point's PODs' certified measures summed per ISP (nil: none measured).
    package var measured: [Int?]
    /// PODs with a BRP baseline (the forecast without a DSO profile).
    package var withBaseline: Int
    package var profile: MarketProfile?
    package var prognoses: [String: DPrognosis]
    /// Aggregators and their PODs at the point that day.
    package var members: [String: Set<String>]
    package var pods: [PODRecord]

    /// W over the maximum per ISP (positive: a deficiency).
    package var deficiency: [Int?] {
        zip(forecast, maxW).map { forecast, max in forecast.flatMap { f in max.map { f - $0 } } }
    }
}

extension Marketplace {
    /// Imports the DSO's profile of a point's day (REST, CSV in the console): it replaces an earlier one.
    package func importProfile(_ profile: CongestionProfile, by party: Party, now: Timestamp) async throws -> MarketProfile {
        guard !profile.point.isEmpty, profile.point.utf8.count <= 256, !profile.point.contains("/") else {
            throw MarketRefusal.invalid(field: "point", "point: 1–256 bytes, no /")
        }
        guard let isps = calendar.ispCount(profile.day) else { throw MarketRefusal.invalid(field: "day", "day must be YYYY-MM-DD") }
        try mustOperate(profile.point, party)
        if let problem = profile.problem(isps: isps) { throw MarketRefusal.invalid(field: problem.field, problem.description) }
        let record = MarketProfile(profile: profile, importedBy: party.description, t: now.rfc3339)
        try await store.put(record, replace: true)
        logger.info("congestion point \(profile.point): profile of \(profile.day) imported by \(party.description)")
        return record
    }

    package nonisolated func profile(point: String, day: String) async throws -> MarketProfile? {
        try await store.record(MarketProfile.self, id: "\(point)/\(day)")
    }

    /// The point's day: forecast = the DSO's non-aggregator forecast plus the aggregators' latest
    /// D-prognoses where the DSO imported one; else the BRPs' baselines, an aggregator's
    /// D-prognosis standing for its PODs when `prognoses` is set. Maximum: the DSO's profile,
    /// else `[market] max_load_w`.
    package nonisolated func congestionDay(point: String, day: String, prognoses includePrognoses: Bool) async throws -> CongestionDay? {
        guard let count = calendar.ispCount(day), let start = calendar.start(of: day) else { return nil }
        let pods = try await store.pods(congestionPoint: point)
        var members: [String: Set<String>] = [:]
        for pod in pods { if let aggregator = pod.aggregator { members[aggregator, default: []].insert(pod.id) } }
        for entry in try await store.customerList(day: day, aggregator: nil) where entry.congestionPoint == point {
            members[entry.aggregator, default: []].insert(entry.pod)
        }
        let profile = try await profile(point: point, day: day)
        guard !pods.isEmpty || !members.isEmpty || profile != nil || config.maxLoadW[point] != nil || config.limits.limitW[point] != nil else {
            return nil
        }
        var prognoses: [String: DPrognosis] = [:]
        for aggregator in members.keys {
            prognoses[aggregator] = try await latestPrognosis(aggregator: aggregator, location: point, day: day)
        }
        var forecast = [Int?](repeating: nil, count: count)
        func add(_ isp: Int, _ watts: Int) { if (1...count).contains(isp) { forecast[isp - 1] = (forecast[isp - 1] ?? 0) + watts } }
        let baselines = try await baselinesByISP(pods: pods.map(\.id), day: day)
        if let own = profile?.profile.forecastW, own.contains(where: { $0 != nil }) {
            for (index, watts) in own.enumerated() { if let watts { add(index + 1, watts) } }
            for prognosis in prognoses.values { for (isp, power) in prognosis.powerByISP { add(isp, power) } }
        } else {
            let used = includePrognoses ? prognoses : [:]
            let replaced = Set(used.keys.flatMap { members[$0] ?? [] })
            for (pod, byISP) in baselines where !replaced.contains(pod) { for (isp, watts) in byISP { add(isp, watts) } }
            for prognosis in used.values { for (isp, power) in prognosis.powerByISP { add(isp, power) } }
        }
        let maxW = (0..<count).map { profile?.profile.maxW[safe: $0] ?? nil ?? config.maxLoadW[point] }
        var measured = [Int?](repeating: nil, count: count)
        if let end = calendar.start(of: calendar.day(after: day) ?? day), !pods.isEmpty {
            var sums = [Double](repeating: 0, count: count), quarters = [Int](repeating: 0, count: count)
            for measure in try await store.measures(pods: pods.map(\.id), from: start, to: end) where measure.certified {
                let isp = calendar.isp(at: measure.start).isp
                guard (1...count).contains(isp) else { continue }
                sums[isp - 1] += measure.averageW
                quarters[isp - 1] += 1
            }
            let perISP = max(1, calendar.ispMinutes / 15)
            for index in 0..<count where quarters[index] > 0 { measured[index] = Bounds.watts(sums[index] / Double(perISP)) }
        }
        return CongestionDay(forecast: forecast, maxW: maxW, measured: measured, withBaseline: baselines.count, profile: profile,
                             prognoses: prognoses, members: members, pods: pods)
    }

    /// A request for the point's deficiency (FR26): at each ISP ahead where the forecast exceeds
    /// the maximum, a reduction of exactly the excess; in the day-ahead session while its gate is
    /// open, else in real time.
    package func requestDeficiency(point: String, day: String, by party: Party, now: Timestamp) async throws -> MarketRequest {
        try mustOperate(point, party)
        guard let planned = try await congestionDay(point: point, day: day, prognoses: true) else {
            throw MarketRefusal.notFound("no congestion point \(point)")
        }
        let ahead = planned.deficiency.enumerated().compactMap { index, excess -> RequestEntry.ISP? in
            guard let excess, excess > 0, let interval = calendar.interval(day: day, isp: index + 1), interval.lowerBound > now else { return nil }
            return RequestEntry.ISP(start: index + 1, minPower: -excess, maxPower: -excess)
        }
        guard !ahead.isEmpty else { throw MarketRefusal.conflict("no ISP ahead of \(point) on \(day) is forecast over its maximum") }
        let session = await session(day: day, isps: ahead.map(\.start), now: now)
        // The administrator asks on behalf of the point's DSO, where the point names one.
        let buyer = party.role == .admin ? config.operators[point] ?? party.participant : party.participant
        return try await submitRequest(RequestSubmission(session: session, day: day, id: nil, area: [point], isps: ahead, priceLimit: nil),
                                       buyer: .dso, participant: buyer, now: now)
    }

    /// Refuses `party` unless it may plan `point`: the administrator, or a DSO the point names as
    /// its operator (`[market.congestion_point_operators]`), or any DSO where it names none.
    package nonisolated func mustOperate(_ point: String, _ party: Party) throws {
        switch party.role {
        case .admin: return
        case .dso:
            if let dso = config.operators[point], dso != party.participant {
                throw MarketRefusal.forbidden("\(point) is operated by another DSO")
            }
        default: throw MarketRefusal.forbidden("a DSO plans its congestion points")
        }
    }
}
