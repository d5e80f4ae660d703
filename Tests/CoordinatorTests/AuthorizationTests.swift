import Certification
@testable import Coordinator
import Foundation
import GridCore
import Hummingbird
import HummingbirdTesting
import Ledger
import Prometheus
import SCD
import Sodium
import Testing
import TestSupport

/// Every endpoint × every kind of caller: what each role and participant may do, and that a
/// POD of another participant is not even revealed to exist.
@Suite struct AuthorizationTests {
    enum Caller: String, CaseIterable, Sendable {
        case anonymous, admin, dso, tso, mo, agrA, agrB, brpA, brpB

        var record: (Role, String?)? {
            switch self {
            case .anonymous: nil
            case .admin: (.admin, nil)
            case .dso: (.dso, nil)
            case .tso: (.tso, nil)
            case .mo: (.marketOperator, nil)
            case .agrA: (.aggregator, "agr-a")
            case .agrB: (.aggregator, "agr-b")
            case .brpA: (.brp, "brp-a")
            case .brpB: (.brp, "brp-b")
            }
        }
    }

    struct Case: Sendable {
        let method: HTTPRequest.Method
        let path: String
        let body: String?
        /// Expected status per caller; callers not named expect `otherwise`.
        let expected: [Caller: Int]
        let otherwise: Int
    }

    static let day = "2026-11-25"
    static let baselineBody = #"{"energy_wh":[\#(Array(repeating: "250.5", count: 96).joined(separator: ","))]}"#
    static let platform: [Caller: Int] = [.admin: 200, .dso: 200, .tso: 200, .mo: 200]

    static let cases: [Case] = [
        Case(method: .get, path: "/api/v1/pods", body: nil,
             expected: [.anonymous: 401], otherwise: 200),
        Case(method: .get, path: "/api/v1/pods/POD-A", body: nil,
             expected: platform.merging([.agrA: 200, .brpA: 200, .anonymous: 401]) { $1 }, otherwise: 404),
        Case(method: .put, path: "/api/v1/pods/POD-C", body: #"{"id":"POD-C","aggregator":"agr-b"}"#,
             expected: [.admin: 200, .anonymous: 401], otherwise: 403),
        Case(method: .get, path: "/api/v1/pods/POD-A/measurements?from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z", body: nil,
             expected: platform.merging([.agrA: 200, .brpA: 200, .anonymous: 401]) { $1 }, otherwise: 404),
        Case(method: .get, path: "/api/v1/pods/POD-A/nodes/ln-a/readings/3/proof", body: nil,
             expected: platform.merging([.agrA: 200, .brpA: 200, .anonymous: 401]) { $1 }, otherwise: 404),
        Case(method: .get, path: "/api/v1/pods/POD-A/baselines/\(day)", body: nil,
             expected: platform.merging([.brpA: 200, .brpB: 404, .anonymous: 401]) { $1 }, otherwise: 403),
        Case(method: .put, path: "/api/v1/pods/POD-A/baselines/\(day)", body: baselineBody,
             expected: [.brpA: 200, .brpB: 404, .anonymous: 401], otherwise: 403),
        Case(method: .get, path: "/api/v1/customer-lists/\(day)", body: nil,
             expected: platform.merging([.agrA: 200, .agrB: 200, .anonymous: 401]) { $1 }, otherwise: 403),
        Case(method: .put, path: "/api/v1/customer-lists/\(day)", body: #"{"pods":["POD-A"]}"#,
             expected: [.agrA: 200, .agrB: 400, .anonymous: 401], otherwise: 403),
        Case(method: .get, path: "/api/v1/nodes", body: nil,
             expected: [.admin: 200, .dso: 200, .mo: 200, .anonymous: 401], otherwise: 403),
        Case(method: .post, path: "/api/v1/nodes", body: nil,  // body made per caller (a fresh node id)
             expected: [.admin: 201, .anonymous: 401], otherwise: 403),
        Case(method: .get, path: "/api/v1/log/checkpoint", body: nil, expected: [.anonymous: 401], otherwise: 200),
        Case(method: .get, path: "/api/v1/log/key", body: nil, expected: [.anonymous: 401], otherwise: 200),
        Case(method: .get, path: "/api/v1/log/consistency?first=1&second=1", body: nil, expected: [.anonymous: 401], otherwise: 200),
        Case(method: .get, path: "/api/v1/uftp/messages", body: nil,
             expected: [.admin: 200, .dso: 200, .anonymous: 401], otherwise: 403),
        // This application plays no UFTP role: the DSO's actions are not found, once authorized.
        Case(method: .post, path: "/api/v1/uftp/flex-requests", body: "{}",
             expected: [.admin: 404, .dso: 404, .anonymous: 401], otherwise: 403),
        Case(method: .post, path: "/api/v1/uftp/flex-orders", body: #"{"offer_message_id":"00000000-0000-4000-8000-000000000001"}"#,
             expected: [.admin: 404, .dso: 404, .anonymous: 401], otherwise: 403),
    ]

    /// Two PODs of two aggregators and BRPs, a node on POD-A with a sealed, checkpointed block,
    /// a baseline and a customer list, and a token per caller.
    static func application() async throws -> (Application<RouterResponder<APIContext>>, [Caller: String], TemporaryDirectory) {
        let folder = TemporaryDirectory()
        let store = try SQLiteStore(path: folder.path + "/scd.sqlite")
        try await store.upsertPOD(PODRecord(id: "POD-A", aggregator: "agr-a", brp: "brp-a"))
        try await store.upsertPOD(PODRecord(id: "POD-B", aggregator: "agr-b", brp: "brp-b"))
        let key = SigningKey.generate()
        try await store.addNode(NodeRecord(id: "ln-a", pod: "POD-A", meter: "main", keys: [key.publicKey]))
        var commit = IngestCommit()
        var prev = SHA256Digest.zero
        var entries: [LedgerEntry] = []
        for seq in UInt64(1)...64 {
            let body = Array(#"{"t":"2026-11-24T10:00:\#(String(format: "%02d", seq % 60))Z","k":"reading","m":"main","q":"good","v":{"active_power":1000}}"#.utf8)
            let entry = LedgerEntry.make(seq: seq, body: body, prev: prev, signer: key)
            prev = entry.hash
            entries.append(entry)
            commit.entries.append(StagedEntry(node: "ln-a", entry: entry, reading: try ReadingBody(parsing: body)))
        }
        commit.chains = [ChainState(node: "ln-a", holding: entries, certifiedThrough: 64)]
        _ = try await store.commit(commit)
        _ = try await store.seal([SealRequest(node: "ln-a", through: 64, keys: [key.publicKey])])
        let log = try CertificationLog(store: store, signer: SigningKey.generate(), origin: "test.example/log")
        try await log.checkpointIfGrown(now: .now())
        try await store.putBaseline(Baseline(pod: "POD-A", day: day, brp: "brp-a", energyWh: Array(repeating: 1, count: 96)))
        var tokens: [Caller: String] = [:]
        for caller in Caller.allCases {
            guard let (role, participant) = caller.record else { continue }
            let token = "scd_\(caller.rawValue)"
            try await store.addToken(TokenRecord(hash: SHA256.hash(Array(token.utf8)), role: role, participant: participant))
            tokens[caller] = token
        }
        let api = API(store: store, log: log, metrics: PrometheusCollectorRegistry(), readiness: Readiness(), maxRequestBytes: 64 << 10)
        return (Application(router: api.router()), tokens, folder)
    }

    @Test func everyEndpointRefusesWhatIsNotTheCallers() async throws {
        let (app, tokens, folder) = try await Self.application()
        try await app.test(.router) { client in
            var failures: [String] = []
            for test in Self.cases {
                for caller in Caller.allCases {
                    var headers = HTTPFields()
                    if let token = tokens[caller] { headers[.authorization] = "Bearer \(token)" }
                    var body = test.body
                    if test.method == .post && body == nil {
                        body = #"{"id":"ln-\#(caller.rawValue)","pod":"POD-B","key":"\#(Base64.encode(SigningKey.generate().publicKey.bytes))"}"#
                    }
                    if body != nil { headers[.contentType] = "application/json" }
                    let status = try await client.execute(uri: test.path, method: test.method, headers: headers,
                                                          body: body.map { ByteBuffer(string: $0) }) { Int($0.status.code) }
                    let expected = test.expected[caller] ?? test.otherwise
                    if status != expected { failures.append("\(test.method) \(test.path) as \(caller): \(status), expected \(expected)") }
                }
            }
            #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        }
        _ = folder
    }

    @Test func listingsShowOnlyTheCallersOwn() async throws {
        let (app, tokens, folder) = try await Self.application()
        try await app.test(.router) { client in
            func ids(_ path: String, _ caller: Caller, key: String = "id") async throws -> [String] {
                try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(tokens[caller]!)"]) { response in
                    let json = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]
                    return (json?["items"] as? [[String: Any]] ?? []).compactMap { $0[key] as? String }
                }
            }
            #expect(try await ids("/api/v1/pods", .agrA) == ["POD-A"])
            #expect(try await ids("/api/v1/pods", .brpB) == ["POD-B"])
            #expect(try await ids("/api/v1/pods", .dso) == ["POD-A", "POD-B"])
            // Pagination: one POD a page, the cursor leads to the next, the last page has none.
            let first = try await client.execute(uri: "/api/v1/pods?limit=1", method: .get,
                                                 headers: [.authorization: "Bearer \(tokens[.mo]!)"]) { String(buffer: $0.body) }
            #expect(first.contains(#""next":"POD-A""#) && first.contains("POD-A"))
            #expect(try await ids("/api/v1/pods?limit=1&after=POD-A", .mo) == ["POD-B"])
            let last = try await client.execute(uri: "/api/v1/pods?limit=1&after=POD-A", method: .get,
                                                headers: [.authorization: "Bearer \(tokens[.mo]!)"]) { String(buffer: $0.body) }
            #expect(!last.contains("next"))
            let bad = try await client.execute(uri: "/api/v1/pods?limit=0", method: .get,
                                               headers: [.authorization: "Bearer \(tokens[.mo]!)"]) { String(buffer: $0.body) }
            #expect(bad.contains(#""field":"limit""#))
            // A baseline with the wrong number of quarters names the field.
            let short = try await client.execute(uri: "/api/v1/pods/POD-A/baselines/\(Self.day)", method: .put,
                                                 headers: [.authorization: "Bearer \(tokens[.brpA]!)", .contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"energy_wh":[1,2]}"#)) { String(buffer: $0.body) }
            #expect(short.contains(#""field":"energy_wh""#))
        }
        _ = folder
    }
}
