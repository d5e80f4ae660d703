import GridCore
import MarketOperations
import ReadingsIngest
import SCD
import Sodium
import UFTPGateway

/// The console's logged-in operators. A session is made only by a login that presented a valid
/// API token, under an identifier made here (a cookie value the browser brought is never adopted:
/// no session fixation), and carries its own CSRF token for every form. Kept in memory: a
/// restart logs everyone out, and instances behind one address need sticky sessions.
public actor ConsoleSessions {
    public struct Session: Sendable {
        public let id: String
        public let caller: TokenRecord
        /// Echoed by every form of the session.
        public let csrf: String
        package let created: Int64
        var lastSeen: Int64
    }

    /// Ends a session this long after its last request…
    let idleMs: Int64
    /// …and this long after the login, however active.
    let lifetimeMs: Int64
    /// The most held at once; beyond, the least recently used is ended.
    package let capacity: Int
    private var sessions: [String: Session] = [:]

    public init(idleMinutes: Int = 30, lifetimeHours: Int = 12, capacity: Int = 10_000) {
        idleMs = Int64(idleMinutes) * 60_000
        lifetimeMs = Int64(lifetimeHours) * 3_600_000
        self.capacity = capacity
    }

    /// A new session for `caller` (ending `previous`, the one the browser had, if any).
    public func open(for caller: TokenRecord, replacing previous: String?, now: Int64) -> Session {
        if let previous { sessions[previous] = nil }
        if sessions.count >= capacity, let oldest = sessions.values.min(by: { $0.lastSeen < $1.lastSeen }) {
            sessions[oldest.id] = nil
        }
        let session = Session(id: Self.secret(), caller: caller, csrf: Self.secret(), created: now, lastSeen: now)
        sessions[session.id] = session
        return session
    }

    /// The live session with this identifier, its idle time restarted; nil if unknown or expired.
    public func session(_ id: String, now: Int64) -> Session? {
        guard var session = sessions[id] else { return nil }
        guard now - session.lastSeen < idleMs, now - session.created < lifetimeMs else {
            sessions[id] = nil
            return nil
        }
        session.lastSeen = now
        sessions[id] = session
        return session
    }

    public func close(_ id: String) {
        sessions[id] = nil
    }

    package var count: Int { sessions.count }

    /// 256 random bits in hex (a cookie value and a form field as they are).
    package static func secret() -> String {
        Hex.encode(RandomBytes.make(32))
    }

    /// Compares a presented secret with the expected one in constant time.
    package static func equal(_ presented: String, _ expected: String) -> Bool {
        constantTimeEqual(Array(presented.utf8), Array(expected.utf8))
    }
}
