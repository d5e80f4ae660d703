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
import Synchronization
import Testing
import TestSupport

/// The console's sessions, forms and scoping, on the real router (pages rendered from the real
/// templates); the browser tests (Tests/python) drive the same pages from Chromium.
@Suite struct ConsoleTests {
    /// Log lines, to see that refusals are logged.
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    struct Recorder: LogHandler {
        let sink: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.lines.withLock { $0.append("\(event.level) \(event.message)") }
        }
    }

    static let tokens: [String: (Role, String?)] = [
        "scd_dso": (.dso, "dso-1"), "scd_tso": (.tso, "tso-1"), "scd_mo": (.marketOperator, nil),
        "scd_agr1": (.aggregator, "agr-1"), "scd_agr2": (.aggregator, "agr-2"), "scd_brp": (.brp, "brp-1"),
    ]

    /// The market rig's two PODs (one customer named with markup), a cleared day with a final
    /// award to order, and a token per role.
    static func application(validation: MarketConfig.ValidationMode = .builtIn) async throws
        -> (Application<RouterResponder<APIContext>>, Lines, String, TemporaryDirectory) {
        // Baselines of 1,000 W and 3,000 W under a maximum load of 3,500 W: 500 W short all day.
        let (market, store, _, _, folder) = try await MarketplaceTests.rig(validation: validation, maxLoadW: ["cp-1": 3500],
                                                                           clock: { MarketplaceTests.date("2026-11-25T13:00:00Z") })
        try await store.upsertPOD(PODRecord(id: "POD-1", customer: "<script>alert(1)</script>", congestionPoint: "cp-1", aggregator: "agr-1", brp: "brp-1"))
        // An hour of 4-s readings of ln-1 on the market day, with ten minutes missing, then the
        // node's report on a set-point.
        let key = SigningKey.generate()
        var commit = IngestCommit()
        var prev = SHA256Digest.zero
        var entries: [LedgerEntry] = []
        for step in 0..<900 where !(450..<600).contains(step) {
            let time = Timestamp(millisecondsSince1970: 1_795_651_200_000 + Int64(step) * 4000)  // 2026-11-26T00:00:00Z
            let body = Array(#"{"t":"\#(time.rfc3339)","k":"reading","m":"main","q":"good","v":{"active_power":\#(1000 + step)}}"#.utf8)
            let entry = LedgerEntry.make(seq: UInt64(entries.count + 1), body: body, prev: prev, signer: key)
            prev = entry.hash
            entries.append(entry)
            commit.entries.append(StagedEntry(node: "ln-1", entry: entry, reading: try ReadingBody(parsing: body)))
        }
        let report = Array(#"{"t":"2026-11-26T01:00:00.000Z","k":"setpoint-report","id":"sp-9","from":"2026-11-26T00:00:00.000Z","until":"2026-11-26T00:15:00.000Z","mode":"max","w":1100,"m":"main","n":225,"coverage":1,"mean_w":1112,"energy_wh":278,"deviation_w":12,"deviation_wh":3}"#.utf8)
        let reportEntry = LedgerEntry.make(seq: UInt64(entries.count + 1), body: report, prev: prev, signer: key)
        entries.append(reportEntry)
        commit.entries.append(StagedEntry(node: "ln-1", entry: reportEntry, reading: try ReadingBody(parsing: report)))
        commit.chains = [ChainState(node: "ln-1", holding: entries, certifiedThrough: UInt64(entries.count))]
        _ = try await store.commit(commit)
        let morning = MarketplaceTests.date("2026-11-25T08:00:00Z")
        _ = try await market.submitRequest(MarketplaceTests.request(.dayAhead, "r1", min: -600, max: -600), buyer: .dso, participant: "dso-1", now: morning)
        _ = try await market.submitOffer(.init(session: .dayAhead, day: "2026-11-26", id: "o1", location: "cp-1", price: 10, minActivationFactor: 0.2,
                                              isps: [.init(start: 40, power: -1000)], pods: [.init(pod: "POD-1"), .init(pod: "POD-2")],
                                              validUntil: nil), aggregator: "agr-1", now: morning)
        let round = try #require(try await market.clear(.dayAhead, day: "2026-11-26", now: MarketplaceTests.date("2026-11-25T12:00:00Z")))
        let (app, lines) = try await serve(market, store)
        return (app, lines, round.id, folder)
    }

    /// The API and the console over `market` and `store`, with the test tokens.
    static func serve(_ market: Marketplace, _ store: any SCDStore) async throws -> (Application<RouterResponder<APIContext>>, Lines) {
        for (token, (role, participant)) in tokens {
            try await store.addToken(TokenRecord(hash: SHA256.hash(Array(token.utf8)), role: role, participant: participant))
        }
        let lines = Lines()
        let logger = Logger(label: "console") { _ in Recorder(sink: lines) }
        let registry = PrometheusCollectorRegistry()
        let settings = IngestSettings(certifyWithinSeconds: 60, intervalMs: 4000, maxPayloadBytes: 1 << 16, commitIntervalMs: 250)
        let ingest = Ingest(store: store, settings: settings, topicPrefix: "lightnode/v1", metrics: IngestMetrics(registry: registry), logger: logger)
        try await ingest.restore(now: .now())
        let log = try CertificationLog(store: store, signer: SigningKey.generate(), origin: "test.example/log")
        let router = API(store: store, log: log, metrics: registry, readiness: Readiness(), maxRequestBytes: 64 << 10, market: market).router()
        try Console(store: store, ingest: ingest, market: market, log: log, sessions: ConsoleSessions(), secureCookies: false,
                    readingIntervalMs: 4000, logger: logger).register(on: router)
        return (Application(router: router), lines)
    }

    /// A browser's cookie jar and the last page, over the test client.
    struct Browser {
        let client: any TestClientProtocol
        var cookies: [String: String] = [:]
        var setCookies: [String] = []

        /// A form's fields in order; a name may repeat (checkboxes).
        mutating func request(_ path: String, method: HTTPRequest.Method = .get, form: KeyValuePairs<String, String>? = nil,
                              cookie override: String? = nil) async throws -> (status: Int, location: String?, body: String) {
            try await request(path, method: method, fields: form.map { $0.map { ($0.key, $0.value) } }, cookie: override)
        }

        /// A form with a file posted as a browser does: multipart/form-data.
        mutating func upload(_ path: String, fields: [(String, String)], file: (name: String, filename: String, content: String))
            async throws -> (status: Int, location: String?, body: String) {
            let boundary = "----ConsoleTestBoundary7MA4YWxkTrZu0gW"
            var body = fields.map { "--\(boundary)\r\nContent-Disposition: form-data; name=\"\($0.0)\"\r\n\r\n\($0.1)\r\n" }.joined()
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(file.name)\"; filename=\"\(file.filename)\"\r\n"
                + "Content-Type: text/csv\r\n\r\n\(file.content)\r\n--\(boundary)--\r\n"
            var headers = HTTPFields()
            headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
            headers[.contentType] = "multipart/form-data; boundary=\(boundary)"
            return try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
                (Int(response.status.code), response.headers[.location], String(buffer: response.body))
            }
        }

        mutating func request(_ path: String, method: HTTPRequest.Method = .get, fields form: [(String, String)]?,
                              cookie override: String? = nil) async throws -> (status: Int, location: String?, body: String) {
            var headers = HTTPFields()
            let cookie = override ?? cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
            if !cookie.isEmpty { headers[.cookie] = cookie }
            var body: ByteBuffer?
            if let form {
                headers[.contentType] = "application/x-www-form-urlencoded"
                body = ByteBuffer(string: form.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
                    .joined(separator: "&"))
            }
            let (status, location, text, set) = try await client.execute(uri: path, method: method, headers: headers, body: body) { response in
                (Int(response.status.code), response.headers[.location], String(buffer: response.body), response.headers[values: .setCookie])
            }
            setCookies = set
            for line in set {
                let pair = line.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(pair[0]), value = pair.count > 1 ? String(pair[1]) : ""
                cookies[name] = value.isEmpty ? nil : value
            }
            return (status, location, text)
        }

        /// Logs in through the form as a browser would: the login page first, then its form.
        mutating func login(_ token: String) async throws -> Int {
            let page = try await request("/console/login")
            return try await request("/console/login", method: .post, form: ["token": token, "csrf": Self.field("csrf", in: page.body)]).status
        }

        static func field(_ name: String, in page: String) -> String {
            guard let range = page.range(of: #"name="\#(name)" value=""#) else { return "" }
            return String(page[range.upperBound...].prefix { $0 != "\"" })
        }
    }

    @Test func aLoginMakesAFreshStrictSessionAndEndsTheOneItReplaces() async throws {
        let (app, _, _, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            var browser = Browser(client: client)
            let anonymous = try await browser.request("/console/fleet")
            #expect(anonymous.status == 303 && anonymous.location == "/console/login")
            // A forged login form (no matching cookie) and a wrong token are refused.
            var stranger = Browser(client: client)
            #expect(try await stranger.request("/console/login", method: .post, form: ["token": "scd_dso", "csrf": "guess"]).status == 403)
            #expect(try await browser.login("scd_wrong") == 401)
            // A session id planted before the login is not adopted.
            browser.cookies["console_session"] = "planted-by-an-attacker"
            #expect(try await browser.login("scd_dso") == 303)
            let session = try #require(browser.cookies["console_session"])
            #expect(session != "planted-by-an-attacker" && session.count >= 43)
            let line = try #require(browser.setCookies.first { $0.hasPrefix("console_session=") })
            #expect(line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Path=/console") && !line.contains("Secure"))
            let fleet = try await browser.request("/console/fleet")
            #expect(fleet.status == 200 && fleet.body.contains("<h1>Fleet</h1>"))
            // Logging in again replaces the session: the old id is dead.
            #expect(try await browser.login("scd_mo") == 303)
            #expect(browser.cookies["console_session"] != session)
            #expect(try await browser.request("/console/fleet", cookie: "console_session=\(session)").status == 303)
            // Logging out needs the session's CSRF token, and ends it.
            let page = try await browser.request("/console/fleet")
            let current = browser.cookies["console_session"]!
            #expect(try await browser.request("/console/logout", method: .post, form: ["csrf": "nope"]).status == 403)
            #expect(try await browser.request("/console/logout", method: .post, form: ["csrf": Browser.field("csrf", in: page.body)]).status == 303)
            #expect(try await browser.request("/console/fleet", cookie: "console_session=\(current)").status == 303)
        }
    }

    @Test func anOrderNeedsTheSessionsCSRFTokenAndTheAwardsBuyer() async throws {
        let (app, _, round, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            var tso = Browser(client: client)
            #expect(try await tso.login("scd_tso") == 303)
            let tsoPage = try await tso.request("/console/market/2026-11-26")
            #expect(tsoPage.status == 200 && tsoPage.body.contains("r1") && !tsoPage.body.contains(">Order</button>"), "the DSO's award is not the TSO's to order")
            var dso = Browser(client: client)
            #expect(try await dso.login("scd_dso") == 303)
            let page = try await dso.request("/console/market/2026-11-26")
            #expect(page.body.contains(">Order</button>") && page.body.contains("ISP 40 (09:45–10:00)"))
            let csrf = Browser.field("csrf", in: page.body)
            let path = "/console/market/2026-11-26/orders"
            #expect(try await dso.request(path, method: .post, form: ["round": round, "award": "0"]).status == 403)
            #expect(try await dso.request(path, method: .post, form: ["round": round, "award": "0", "csrf": Browser.field("csrf", in: tsoPage.body)]).status == 403,
                    "another session's token")
            let placed = try await dso.request(path, method: .post, form: ["round": round, "award": "0", "csrf": csrf])
            #expect(placed.status == 303 && placed.location?.hasPrefix("/console/orders/") == true)
            let order = try await dso.request(placed.location!)
            #expect(order.status == 200 && order.body.contains("POD-2") && order.body.contains("−450 W"))
            let again = try await dso.request(path, method: .post, form: ["round": round, "award": "0", "csrf": csrf])
            #expect(again.status == 409 && again.body.contains("is ordered"))
        }
    }

    @Test func eachRoleSeesItsOwnAndRefusalsAreLogged() async throws {
        let (app, lines, _, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            var agr2 = Browser(client: client)
            #expect(try await agr2.login("scd_agr2") == 303)
            #expect(try await agr2.request("/console/fleet").status == 403)
            #expect(try await agr2.request("/console/nodes/ln-1").status == 403)
            let market = try await agr2.request("/console/market/2026-11-26")
            #expect(market.status == 200 && !market.body.contains("o1"), "agr-1's offer")
            #expect(try await agr2.request("/console/settlements/2026-11?aggregator=agr-1").status == 403)
            #expect(try await agr2.request("/console/settlements/2026-11/csv?aggregator=agr-1").status == 403)
            let own = try await agr2.request("/console/settlements/2026-11")
            #expect(own.status == 200 && own.body.contains("No order was settled"))
            var agr1 = Browser(client: client)
            #expect(try await agr1.login("scd_agr1") == 303)
            #expect(try await agr1.request("/console/market/2026-11-26").body.contains("o1"))
            var brp = Browser(client: client)
            #expect(try await brp.login("scd_brp") == 303)
            #expect(try await brp.request("/console/market/2026-11-26").status == 403)
        }
        let refusals = lines.all.filter { $0.contains("was refused") }
        #expect(refusals.contains { $0.contains("AGR agr-2 was refused the settlement of agr-1") })
        #expect(refusals.contains { $0.contains("AGR agr-2 was refused the fleet overview") })
    }

    @Test func userTextIsEscapedAndPagesAreHardened() async throws {
        let (app, _, _, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            var mo = Browser(client: client)
            #expect(try await mo.login("scd_mo") == 303)
            let fleet = try await client.execute(uri: "/console/fleet", method: .get,
                                                 headers: [.cookie: "console_session=\(mo.cookies["console_session"]!)"]) { $0 }
            let body = String(buffer: fleet.body)
            #expect(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !body.contains("<script>"))
            #expect(fleet.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            #expect(fleet.headers[.xContentTypeOptions] == "nosniff" && fleet.headers[.cacheControl] == "no-store")
            let node = try await mo.request("/console/nodes/ln-1?day=2026-11-26")
            #expect(node.status == 200 && node.body.contains("&lt;script&gt;") && !node.body.contains("<script>"))
            let desc = node.body.range(of: "<desc").map { String(node.body[$0.lowerBound...].prefix(140)) } ?? ""
            #expect(node.body.contains("<svg class=\"chart\"") && desc.contains("750 readings from 1,000 W to 1,899 W;"), "\(desc)")
            #expect(node.body.contains("<td>00:29:56</td><td>00:40:00</td><td>10 min</td>"), "the ten minutes missing")
            #expect(node.body.contains("<td>sp-9</td><td>00:00:00–00:15:00</td><td>max</td><td class=\"num\">1,100 W</td><td class=\"num\">225</td><td class=\"num\">100 %</td><td class=\"num\">1,112 W</td><td>above by 12 W on average</td><td class=\"num\">3 Wh</td><td class=\"num\">751</td>"),
                    "the node's set-point report")
            #expect(try await mo.request("/console/nodes/ln-1?day=2026-11-27").body.contains("No reading of this node on 2026-11-27"))
            #expect(try await mo.request("/console/nodes/ln-1?day=yesterday").status == 400)
            #expect(try await mo.request("/console/nodes/nope").status == 404)
        }
    }

    @Test func theCongestionPointDaySetsTheForecastAgainstTheMaximumLoad() async throws {
        let (app, lines, _, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            var dso = Browser(client: client)
            #expect(try await dso.login("scd_dso") == 303)
            let index = try await dso.request("/console/congestion")
            #expect(index.status == 200 && index.body.contains(#"<a href="/console/congestion/cp-1?day="#) && index.body.contains("3,500 W"))
            let day = try await dso.request("/console/congestion/cp-1?day=2026-11-26")
            #expect(day.status == 200 && day.body.contains(#"<svg class="chart""#) && day.body.contains(#"class="limit""#))
            #expect(day.body.contains(#"<td class="num">40</td><td>09:45–10:00</td><td class="num">4,000 W</td><td class="num">3,500 W</td><td class="deficit">deficiency 500 W</td><td class="num">—</td><td></td><td>−600 W to −600 W</td><td class="num">−400 W</td>"#),
                    "ISP 40: the baselines' sum, 500 W over the maximum load, r1's need and what the award left of o1")
            #expect(day.body.contains("<dt>ISPs in deficiency</dt><dd>96</dd>") && day.body.contains("<td>agr-1</td><td class=\"num\">2</td>"))
            #expect(day.body.contains("none received"), "agr-1 sent no D-prognosis")
            #expect(try await dso.request("/console/congestion/cp-9?day=2026-11-26").status == 404)
            var agr1 = Browser(client: client)
            #expect(try await agr1.login("scd_agr1") == 303)
            #expect(try await agr1.request("/console/congestion/cp-1").status == 403)
        }
        #expect(lines.all.contains { $0.contains("AGR agr-1 was refused a congestion point's day") })
    }

    @Test func theDSOValidatesAPreliminaryRoundThroughItsForm() async throws {
        let (app, _, round, folder) = try await Self.application(validation: .dso)
        _ = folder
        try await app.test(.router) { client in
            var mo = Browser(client: client)
            #expect(try await mo.login("scd_mo") == 303)
            let seen = try await mo.request("/console/market/2026-11-26")
            #expect(seen.body.contains("Awaiting the DSO's validation") && !seen.body.contains("Validate round"), "the market operator does not validate")
            var dso = Browser(client: client)
            #expect(try await dso.login("scd_dso") == 303)
            let page = try await dso.request("/console/market/2026-11-26")
            #expect(page.body.contains("Validate round \(round)") && !page.body.contains(">Order</button>"), "preliminary awards are not ordered")
            let path = "/console/market/2026-11-26/rounds/\(round)/validation"
            #expect(try await dso.request(path, method: .post, form: ["reject[0]": "transformer at its limit"]).status == 403)
            let decided = try await dso.request(path, method: .post, form: ["reject[0]": "transformer at its limit", "csrf": Browser.field("csrf", in: page.body)])
            #expect(decided.status == 303)
            let after = try await dso.request("/console/market/2026-11-26")
            #expect(after.body.contains("Rejected by the DSO's validation") && after.body.contains("<td>transformer at its limit</td>"))
            #expect(after.body.contains("Validated by dso-1") && !after.body.contains("Validate round"))
            let again = try await dso.request(path, method: .post, form: ["csrf": Browser.field("csrf", in: page.body)])
            #expect(again.status == 409 && again.body.contains("is final"))
        }
    }

    @Test func theSettlementTracksEachAggregatorsObligations() async throws {
        let (app, _, round, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            var dso = Browser(client: client)
            #expect(try await dso.login("scd_dso") == 303)
            let market = try await dso.request("/console/market/2026-11-26")
            _ = try await dso.request("/console/market/2026-11-26/orders", method: .post,
                                      form: ["round": round, "award": "0", "csrf": Browser.field("csrf", in: market.body)])
            let month = try await dso.request("/console/settlements/2026-11?point=cp-1")
            #expect(month.status == 200 && month.body.contains("Obligations at cp-1") && month.body.contains(#"<option value="cp-1" selected>"#))
            #expect(month.body.contains(#"<tr><td>agr-1</td><td class="num">1</td><td class="num">1</td><td class="num">100 %</td><td class="num">1</td><td class="num">0</td><td class="num">1</td>"#),
                    "one request at cp-1, answered by o1, ordered once")
            let elsewhere = try await dso.request("/console/settlements/2026-11?point=cp-9")
            #expect(elsewhere.body.contains("Obligations at cp-9") && !elsewhere.body.contains("<td class=\"num\">100 %</td>"))
        }
    }

    @Test func theSettlementShowsTheContractsMonthsToTheirParties() async throws {
        let (app, _, _, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            // dso-1 holds agr-1's 1,000 W at ISP 40 all November, under a 20,000 per MWh cap: o1 asks 40,000.
            let contract = #"{"id":"fo-1","aggregator":"agr-1","congestion_point":"cp-1","first_day":"2026-11-01","last_day":"2026-11-30","first_isp":40,"last_isp":40,"power_w":-1000,"fee":{"per_mw_per_isp":"100"},"price_cap_per_mwh":"20000","penalty_per_miss":"5"}"#
            var headers = HTTPFields()
            headers[.authorization] = "Bearer scd_dso"
            headers[.contentType] = "application/json"
            let created = try await client.execute(uri: "/api/v1/market/contracts", method: .post, headers: headers, body: ByteBuffer(string: contract)) {
                Int($0.status.code)
            }
            #expect(created == 201)
            var dso = Browser(client: client)
            #expect(try await dso.login("scd_dso") == 303)
            let month = try await dso.request("/console/settlements/2026-11")
            // 30 ISPs × 0.001 MW × 100.00 = 3.00; one miss, 5.00.
            #expect(month.status == 200 && month.body.contains("Availability contracts")
                && month.body.contains("<td>fo-1</td><td>dso-1</td><td>agr-1</td><td>cp-1</td><td class=\"num\">€ 3.00</td>"), "\(month.body)")
            #expect(month.body.contains("dso-1:r1 on 2026-11-26, ISP 40: every offer at cp-1 is over the price cap of 20000.00 per MWh"))
            var agr2 = Browser(client: client)
            #expect(try await agr2.login("scd_agr2") == 303)
            #expect(try await !agr2.request("/console/settlements/2026-11").body.contains("fo-1"), "another aggregator's contract")
            var tso = Browser(client: client)
            #expect(try await tso.login("scd_tso") == 303)
            #expect(try await tso.request("/console/settlements/2026-11").status == 403)
        }
    }

    @Test func theMarketOperatorRunsTheSettlementAndEachPartyReadsItsOwnStatements() async throws {
        let (app, _, round, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            var headers = HTTPFields()
            headers[.authorization] = "Bearer scd_dso"
            headers[.contentType] = "application/json"
            let ordered = try await client.execute(uri: "/api/v1/market/orders", method: .post, headers: headers,
                                                   body: ByteBuffer(string: #"{"round":"\#(round)","award":0}"#)) { Int($0.status.code) }
            #expect(ordered == 201)
            var mo = Browser(client: client)
            #expect(try await mo.login("scd_mo") == 303)
            let empty = try await mo.request("/console/statements/2026-11")
            #expect(empty.body.contains("No statement of 2026-11 yet"), "\(empty.body)")
            #expect(try await mo.request("/console/statements/2026-11/run", method: .post, form: [:]).status == 403, "no CSRF token, no run")
            let run = try await mo.request("/console/statements/2026-11/run", method: .post, form: ["csrf": Browser.field("csrf", in: empty.body)])
            #expect(run.status == 303 && run.location == "/console/statements/2026-11?issued=2", "\(run)")
            let listed = try await mo.request(run.location ?? "")
            #expect(listed.body.contains("The run issued 2 statement versions.")
                    && listed.body.contains(#"<a href="/console/statements/2026-11/dso/dso-1/v1">dso-1</a>"#)
                    && listed.body.contains(#"<a href="/console/statements/2026-11/aggregator/agr-1/v1">agr-1</a>"#), "\(listed.body)")

            var dso = Browser(client: client)
            #expect(try await dso.login("scd_dso") == 303)
            let own = try await dso.request("/console/statements/2026-11/dso/dso-1/v1")
            #expect(own.status == 200 && own.body.contains("Statement of account 2026-11") && own.body.contains("owes the net")
                    && own.body.contains(#"<a href="/console/orders/\#(round).0">\#(round).0</a></td><td>agr-1</td>"#), "\(own.body)")
            let csv = try await dso.request("/console/statements/2026-11/dso/dso-1/v1/csv")
            #expect(csv.status == 200 && csv.body.hasPrefix("month,party,role,version,kind,") && csv.body.contains(",activation,\(round).0,dso-1,agr-1,"))
            #expect(try await !dso.request("/console/statements/2026-11").body.contains("agr-1</a>"), "a DSO lists its own only")

            var tso = Browser(client: client)
            #expect(try await tso.login("scd_tso") == 303)
            let theirs = try await tso.request("/console/statements/2026-11")
            #expect(theirs.status == 200 && !theirs.body.contains("dso-1") && theirs.body.contains("No statement of 2026-11 for you yet"))
            #expect(try await tso.request("/console/statements/2026-11/dso/dso-1/v1").status == 404)
            var agr2 = Browser(client: client)
            #expect(try await agr2.login("scd_agr2") == 303)
            #expect(try await agr2.request("/console/statements/2026-11/aggregator/agr-1/v1").status == 404)
        }
    }

    /// FR20/FR21/FR26/FR29: the DSO pastes its profile of the 27th, sees the deficiency, requests it,
    /// and orders the award that answers it from the market day.
    @Test func theDSOImportsItsProfileRequestsTheDeficiencyAndOrdersTheAnswer() async throws {
        let (app, _, _, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            var dso = Browser(client: client)
            #expect(try await dso.login("scd_dso") == 303)
            let before = try await dso.request("/console/congestion/cp-1?day=2026-11-27")
            #expect(before.status == 200 && !before.body.contains("imported by") && !before.body.contains("Request the deficiency"))
            let csrf = Browser.field("csrf", in: before.body)
            let refused = try await dso.request("/console/congestion/cp-1/profile", method: .post,
                                                form: ["day": "2026-11-27", "csv": "isp;max_w\n97;4000", "csrf": csrf])
            #expect(refused.status == 400 && refused.body.contains("csv line 2: isp is a number 1–96"), "\(refused.body)")
            let csv = "isp;forecast_w;max_w\r\n39;3000;4000\r\n40;5000;4000\r\n41;3500;4000\r\n"
            let nothing = try await dso.request("/console/congestion/cp-1/profile", method: .post, form: ["day": "2026-11-27", "csv": " ", "csrf": csrf])
            #expect(nothing.status == 400 && nothing.body.contains("Choose the profile"))
            let unsigned = try await dso.upload("/console/congestion/cp-1/profile", fields: [("day", "2026-11-27"), ("csrf", "x")],
                                              file: ("file", "profile.csv", csv))
            #expect(unsigned.status == 403, "a file upload carries the session's CSRF token too")
            for (type, body) in [("multipart/form-data; boundary=xyz", "--xyz\r\nContent-Disposition: form-data; name=\"day\"\r\n\r\n2026"),
                                 ("multipart/form-data; boundary=xyz", String(repeating: "\u{0}", count: 512)),
                                 ("multipart/form-data", "--\r\n"), ("multipart/form-data; boundary=" + String(repeating: "b", count: 71), "")] {
                let status = try await client.execute(uri: "/console/congestion/cp-1/profile", method: .post,
                                                      headers: [.cookie: dso.cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; "), .contentType: type],
                                                      body: ByteBuffer(string: body)) { Int($0.status.code) }
                #expect([400, 415].contains(status), "a broken multipart form is refused: \(type)")
            }
            // The file as a browser uploads it (multipart/form-data), the text box left empty.
            let imported = try await dso.upload("/console/congestion/cp-1/profile", fields: [("csrf", csrf), ("day", "2026-11-27"), ("csv", "")],
                                                file: ("file", "profile.csv", csv))
            #expect(imported.status == 303 && imported.location == "/console/congestion/cp-1?day=2026-11-27", "\(imported)")
            let planned = try await dso.request(imported.location ?? "")
            #expect(planned.body.contains("profile, imported by DSO dso-1") && planned.body.contains("deficiency 1,000 W")
                    && planned.body.contains("Request the deficiency (1 ISPs, up to 1,000 W)"), "\(planned.body)")
            let requested = try await dso.request("/console/congestion/cp-1/requests", method: .post, form: ["day": "2026-11-27", "csrf": csrf])
            #expect(requested.status == 303 && requested.location == "/console/market/2026-11-27", "\(requested)")

            // agr-1 answers, the market operator clears early.
            func call(_ method: HTTPRequest.Method, _ path: String, _ token: String, _ body: String) async throws -> (Int, String) {
                var headers = HTTPFields()
                headers[.authorization] = "Bearer \(token)"
                headers[.contentType] = "application/json"
                return try await client.execute(uri: path, method: method, headers: headers, body: ByteBuffer(string: body)) {
                    (Int($0.status.code), String(buffer: $0.body))
                }
            }
            let offer = #"{"session":"day-ahead","day":"2026-11-27","id":"o7","location":"cp-1","price":"10","isps":[{"start":40,"power":-1000}],"pods":[{"pod":"POD-1"},{"pod":"POD-2"}]}"#
            #expect(try await call(.post, "/api/v1/market/offers", "scd_agr1", offer).0 == 201)
            let (cleared, round) = try await call(.post, "/api/v1/market/sessions/day-ahead/2026-11-27/clear", "scd_mo", "")
            #expect(cleared == 201, "\(round)")
            let roundID = try #require((try JSONSerialization.jsonObject(with: Data(round.utf8)) as? [String: Any])?["id"] as? String)
            // FR29/FR36: the award is selected and ordered from the point's day; agr-1 answered the request.
            let awarded = try await dso.request("/console/congestion/cp-1?day=2026-11-27")
            #expect(awarded.body.contains(#"name="award[]" value="\#(roundID).0""#) && awarded.body.contains("Order the selected awards")
                    && awarded.body.contains("<td>agr-1</td>") && awarded.body.contains("<td>1 of 1</td>"), "\(awarded.body)")
            let twice = try await dso.request("/console/congestion/cp-1/orders", method: .post,
                                              form: ["day": "2026-11-27", "award[]": "\(roundID).0", "award[]": "\(roundID).0", "csrf": csrf])
            #expect(twice.status == 409 && twice.body.contains("Ordered \(roundID).0; award \(roundID).0 was refused"), "\(twice.status) \(twice.body.suffix(400))")
            let none = try await dso.request("/console/congestion/cp-1/orders", method: .post, form: ["day": "2026-11-27", "csrf": csrf])
            #expect(none.status == 400 && none.body.contains("Select at least one award"))
            let forged = try await dso.request("/console/congestion/cp-1/orders", method: .post, form: ["day": "2026-11-27", "award[]": "\(roundID).0", "csrf": "x"])
            #expect(forged.status == 403)
            let order = try await dso.request("/console/orders/\(roundID).0")
            #expect(order.status == 200)
            let after = try await dso.request("/console/congestion/cp-1?day=2026-11-27")
            #expect(after.body.contains("−1,000 W to −1,000 W"), "the request stands at ISP 40")
            #expect(after.body.contains(#"<a href="/console/orders/\#(roundID).0">"#) && !after.body.contains("Order the selected awards"))
        }
    }

    /// FR44: the point's day sets each aggregator's orders beside what its sites delivered, as settled.
    @Test func thePointsDayShowsWhatEachAggregatorDeliveredOfItsOrders() async throws {
        let (market, store, outbox, _, folder) = try await MarketplaceTests.rig(clock: { MarketplaceTests.date("2026-11-25T13:00:00Z") })
        _ = folder
        let roundID = try await MarketStatementTests.november(market, store, outbox)
        let (app, _) = try await Self.serve(market, store)
        try await app.test(.router) { client in
            var dso = Browser(client: client)
            #expect(try await dso.login("scd_dso") == 303)
            let page = try await dso.request("/console/congestion/cp-1?day=2026-11-26")
            // 1,000 W at ISP 40 and 400 W at ISP 41 ordered (350 Wh); delivered 62.5 + 100 Wh, each order rounded; POD-2's ISP 40 is not certified.
            let row = try #require(page.body.components(separatedBy: "<tr>").first { $0.hasPrefix("<td>agr-1</td>") })
            #expect(row.contains(#"<td class="num">2</td><td class="num">350 Wh</td><td class="num">163 Wh</td><td class="num">46 %</td><td class="num">1</td>"#), "\(row)")
            #expect(page.body.contains(#"<a href="/console/orders/\#(roundID).0">"#))
        }
    }

    /// A DSO's statement of many lines is read a page at a time; every line is one link away, to print.
    @Test func aLongStatementIsPagedOnScreenAndWholeInItsPrintAndCSV() async throws {
        let (market, store, _, _, folder) = try await MarketplaceTests.rig(clock: { MarketplaceTests.date("2026-12-02T08:00:00Z") })
        _ = folder
        let lines = (1...600).map {
            StatementLine(kind: .activation, reference: String(format: "r.%03d", $0), buyer: "dso-1", aggregator: "agr-1", day: "2026-11-26",
                          location: "cp-1", deliveredWh: 250, settled: 1, unsettled: 0, fee: Money(cents: Int64($0)), penalty: .zero)
        }
        let statement = try #require(Statement.issue(month: "2026-11", party: "dso-1", role: .dso, lines: lines, after: nil,
                                                     issued: MarketplaceTests.date("2026-12-02T08:00:00Z").millisecondsSince1970, monthEnded: true))
        #expect(try await store.put(MarketStatement(statement: statement), replace: false))
        let (app, _) = try await Self.serve(market, store)
        try await app.test(.router) { client in
            var dso = Browser(client: client)
            #expect(try await dso.login("scd_dso") == 303)
            let path = "/console/statements/2026-11/dso/dso-1/v1"
            let first = try await dso.request(path)
            #expect(first.status == 200 && first.body.contains("Showing rows 1–250 of 600.") && first.body.contains(">r.250<")
                    && !first.body.contains(">r.251<") && first.body.contains(#"href="\#(path)?page=2" rel="next""#)
                    && first.body.contains(#"<a href="\#(path)?page=all">every line</a>, to print"#), "\(first.body.suffix(2000))")
            let last = try await dso.request(path + "?page=3")
            #expect(last.body.contains("Showing rows 501–600 of 600.") && last.body.contains(">r.600<") && !last.body.contains(#"rel="next""#))
            #expect(try await dso.request(path + "?page=99").body.contains("Showing rows 501–600 of 600."), "past the end: the last page")
            let every = try await dso.request(path + "?page=all")
            #expect(every.body.contains(">r.001<") && every.body.contains(">r.600<") && every.body.contains("print this page for a paper statement"))
            let csv = try await dso.request(path + "/csv")
            #expect(csv.body.split(separator: "\n").count == 602, "the CSV holds its header, every line and the total")
        }
    }

    /// FR07/FR17/FR18: the DSO registers a contract and releases a day through the forms; the
    /// aggregator reads it, another aggregator does not see it.
    @Test func theDSORegistersAContractAndReleasesADayOnScreen() async throws {
        let (app, _, _, folder) = try await Self.application()
        _ = folder
        try await app.test(.router) { client in
            var dso = Browser(client: client)
            #expect(try await dso.login("scd_dso") == 303)
            let empty = try await dso.request("/console/contracts?month=2026-11")
            #expect(empty.status == 200 && empty.body.contains("No availability contract yet") && empty.body.contains("Register a contract")
                    && !empty.body.contains(#"id="c-buyer""#), "a DSO buys for itself")
            let csrf = Browser.field("csrf", in: empty.body)
            let fields: KeyValuePairs<String, String> = [
                "id": "fo-7", "aggregator": "agr-1", "congestion_point": "cp-1", "first_day": "2026-11-26", "last_day": "2026-12-31",
                "weekdays[]": "1", "weekdays[]": "4", "first_isp": "40", "last_isp": "43", "power_w": "-1000", "fee_kind": "per_mw_per_isp",
                "fee": "2.00", "price_cap_per_mwh": "300", "penalty_per_miss": "15", "csrf": csrf,
            ]
            var bad = fields.map { ($0.key, $0.value) }
            bad[bad.firstIndex { $0.0 == "power_w" }!].1 = "a lot"
            let refused = try await dso.request("/console/contracts", method: .post, fields: bad)
            #expect(refused.status == 400 && refused.body.contains("power_w: a whole number"), "\(refused.body.suffix(500))")
            bad[bad.firstIndex { $0.0 == "power_w" }!].1 = "0"
            let zero = try await dso.request("/console/contracts", method: .post, fields: bad)
            #expect(zero.status == 400 && zero.body.contains("power_w: not 0"), "the market's own checks name the field")
            let registered = try await dso.request("/console/contracts", method: .post, form: fields)
            #expect(registered.status == 303 && registered.location == "/console/contracts?month=2026-11#contract-fo-7", "\(registered)")
            let page = try await dso.request("/console/contracts?month=2026-11")
            #expect(page.body.contains("Contract fo-7") && page.body.contains("<dd>dso-1</dd>") && page.body.contains("2026-11-26 to 2026-12-31 (Mon, Thu)")
                    && page.body.contains("€ 2.00 per MW and service ISP") && page.body.contains("−1,000 W"), "\(page.body)")
            let badISPs = try await dso.request("/console/contracts/fo-7/releases", method: .post, form: ["day": "2026-11-26", "isps": "40-999", "csrf": csrf])
            #expect(badISPs.status == 400 && badISPs.body.contains("isps: ISP numbers of the day (1–96)"))
            let released = try await dso.request("/console/contracts/fo-7/releases", method: .post, form: ["day": "2026-11-26", "isps": "40-41", "csrf": csrf])
            #expect(released.status == 303, "\(released)")
            #expect(try await dso.request("/console/contracts?month=2026-11").body.contains("2026-11-26: ISPs 40–41 by DSO dso-1"))
            let notService = try await dso.request("/console/contracts/fo-7/releases", method: .post, form: ["day": "2026-11-27", "csrf": csrf])
            #expect(notService.status == 400 && notService.body.contains("no service ISP"), "a Friday is not in service")

            var agr1 = Browser(client: client), agr2 = Browser(client: client)
            #expect(try await agr1.login("scd_agr1") == 303)
            let held = try await agr1.request("/console/contracts?month=2026-11")
            #expect(held.body.contains("Contract fo-7") && !held.body.contains("Register a contract") && !held.body.contains("/releases"))
            #expect(try await agr1.request("/console/contracts", method: .post, form: fields).status == 403)
            #expect(try await agr2.login("scd_agr2") == 303)
            #expect(!(try await agr2.request("/console/contracts?month=2026-11").body.contains("fo-7")))
        }
    }
}

