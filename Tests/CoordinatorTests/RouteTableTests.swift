import Certification
@testable import Coordinator
import Foundation
import GridCore
import Hummingbird
import HummingbirdTesting
import Ledger
import Logging
import Market
@testable import MarketOperations
@testable import OperatorConsole
@testable import PlatformAPI
import Prometheus
@testable import ReadingsIngest
import SCD
import Sodium
import Testing
import TestSupport
import UFTP
@testable import UFTPGateway

/// Every route of the REST API and the console × every kind of caller × their own and another
/// participant's objects. A route added without a row here fails `everyRouteHasARow`.
@Suite struct RouteTableTests {
    enum Caller: String, CaseIterable, Sendable {
        case anonymous, admin, dsoA, dsoB, tso, mo, agrA, agrB, brpA, brpB

        var record: (Role, String?)? {
            switch self {
            case .anonymous: nil
            case .admin: (.admin, nil)
            case .dsoA: (.dso, "dso-1")
            case .dsoB: (.dso, "dso-2")
            case .tso: (.tso, "tso-1")
            case .mo: (.marketOperator, nil)
            case .agrA: (.aggregator, "agr-1")
            case .agrB: (.aggregator, "agr-2")
            case .brpA: (.brp, "brp-1")
            case .brpB: (.brp, "brp-2")
            }
        }

        var token: String { "scd_\(rawValue)" }
    }

    struct Case: Sendable {
        /// The route as the router names it (`GET /api/v1/pods/{pod}`).
        let route: String
        let path: String
        var body: String? = nil
        /// Console routes: a session's cookie (and, for forms, its CSRF token) instead of a bearer token.
        var console = false
        /// Changes state: each caller is tried on a fresh application.
        var fresh = false
        let expected: [Caller: Int]
        let otherwise: Int

        var method: HTTPRequest.Method { HTTPRequest.Method(String(route.prefix { $0 != " " }))! }
    }

    static let d = "2026-11-26", e = "2026-11-27", f = "2026-11-28"
    /// The day-ahead rounds of d and e, cleared at their gates.
    static let roundD = "da-\(d)-20261125T120000Z", roundE = "da-\(e)-20261126T120000Z"
    static let order = "\(roundD).0"
    static let platform: [Caller: Int] = [.admin: 200, .dsoA: 200, .dsoB: 200, .tso: 200, .mo: 200]
    static let market: [Caller: Int] = platform.merging([.agrA: 200, .agrB: 200]) { $1 }
    static let console: [Caller: Int] = [.admin: 200, .dsoA: 200, .dsoB: 200, .mo: 200, .anonymous: 303]
    /// The market's time: after d's day-ahead orders, before any of its ISPs; f's day-ahead session is open.
    static let now = MarketplaceTests.date("2026-11-25T13:00:00Z")
    static let open = f
    static let baseline = #"{"energy_wh":[\#(Array(repeating: "250.5", count: 96).joined(separator: ","))]}"#

    static let cases: [Case] = [
        Case(route: "GET /healthz", path: "/healthz", expected: [:], otherwise: 200),
        // No broker here: the readings subscription is never acknowledged.
        Case(route: "GET /readyz", path: "/readyz", expected: [:], otherwise: 503),
        Case(route: "GET /metrics", path: "/metrics", expected: [:], otherwise: 200),
        Case(route: "GET /api/v1/openapi.yaml", path: "/api/v1/openapi.yaml", expected: [:], otherwise: 200),
        Case(route: "GET /api/v1/pods", path: "/api/v1/pods", expected: [.anonymous: 401], otherwise: 200),
        Case(route: "GET /api/v1/pods/{pod}", path: "/api/v1/pods/POD-1",
             expected: platform.merging([.agrA: 200, .brpA: 200, .anonymous: 401]) { $1 }, otherwise: 404),
        Case(route: "PUT /api/v1/pods/{pod}", path: "/api/v1/pods/POD-9", body: #"{"id":"POD-9","aggregator":"agr-2"}"#,
             expected: [.admin: 200, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/pods/{pod}/measurements",
             path: "/api/v1/pods/POD-1/measurements?from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z",
             expected: platform.merging([.agrA: 200, .brpA: 200, .anonymous: 401]) { $1 }, otherwise: 404),
        Case(route: "GET /api/v1/pods/{pod}/nodes/{node}/readings/{seq}/proof", path: "/api/v1/pods/POD-1/nodes/ln-9/readings/3/proof",
             expected: platform.merging([.agrA: 200, .brpA: 200, .anonymous: 401]) { $1 }, otherwise: 404),
        Case(route: "GET /api/v1/pods/{pod}/baselines/{day}", path: "/api/v1/pods/POD-1/baselines/\(d)",
             expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .tso: 200, .mo: 200, .brpA: 200, .brpB: 404, .anonymous: 401], otherwise: 403),
        Case(route: "PUT /api/v1/pods/{pod}/baselines/{day}", path: "/api/v1/pods/POD-1/baselines/\(d)", body: baseline,
             expected: [.brpA: 200, .brpB: 404, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/customer-lists/{day}", path: "/api/v1/customer-lists/\(d)",
             expected: platform.merging([.agrA: 200, .agrB: 200, .anonymous: 401]) { $1 }, otherwise: 403),
        Case(route: "PUT /api/v1/customer-lists/{day}", path: "/api/v1/customer-lists/\(d)", body: #"{"pods":["POD-1"]}"#,
             expected: [.agrA: 200, .agrB: 400, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/nodes", path: "/api/v1/nodes", expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .mo: 200, .anonymous: 401],
             otherwise: 403),
        Case(route: "POST /api/v1/nodes", path: "/api/v1/nodes", fresh: true, expected: [.admin: 201, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/log/checkpoint", path: "/api/v1/log/checkpoint", expected: [.anonymous: 401], otherwise: 200),
        Case(route: "GET /api/v1/log/key", path: "/api/v1/log/key", expected: [.anonymous: 401], otherwise: 200),
        Case(route: "GET /api/v1/log/consistency", path: "/api/v1/log/consistency?first=1&second=1", expected: [.anonymous: 401], otherwise: 200),
        Case(route: "GET /api/v1/uftp/messages", path: "/api/v1/uftp/messages",
             expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .anonymous: 401], otherwise: 403),

        // The market. Ids are each participant's own: two DSOs may both name a request "rq".
        Case(route: "POST /api/v1/market/requests", path: "/api/v1/market/requests",
             body: #"{"session":"day-ahead","day":"\#(open)","id":"rq","area":["cp-1"],"isps":[{"start":40,"min_power":-500,"max_power":-500}]}"#,
             expected: [.dsoA: 201, .dsoB: 201, .tso: 201, .anonymous: 401], otherwise: 403),
        Case(route: "POST /api/v1/market/offers", path: "/api/v1/market/offers",
             body: #"{"session":"day-ahead","day":"\#(open)","id":"of","location":"cp-1","price":10,"isps":[{"start":40,"power":-500}],"pods":[{"pod":"POD-1"}]}"#,
             expected: [.agrA: 201, .agrB: 400, .anonymous: 401], otherwise: 403),
        // agr-1's open offer: by its key, the market operator may revoke it too; by its bare id, only agr-1 names it.
        Case(route: "DELETE /api/v1/market/offers/{id}", path: "/api/v1/market/offers/agr-1:o-late", fresh: true,
             expected: [.agrA: 200, .agrB: 404, .mo: 200, .admin: 200, .anonymous: 401], otherwise: 403),
        Case(route: "DELETE /api/v1/market/offers/{id}", path: "/api/v1/market/offers/o-late", fresh: true,
             expected: [.agrA: 200, .agrB: 404, .mo: 404, .admin: 404, .anonymous: 401], otherwise: 403),
        // dso-1's open request r-late: its buyer withdraws it by its id; the market operator by its key.
        Case(route: "DELETE /api/v1/market/requests/{id}", path: "/api/v1/market/requests/r-late", fresh: true,
             expected: [.dsoA: 200, .dsoB: 404, .tso: 404, .mo: 404, .admin: 404, .anonymous: 401], otherwise: 403),
        Case(route: "DELETE /api/v1/market/requests/{id}", path: "/api/v1/market/requests/dso-1:r-late", fresh: true,
             expected: [.dsoA: 200, .dsoB: 404, .tso: 404, .mo: 200, .admin: 200, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/market/notifications", path: "/api/v1/market/notifications?day=\(d)",
             expected: [.admin: 200, .mo: 200, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/market/days/{day}", path: "/api/v1/market/days/\(d)",
             expected: market.merging([.anonymous: 401]) { $1 }, otherwise: 403),
        Case(route: "POST /api/v1/market/sessions/{session}/{day}/clear", path: "/api/v1/market/sessions/day-ahead/\(f)/clear", fresh: true,
             expected: [.admin: 201, .mo: 201, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/market/rounds/{id}", path: "/api/v1/market/rounds/\(roundD)",
             expected: market.merging([.anonymous: 401]) { $1 }, otherwise: 403),
        // Each DSO decides the awards of its own requests: dso-1 may not reject dso-2's (award 1).
        Case(route: "PUT /api/v1/market/rounds/{id}/validation", path: "/api/v1/market/rounds/\(roundE)/validation", body: #"{"rejected":[]}"#,
             fresh: true, expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .anonymous: 401], otherwise: 403),
        Case(route: "PUT /api/v1/market/rounds/{id}/validation", path: "/api/v1/market/rounds/\(roundE)/validation",
             body: #"{"rejected":[{"award":1,"reason":"feeder at its limit"}]}"#,
             fresh: true, expected: [.admin: 200, .dsoB: 200, .anonymous: 401], otherwise: 403),
        // Award 1 answers dso-2's request: only dso-2 (or the administrator) orders it.
        Case(route: "POST /api/v1/market/orders", path: "/api/v1/market/orders", body: #"{"round":"\#(roundD)","award":1}"#, fresh: true,
             expected: [.admin: 201, .dsoB: 201, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/market/orders", path: "/api/v1/market/orders?day=\(d)",
             expected: market.merging([.anonymous: 401]) { $1 }, otherwise: 403),
        Case(route: "GET /api/v1/market/orders/{id}", path: "/api/v1/market/orders/\(order)",
             expected: platform.merging([.agrA: 200, .agrB: 404, .anonymous: 401]) { $1 }, otherwise: 403),
        // Its buyer cancels it before its ISP begins.
        Case(route: "DELETE /api/v1/market/orders/{id}", path: "/api/v1/market/orders/\(order)", fresh: true,
             expected: [.admin: 200, .dsoA: 200, .dsoB: 404, .tso: 404, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/market/orders/{id}/settlement", path: "/api/v1/market/orders/\(order)/settlement",
             expected: platform.merging([.agrA: 200, .agrB: 404, .anonymous: 401]) { $1 }, otherwise: 403),
        Case(route: "POST /api/v1/market/settlements/{month}/flex-settlements", path: "/api/v1/market/settlements/2026-11/flex-settlements",
             expected: [.admin: 404, .mo: 404, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/market/settlements/{month}", path: "/api/v1/market/settlements/2026-11",
             expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .mo: 200, .agrA: 200, .agrB: 200, .anonymous: 401], otherwise: 403),
        // The DSO's data per congestion point: cp-1 has dso-1's profile of f, 1,000 W over its maximum at ISP 40.
        Case(route: "PUT /api/v1/congestion-points/{point}/profiles/{day}", path: "/api/v1/congestion-points/cp-1/profiles/\(f)",
             body: #"{"max_w":[\#(Array(repeating: "4000", count: 96).joined(separator: ","))]}"#, fresh: true,
             expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/congestion-points/{point}/profiles/{day}", path: "/api/v1/congestion-points/cp-1/profiles/\(f)",
             expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .mo: 200, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/congestion-points/{point}/days/{day}", path: "/api/v1/congestion-points/cp-1/days/\(f)",
             expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .mo: 200, .anonymous: 401], otherwise: 403),
        Case(route: "POST /api/v1/congestion-points/{point}/requests", path: "/api/v1/congestion-points/cp-1/requests", body: #"{"day":"\#(f)"}"#,
             fresh: true, expected: [.admin: 201, .dsoA: 201, .dsoB: 201, .anonymous: 401], otherwise: 403),
        // A settlement run by the market operator; each party reads its own statements.
        Case(route: "POST /api/v1/market/settlements/{month}/statements", path: "/api/v1/market/settlements/2026-11/statements", body: "",
             fresh: true, expected: [.admin: 200, .mo: 200, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/market/settlements/{month}/statements", path: "/api/v1/market/settlements/2026-11/statements",
             expected: market.merging([.anonymous: 401]) { $1 }, otherwise: 403),
        Case(route: "GET /api/v1/market/settlements/{month}/statements/{role}/{party}/{version}",
             path: "/api/v1/market/settlements/2026-11/statements/dso/dso-1/v1",
             expected: [.admin: 200, .dsoA: 200, .mo: 200, .dsoB: 404, .tso: 404, .agrA: 404, .agrB: 404, .anonymous: 401], otherwise: 403),
        // dso-1's contract fo-1 with agr-1: ids are the platform's; a DSO buys for itself, the administrator names the buyer.
        Case(route: "POST /api/v1/market/contracts", path: "/api/v1/market/contracts",
             body: #"{"id":"fo-2","aggregator":"agr-1","congestion_point":"cp-1","first_day":"2026-12-01","last_day":"2026-12-31","first_isp":69,"last_isp":80,"power_w":-500,"fee":{"per_mw_per_isp":"1.50"},"price_cap_per_mwh":"300"}"#,
             fresh: true, expected: [.admin: 400, .dsoA: 201, .dsoB: 201, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/market/contracts", path: "/api/v1/market/contracts",
             expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .mo: 200, .agrA: 200, .agrB: 200, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/market/contracts/{id}", path: "/api/v1/market/contracts/fo-1",
             expected: [.admin: 200, .dsoA: 200, .dsoB: 404, .mo: 200, .agrA: 200, .agrB: 404, .anonymous: 401], otherwise: 403),
        Case(route: "POST /api/v1/market/contracts/{id}/releases", path: "/api/v1/market/contracts/fo-1/releases", body: #"{"day":"\#(f)"}"#,
             fresh: true, expected: [.admin: 201, .dsoA: 201, .dsoB: 404, .anonymous: 401], otherwise: 403),
        Case(route: "GET /api/v1/market/contracts/{id}/months/{month}", path: "/api/v1/market/contracts/fo-1/months/2026-11",
             expected: [.admin: 200, .dsoA: 200, .dsoB: 404, .mo: 200, .agrA: 200, .agrB: 404, .anonymous: 401], otherwise: 403),

        // The console: a session per caller; a page a role may not see is 403, another's object 404.
        Case(route: "GET /console/static/console.css", path: "/console/static/console.css", console: true, expected: [:], otherwise: 200),
        Case(route: "GET /console/login", path: "/console/login", console: true, expected: [:], otherwise: 200),
        Case(route: "POST /console/login", path: "/console/login", body: "token=scd_admin", console: true, expected: [:], otherwise: 403),
        Case(route: "GET /console", path: "/console/", console: true, expected: [:], otherwise: 303),
        Case(route: "POST /console/logout", path: "/console/logout", body: "", console: true, fresh: true,
             expected: [.anonymous: 401], otherwise: 303),
        Case(route: "GET /console/fleet", path: "/console/fleet", console: true, expected: console, otherwise: 403),
        Case(route: "GET /console/nodes/{node}", path: "/console/nodes/ln-1?day=\(d)", console: true, expected: console, otherwise: 403),
        Case(route: "GET /console/nodes/{node}/readings", path: "/console/nodes/ln-9/readings?seq=3", console: true, expected: [:], otherwise: 303),
        Case(route: "GET /console/nodes/{node}/readings/{seq}", path: "/console/nodes/ln-9/readings/3", console: true, expected: console, otherwise: 403),
        Case(route: "GET /console/market", path: "/console/market", console: true, expected: [:], otherwise: 303),
        Case(route: "GET /console/congestion", path: "/console/congestion", console: true, expected: console, otherwise: 403),
        Case(route: "GET /console/congestion/{point}", path: "/console/congestion/cp-1?day=\(d)", console: true, expected: console, otherwise: 403),
        Case(route: "GET /console/market/{day}", path: "/console/market/\(d)", console: true,
             expected: market.merging([.anonymous: 303]) { $1 }, otherwise: 403),
        Case(route: "POST /console/market/{day}/orders", path: "/console/market/\(d)/orders", body: "round=\(roundD)&award=1", console: true,
             fresh: true, expected: [.admin: 303, .dsoB: 303, .anonymous: 401], otherwise: 403),
        Case(route: "POST /console/market/{day}/rounds/{round}/validation", path: "/console/market/\(e)/rounds/\(roundE)/validation", body: "",
             console: true, fresh: true, expected: [.admin: 303, .dsoA: 303, .dsoB: 303, .anonymous: 401], otherwise: 403),
        Case(route: "GET /console/orders/{id}", path: "/console/orders/\(order)", console: true,
             expected: platform.merging([.agrA: 200, .agrB: 404, .anonymous: 303]) { $1 }, otherwise: 403),
        Case(route: "POST /console/orders/{id}/cancellation", path: "/console/orders/\(order)/cancellation", body: "", console: true,
             fresh: true, expected: [.admin: 303, .dsoA: 303, .dsoB: 404, .tso: 404, .anonymous: 401], otherwise: 403),
        Case(route: "POST /console/market/{day}/requests/{request}/withdrawal", path: "/console/market/\(f)/requests/dso-1:r-late/withdrawal",
             body: "", console: true, fresh: true,
             expected: [.admin: 303, .dsoA: 303, .mo: 303, .dsoB: 404, .tso: 404, .anonymous: 401], otherwise: 403),
        Case(route: "GET /console/settlements", path: "/console/settlements", console: true, expected: [:], otherwise: 303),
        Case(route: "GET /console/settlements/{month}", path: "/console/settlements/2026-11", console: true,
             expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .mo: 200, .agrA: 200, .agrB: 200, .anonymous: 303], otherwise: 403),
        Case(route: "GET /console/settlements/{month}/csv", path: "/console/settlements/2026-11/csv", console: true,
             expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .mo: 200, .agrA: 200, .agrB: 200, .anonymous: 303], otherwise: 403),
        Case(route: "POST /console/congestion/{point}/profile", path: "/console/congestion/cp-1/profile",
             body: "day=\(f)&csv=isp,max_w\n40,4000", console: true, fresh: true,
             expected: [.admin: 303, .dsoA: 303, .dsoB: 303, .anonymous: 401], otherwise: 403),
        Case(route: "POST /console/congestion/{point}/requests", path: "/console/congestion/cp-1/requests", body: "day=\(f)", console: true,
             fresh: true, expected: [.admin: 303, .dsoA: 303, .dsoB: 303, .anonymous: 401], otherwise: 403),
        Case(route: "POST /console/congestion/{point}/orders", path: "/console/congestion/cp-1/orders", body: "day=\(d)&award[]=\(roundD).1",
             console: true, fresh: true, expected: [.admin: 303, .dsoB: 303, .anonymous: 401], otherwise: 403),
        Case(route: "GET /console/contracts", path: "/console/contracts?month=2026-11", console: true,
             expected: [.admin: 200, .dsoA: 200, .dsoB: 200, .mo: 200, .agrA: 200, .agrB: 200, .anonymous: 303], otherwise: 403),
        Case(route: "POST /console/contracts", path: "/console/contracts",
             body: "id=fo-2&aggregator=agr-1&congestion_point=cp-1&first_day=2026-12-01&last_day=2026-12-31&first_isp=69&last_isp=80&power_w=-500&fee_kind=per_mw_per_isp&fee=1.50&price_cap_per_mwh=300",
             console: true, fresh: true, expected: [.admin: 400, .dsoA: 303, .dsoB: 303, .anonymous: 401], otherwise: 403),
        Case(route: "POST /console/contracts/{id}/releases", path: "/console/contracts/fo-1/releases", body: "day=\(f)", console: true,
             fresh: true, expected: [.admin: 303, .dsoA: 303, .dsoB: 404, .anonymous: 401], otherwise: 403),
        Case(route: "GET /console/statements", path: "/console/statements", console: true, expected: [:], otherwise: 303),
        Case(route: "GET /console/statements/{month}", path: "/console/statements/2026-11", console: true,
             expected: market.merging([.anonymous: 303]) { $1 }, otherwise: 403),
        Case(route: "GET /console/statements/{month}/{role}/{party}/{version}", path: "/console/statements/2026-11/dso/dso-1/v1", console: true,
             expected: [.admin: 200, .dsoA: 200, .mo: 200, .dsoB: 404, .tso: 404, .agrA: 404, .agrB: 404, .anonymous: 303], otherwise: 403),
        Case(route: "GET /console/statements/{month}/{role}/{party}/{version}/csv", path: "/console/statements/2026-11/dso/dso-1/v1/csv",
             console: true, expected: [.admin: 200, .dsoA: 200, .mo: 200, .dsoB: 404, .tso: 404, .agrA: 404, .agrB: 404, .anonymous: 303],
             otherwise: 403),
        Case(route: "POST /console/statements/{month}/run", path: "/console/statements/2026-11/run", body: "", console: true, fresh: true,
             expected: [.admin: 303, .mo: 303, .anonymous: 401], otherwise: 403),
    ] + UFTPAction.allCases.map { action in
        // This application plays no UFTP role: an action is not found, once authorized.
        Case(route: "POST /api/v1/uftp/\(action.resource)", path: "/api/v1/uftp/\(action.resource)", body: "{}",
             expected: action.role == .dso ? [.admin: 404, .dsoA: 404, .dsoB: 404, .anonymous: 401] : [.admin: 404, .anonymous: 401],
             otherwise: 403)
    }

    /// Three market days around two DSOs' requests (`r-a` of dso-1, `r-b` of dso-2, `t-1` of the
    /// TSO) and two aggregators' offers (`o-a` of agr-1 at POD-1, `o-b` of agr-2 at POD-3): on the
    /// first, a final round with award 0 (dso-1's, agr-1's) ordered; on the second, a preliminary
    /// round; on the third, agr-1's offer `o-late` and dso-1's request `r-late` open. A node with a sealed, checkpointed block.
    static func application() async throws -> (Application<RouterResponder<APIContext>>, TemporaryDirectory) {
        let (market, store, _, _, folder) = try await MarketplaceTests.rig(validation: .dso, clock: { now })
        try await store.upsertPOD(PODRecord(id: "POD-3", congestionPoint: "cp-1", aggregator: "agr-2", brp: "brp-2"))
        let key = SigningKey.generate()
        try await store.addNode(NodeRecord(id: "ln-9", pod: "POD-1", meter: "aux", keys: [key.publicKey]))
        var commit = IngestCommit()
        var prev = SHA256Digest.zero
        var entries: [LedgerEntry] = []
        for seq in UInt64(1)...64 {
            let body = Array(#"{"t":"2026-11-24T10:00:\#(String(format: "%02d", seq % 60))Z","k":"reading","m":"aux","q":"good","v":{"active_power":1000}}"#.utf8)
            let entry = LedgerEntry.make(seq: seq, body: body, prev: prev, signer: key)
            prev = entry.hash
            entries.append(entry)
            commit.entries.append(StagedEntry(node: "ln-9", entry: entry, reading: try ReadingBody(parsing: body)))
        }
        commit.chains = [ChainState(node: "ln-9", holding: entries, certifiedThrough: 64)]
        _ = try await store.commit(commit)
        _ = try await store.seal([SealRequest(node: "ln-9", through: 64, keys: [key.publicKey])])
        let log = try CertificationLog(store: store, signer: SigningKey.generate(), origin: "test.example/log")
        try await log.checkpointIfGrown(now: .now())
        for caller in Caller.allCases {
            guard let (role, participant) = caller.record else { continue }
            try await store.addToken(TokenRecord(hash: SHA256.hash(Array(caller.token.utf8)), role: role, participant: participant))
        }
        for (day, closure) in [(d, "2026-11-25T12:00:00Z"), (e, "2026-11-26T12:00:00Z")] {
            let morning = MarketplaceTests.date(String(closure.prefix(10)) + "T08:00:00Z")
            // Ids are the owner's, across days: each day's carry its date.
            func request(_ id: String, isp: Int) -> Marketplace.RequestSubmission {
                .init(session: .dayAhead, day: day, id: "\(id)-\(day.suffix(2))", area: ["cp-1"], isps: [.init(start: isp, minPower: -500, maxPower: -500)], priceLimit: nil)
            }
            func offer(_ id: String, price: Money, pod: String) -> Marketplace.OfferSubmission {
                .init(session: .dayAhead, day: day, id: "\(id)-\(day.suffix(2))", location: "cp-1", price: price, minActivationFactor: nil,
                      isps: [.init(start: 40, power: -500)], pods: [.init(pod: pod)], validUntil: nil)
            }
            _ = try await market.submitRequest(request("r-a", isp: 40), buyer: .dso, participant: "dso-1", now: morning)
            _ = try await market.submitRequest(request("r-b", isp: 40), buyer: .dso, participant: "dso-2", now: morning)
            _ = try await market.submitRequest(request("t-1", isp: 50), buyer: .tso, participant: "tso-1", now: morning)
            _ = try await market.submitOffer(offer("o-a", price: 10, pod: "POD-1"), aggregator: "agr-1", now: morning)
            _ = try await market.submitOffer(offer("o-b", price: 20, pod: "POD-3"), aggregator: "agr-2", now: morning)
            let round = try #require(try await market.clear(.dayAhead, day: day, now: MarketplaceTests.date(closure)))
            let suffix = day.suffix(2)
            #expect(round.preliminary.awards.map { "\($0.request) \($0.offer)" }
                        == ["dso-1:r-a-\(suffix) agr-1:o-a-\(suffix)", "dso-2:r-b-\(suffix) agr-2:o-b-\(suffix)"])
        }
        let admin = Marketplace.Party(role: .admin, participant: nil)
        _ = try await market.validate(round: "\(roundD)", rejections: [:], by: admin, now: now)
        _ = try await market.order(round: "\(roundD)", award: 0, by: admin, now: now)
        _ = try await market.submitOffer(.init(session: .dayAhead, day: f, id: "o-late", location: "cp-1", price: 10, minActivationFactor: nil,
                                               isps: [.init(start: 40, power: -500)], pods: [.init(pod: "POD-1")], validUntil: nil),
                                         aggregator: "agr-1", now: MarketplaceTests.date("2026-11-26T08:00:00Z"))
        _ = try await market.submitRequest(.init(session: .dayAhead, day: f, id: "r-late", area: ["cp-1"],
                                                 isps: [.init(start: 40, minPower: -500, maxPower: -500)], priceLimit: nil),
                                           buyer: .dso, participant: "dso-1", now: MarketplaceTests.date("2026-11-26T08:00:00Z"))
        _ = try await market.registerContract(
            AvailabilityContract(id: "fo-1", buyer: "dso-1", aggregator: "agr-1", congestionPoint: "cp-1", first: "2026-11-01", last: "2026-12-31",
                                 weekdays: Array(1...7), firstISP: 69, lastISP: 80, power: -500, fee: .perMWPerISP(Money("1.50")!),
                                 priceCapPerMWh: 300, penaltyPerMiss: 25),
            by: Marketplace.Party(role: .dso, participant: "dso-1"), now: now)
        var forecast = [Int?](repeating: nil, count: 96)
        forecast[39] = 5000
        _ = try await market.importProfile(CongestionProfile(point: "cp-1", day: f, forecastW: forecast, maxW: Array(repeating: 4000, count: 96)),
                                           by: Marketplace.Party(role: .dso, participant: "dso-1"), now: now)
        // dso-1's and agr-1's statements of November: the order and the contract.
        _ = try await market.closeMonth("2026-11", now: now)
        let registry = PrometheusCollectorRegistry()
        let router = API(store: store, log: log, metrics: registry, readiness: Readiness(), maxRequestBytes: 64 << 10, market: market).router()
        let settings = IngestSettings(certifyWithinSeconds: 60, intervalMs: 4000, maxPayloadBytes: 1 << 16, commitIntervalMs: 250)
        let ingest = Ingest(store: store, settings: settings, topicPrefix: "lightnode/v1", metrics: IngestMetrics(registry: registry),
                            logger: Self.quiet)
        try await ingest.restore(now: .now())
        try Console(store: store, ingest: ingest, market: market, log: log, sessions: ConsoleSessions(), secureCookies: false,
                    readingIntervalMs: 4000, logger: Self.quiet).register(on: router)
        return (Application(router: router), folder)
    }

    static let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// The routes the application serves, as `METHOD /path/{parameter}`.
    static func routes() async throws -> Set<String> {
        let (_, store, _, _, folder) = try await MarketplaceTests.rig()
        _ = folder
        let log = try CertificationLog(store: store, signer: SigningKey.generate(), origin: "test.example/log")
        let registry = PrometheusCollectorRegistry()
        let (market, _, _, _, marketFolder) = try await MarketplaceTests.rig()
        _ = marketFolder
        let router = API(store: store, log: log, metrics: registry, readiness: Readiness(), maxRequestBytes: 1 << 16, market: market).router()
        let ingest = Ingest(store: store, settings: .init(certifyWithinSeconds: 60, intervalMs: 4000, maxPayloadBytes: 1 << 16, commitIntervalMs: 250),
                            topicPrefix: "lightnode/v1", metrics: IngestMetrics(registry: registry), logger: Self.quiet)
        try Console(store: store, ingest: ingest, market: market, log: log, sessions: ConsoleSessions(), secureCookies: false,
                    readingIntervalMs: 4000, logger: Self.quiet).register(on: router)
        return Set(router.routes.map { "\($0.method) \($0.path)" })
    }

    @Test func everyRouteHasARow() async throws {
        let served = try await Self.routes()
        let listed = Set(Self.cases.map(\.route))
        #expect(served.subtracting(listed).isEmpty, "routes without a row: \(served.subtracting(listed).sorted())")
        #expect(listed.subtracting(served).isEmpty, "rows without a route: \(listed.subtracting(served).sorted())")
    }

    @Test func everyCallerGetsWhatTheTableSays() async throws {
        var failures: [String] = []
        let (shared, folder) = try await Self.application()
        _ = folder
        for test in Self.cases {
            for caller in Caller.allCases {
                let (app, freshFolder) = test.fresh ? try await Self.application() : (shared, folder)
                _ = freshFolder
                let status = try await app.test(.router) { client in try await Self.status(of: test, as: caller, client) }
                let expected = test.expected[caller] ?? test.otherwise
                if status != expected { failures.append("\(test.route) \(test.path) as \(caller): \(status), expected \(expected)") }
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    static func status(of test: Case, as caller: Caller, _ client: any TestClientProtocol) async throws -> Int {
        guard test.console else {
            var headers = HTTPFields()
            if caller != .anonymous { headers[.authorization] = "Bearer \(caller.token)" }
            var body = test.body
            if test.route == "POST /api/v1/nodes" {
                body = #"{"id":"ln-\#(caller.rawValue)","pod":"POD-3","key":"\#(Base64.encode(SigningKey.generate().publicKey.bytes))"}"#
            }
            if body != nil { headers[.contentType] = "application/json" }
            return try await client.execute(uri: test.path, method: test.method, headers: headers, body: body.map { ByteBuffer(string: $0) }) {
                Int($0.status.code)
            }
        }
        var browser = ConsoleTests.Browser(client: client)
        var form = test.body
        if caller != .anonymous {
            #expect(try await browser.login(caller.token) == 303, "\(caller) logs in")
            // A form carries the session's CSRF token, as every page gives it (a refusal too).
            if let body = test.body, test.method == .post, test.route != "POST /console/login" {
                let csrf = ConsoleTests.Browser.field("csrf", in: try await browser.request("/console/market/\(d)").body)
                form = (body.isEmpty ? "" : body + "&") + "csrf=\(csrf)"
            }
        }
        let pairs = form.map { text in
            text.split(separator: "&").map { pair -> (String, String) in
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            }
        }
        return try await browser.request(test.path, method: test.method, fields: pairs).status
    }
    @Test func listingsShowOnlyTheCallersOwn() async throws {
        let (app, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            func get(_ path: String, _ caller: Caller) async throws -> String {
                try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(caller.token)"]) { String(buffer: $0.body) }
            }
            func ids(_ path: String, _ caller: Caller) async throws -> [String] {
                let json = try JSONSerialization.jsonObject(with: Data(try await get(path, caller).utf8)) as? [String: Any]
                return (json?["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
            }
            #expect(try await ids("/api/v1/pods", .agrA) == ["POD-1", "POD-2"])
            #expect(try await ids("/api/v1/pods", .brpB) == ["POD-3"])
            #expect(try await ids("/api/v1/pods", .dsoA) == ["POD-1", "POD-2", "POD-3"])
            // Pagination: one POD a page, the cursor leads to the next, the last page has none.
            let first = try await get("/api/v1/pods?limit=1", .mo)
            #expect(first.contains(#""next":"POD-1""#) && first.contains("POD-1"))
            #expect(try await ids("/api/v1/pods?limit=1&after=POD-1", .mo) == ["POD-2"])
            #expect(!(try await get("/api/v1/pods?limit=1&after=POD-2", .mo).contains("next")))
            #expect(try await get("/api/v1/pods?limit=0", .mo).contains(#""field":"limit""#))
            // A baseline with the wrong number of quarters names the field.
            let short = try await client.execute(uri: "/api/v1/pods/POD-1/baselines/\(Self.d)", method: .put,
                                                 headers: [.authorization: "Bearer \(Caller.brpA.token)", .contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"energy_wh":[1,2]}"#)) { String(buffer: $0.body) }
            #expect(short.contains(#""field":"energy_wh""#))
        }
    }
}

/// Every JSON body the API takes, its numbers replaced one at a time by the edges of their
/// types (and beyond), its arrays by long ones, its strings by huge ones, sent by a caller the
/// route serves: refused or taken, never a 5xx, and the application still answering.
@Suite struct ExtremeBodyTests {
    static let numbers = ["-9223372036854775808", "9223372036854775807", "18446744073709551616", "-0", "1e308", "-1e308", "1e999",
                          "4611686018427387905", "0.5", "-1"]

    /// The template's JSON with the `index`th leaf (in document order) replaced by `replacement` text.
    static func variants(of template: String) -> [String] {
        guard let json = try? JSONSerialization.jsonObject(with: Data(template.utf8)) else { return [] }
        var leaves = 0
        func count(_ value: Any) {
            switch value {
            case let object as [String: Any]: object.values.forEach(count)
            case let array as [Any]: leaves += 1; array.forEach(count)
            default: leaves += 1
            }
        }
        count(json)
        var variants: [String] = []
        for target in 0..<leaves {
            for replacement in numbers + ["\"\(String(repeating: "x", count: 100_000))\"", "[]", "null", "{}"] {
                var position = 0
                func render(_ value: Any) -> String {
                    let here = position
                    switch value {
                    case let object as [String: Any]:
                        return "{" + object.keys.sorted().map { "\"\($0)\":" + render(object[$0]!) }.joined(separator: ",") + "}"
                    case let array as [Any]:
                        position += 1
                        if here == target { return "[" + Array(repeating: array.first.map(render) ?? "1", count: 10_000).joined(separator: ",") + "]" }
                        return "[" + array.map(render).joined(separator: ",") + "]"
                    default:
                        position += 1
                        if here == target { return replacement }
                        let data = try! JSONSerialization.data(withJSONObject: [value], options: [.fragmentsAllowed])
                        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
                    }
                }
                variants.append(render(json))
            }
        }
        return variants
    }

    @Test func noBodyMakesAServerError() async throws {
        let (app, folder) = try await RouteTableTests.application()
        _ = folder
        let (failures, sent) = try await app.test(.router) { client in
            var failures: [String] = [], sent = 0
            for test in RouteTableTests.cases where !test.console && test.body != nil && test.body != "{}" {
                guard let caller = RouteTableTests.Caller.allCases.first(where: { (200..<300).contains(test.expected[$0] ?? test.otherwise) })
                else { continue }
                for body in Self.variants(of: test.body!) {
                    sent += 1
                    let status = try await client.execute(uri: test.path, method: test.method,
                                                          headers: [.authorization: "Bearer \(caller.token)", .contentType: "application/json"],
                                                          body: ByteBuffer(string: body)) { Int($0.status.code) }
                    if status >= 500 { failures.append("\(test.route) \(status): \(body.prefix(300))") }
                }
            }
            let health = try await client.execute(uri: "/healthz", method: .get) { Int($0.status.code) }
            #expect(health == 200)
            return (failures, sent)
        }
        #expect(sent > 500)
        #expect(failures.isEmpty, "\(failures.prefix(20).joined(separator: "\n"))")
    }
}
