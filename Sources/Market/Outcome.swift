/// From a preliminary outcome (I-08) to the final one: the DSO's technical platform approves or
/// rejects each award against its grid (I-07); rejected awards are replaced, where the request
/// kept a reliability margin, by its margin awards in their order; approved awards and the
/// margin awards taken become final. Margin awards not needed are released.

/// The DSO's decision on the awards of a preliminary outcome, by index in `awards`; an award
/// not named is approved.
public struct Validation: Sendable, Equatable {
    public var rejected: [Int: String]

    public init(rejected: [Int: String] = [:]) {
        self.rejected = rejected
    }
}

/// For deployments without a DSO technical platform: the most flexibility a location may be
/// activated by per ISP, in magnitude (W), whatever its direction; awards are approved in
/// clearing order while they fit, the rest rejected.
public struct CongestionPointLimits: Sendable {
    public var limitW: [String: Int]

    public init(limitW: [String: Int]) {
        self.limitW = limitW
    }

    /// Awards of locations without a limit are approved; margin awards are judged when they are
    /// taken (by `finalize`), not here.
    public func validate(_ outcome: ClearingOutcome) -> Validation {
        var used: [String: [Int: Int]] = [:]
        var rejected: [Int: String] = [:]
        for (index, award) in outcome.awards.enumerated() where !award.margin {
            let location = award.location
            guard let limit = limitW[location] else { continue }
            var load = used[location, default: [:]]
            for (isp, watts) in award.isps.wattsPerISP { load[isp, default: 0] += watts }
            guard load.values.allSatisfy({ $0 <= limit }) else {
                rejected[index] = "exceeds the limit of \(limit) W at \(location)"
                continue
            }
            used[location] = load
        }
        return Validation(rejected: rejected)
    }
}

public struct FinalOutcome: Sendable, Equatable, Codable {
    /// The awards that stand: approved ones, and margin awards taken in place of rejected ones.
    public var awards: [Award]
    /// The awards the DSO rejected, with its reason.
    public var rejected: [RejectedAward]
}

public struct RejectedAward: Sendable, Equatable, Codable {
    public var award: Award
    public var reason: String
}

extension ClearingOutcome {
    /// The final outcome: approved awards stand; for each request, the power its rejected awards
    /// would have delivered is made up, ISP by ISP, from its margin awards in their order (a
    /// margin award is taken whole, or not at all, and only if it fits what was lost); the
    /// other margin awards are released.
    public func finalize(_ validation: Validation) -> FinalOutcome {
        var final: [Award] = []
        var rejected: [RejectedAward] = []
        var lost: [String: [Int: Int]] = [:]
        for (index, award) in awards.enumerated() where !award.margin {
            if let reason = validation.rejected[index] {
                rejected.append(RejectedAward(award: award, reason: reason))
                for (isp, watts) in award.isps.wattsPerISP { lost[award.request, default: [:]][isp, default: 0] += watts }
            } else {
                final.append(award)
            }
        }
        for (index, award) in awards.enumerated() where award.margin && validation.rejected[index] == nil {
            guard var gap = lost[award.request] else { continue }
            let powers = award.isps.wattsPerISP
            guard powers.allSatisfy({ $0.watts <= gap[$0.isp, default: 0] }), powers.contains(where: { $0.watts > 0 }) else { continue }
            for (isp, watts) in powers { gap[isp, default: 0] -= watts }
            lost[award.request] = gap
            var taken = award
            taken.margin = false
            final.append(taken)
        }
        return FinalOutcome(awards: final, rejected: rejected)
    }
}
