import Foundation
import GridCore
import Synchronization
import UFTP

/// The gateway's one seam to the market (docs/architecture.md, "Seams"): the responder hands it
/// flex requests, offers and revocations as entries, and the answers to its orders and
/// settlements. The market sends through this gateway's `UFTPActions`, so it sits above.
public protocol UFTPMarket: Sendable {
    /// Why the market refuses the message (empty: taken as an entry).
    func intake(_ message: UFTPMessage, from sender: InternetDomain, now: Timestamp) async throws -> [String]
    /// An answer to a message the market sent (a FlexOrderResponse, a FlexSettlementResponse).
    func received(_ message: UFTPMessage, now: Timestamp) async throws
}

/// The market a responder and every copy of it reach: attached once the market is built, since
/// the market is built over the responder's actions.
public final class MarketLink: Sendable {
    private let market = Mutex<(any UFTPMarket)?>(nil)

    public init() {}

    public func attach(_ market: any UFTPMarket) { self.market.withLock { $0 = market } }

    package var current: (any UFTPMarket)? { market.withLock { $0 } }
}
