import Foundation
import GridCore
import Market
import SCD
import UFTPGateway

/// A market day's book as a participant may see it.
package struct MarketBook: Encodable, Sendable {
    package var day: String
    package var requests: [MarketRequest]
    package var offers: [MarketOffer]
    package var rounds: [ClearingRound]
    /// Sessions of the day the scheduler has failed to clear so far (not shown to aggregators).
    package var failures: [Marketplace.ClearingFailure]
    /// Documents of the day that cannot be read, by kind and key, with why (not shown to aggregators).
    package var unreadable: [Exclusion] = []
}

extension MarketBook {
    /// What an aggregator may see: every request (without the UFTP message it came in), its own
    /// offers, and each round as `ClearingRound.visible(to:)` shows it.
    package func visible(to aggregator: String?) -> MarketBook {
        guard let aggregator else { return self }
        return MarketBook(day: day, requests: requests.map { request in
            var shown = request
            shown.uftp = nil
            return shown
        }, offers: offers.filter { $0.entry.aggregator == aggregator }, rounds: rounds.map { $0.visible(to: aggregator) }, failures: [],
           unreadable: [])
    }
}

extension Marketplace {
    /// The day's requests, offers and rounds; a document that cannot be read is listed, not fatal.
    package func book(day: String) async throws -> MarketBook {
        guard calendar.start(of: day) != nil else { throw MarketRefusal.invalid(field: "day", "day must be YYYY-MM-DD") }
        let requests = try await store.readableRecords(MarketRequest.self, as: .request, days: day...day)
        let offers = try await store.readableRecords(MarketOffer.self, as: .offer, days: day...day)
        let rounds = try await store.readableRecords(ClearingRound.self, as: .round, days: day...day)
        return MarketBook(day: day, requests: requests.records, offers: offers.records, rounds: rounds.records,
                          failures: clearingFailures(day: day), unreadable: requests.unreadable + offers.unreadable + rounds.unreadable)
    }

    package func order(_ id: String) async throws -> MarketOrder? {
        try await store.record(MarketOrder.self, id: id)
    }
}

extension ClearingRound {
    /// What an aggregator may see of a round: its own offers, awards and exclusions; of each
    /// request, whether it was served in full, not by how much (others' volumes would follow).
    package func visible(to aggregator: String?) -> ClearingRound {
        guard let aggregator else { return self }
        var round = self
        let own = { (key: String) in MarketKey.owner(key) == aggregator }
        round.offers = offers.filter(own)
        round.preliminary.awards = preliminary.awards.filter { $0.aggregator == aggregator }
        round.preliminary.requests = preliminary.requests.map { outcome in
            var shown = outcome
            shown.served = []
            return shown
        }
        round.preliminary.excluded = preliminary.excluded.filter { $0.kind == .offer && own($0.id) }
        round.final?.awards = final?.awards.filter { $0.aggregator == aggregator } ?? []
        round.final?.rejected = final?.rejected.filter { $0.award.aggregator == aggregator } ?? []
        round.validations = nil
        return round
    }
}
