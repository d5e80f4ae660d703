/// SQL both backends read alike (each backend keeps its own migrations).
package enum SCDSchema {
    /// The endpoints with pending messages, found by seeking `uftp_outbox_endpoint` once per
    /// endpoint (a loose index scan: a claim costs the endpoints, not the messages waiting).
    /// Both backends' claims use it (SQL both read alike).
    package static let pendingEndpoints = """
        ends(endpoint) AS (
          SELECT min(endpoint) FROM uftp_outbox WHERE state = 'pending'
          UNION ALL
          SELECT (SELECT min(endpoint) FROM uftp_outbox WHERE state = 'pending' AND endpoint > ends.endpoint)
          FROM ends WHERE endpoint IS NOT NULL)
        """

    /// The first due message of each endpoint of `ends` (at `now`, an SQL expression).
    package static func firstDue(_ now: String) -> String {
        """
        SELECT (SELECT min(message) FROM uftp_outbox WHERE state = 'pending' AND endpoint = ends.endpoint AND next_attempt <= \(now))
        FROM ends WHERE endpoint IS NOT NULL
        """
    }

    /// SQL true when the staged entry `e` (a row of raw_entries or staged_entries) lies in a certified stretch of a
    /// persisted chain segment of its node (any coordinator instance's, in PostgreSQL).
    package static let certifiedCondition =
        "EXISTS (SELECT 1 FROM chain_segments s WHERE s.node = e.node AND e.seq BETWEEN s.first AND s.certified_through)"
}
