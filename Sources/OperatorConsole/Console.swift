import Foundation
import GridCore
import HTTPTypes
import Hummingbird
import Logging
import Market
import MarketOperations
import Mustache
import MultipartKit
import PlatformAPI
import ReadingsIngest
import SCD
import Sodium

/// The operator console under `/console` (docs/console.md): pages rendered here from the same
/// store and market as the REST API, with the same roles and scoping. No script, font or style
/// from elsewhere: it works on an isolated operations network.
public struct Console: Sendable {
    package let store: any SCDStore
    package let ingest: Ingest
    package let market: Marketplace
    package let log: CertificationLog
    package let sessions: ConsoleSessions
    /// Session cookies marked `Secure` (TLS terminated in front of the coordinator).
    package let secureCookies: Bool
    /// The Light Nodes' reading interval: a longer silence in a day's readings is a gap.
    package let readingIntervalMs: Int64
    package let logger: Logger
    package let library: MustacheLibrary
    /// Monthly settlements kept between views of the settlement screen.
    package let settlements = SettlementSnapshots()
    let maxFormBytes = 16 << 10

    static let sessionCookie = "console_session"
    static let loginCookie = "console_login"
    /// A node heard from within this long is online.
    static let onlineWithinMs: Int64 = 60_000

    public init(store: any SCDStore, ingest: Ingest, market: Marketplace, log: CertificationLog, sessions: ConsoleSessions,
                secureCookies: Bool, readingIntervalMs: Int64, logger: Logger) throws {
        self.store = store
        self.ingest = ingest
        self.market = market
        self.log = log
        self.sessions = sessions
        self.secureCookies = secureCookies
        self.readingIntervalMs = readingIntervalMs
        self.logger = logger
        var library = MustacheLibrary()
        for (name, bytes) in [("layout", PackageResources.layout_mustache), ("login", PackageResources.login_mustache),
                              ("message", PackageResources.message_mustache), ("fleet", PackageResources.fleet_mustache),
                              ("node", PackageResources.node_mustache), ("proof", PackageResources.proof_mustache),
                              ("market", PackageResources.market_mustache), ("order", PackageResources.order_mustache),
                              ("settlement", PackageResources.settlement_mustache),
                              ("statements", PackageResources.statements_mustache), ("statement", PackageResources.statement_mustache),
                              ("contracts", PackageResources.contracts_mustache), ("pager", PackageResources.pager_mustache),
                              ("congestion-index", PackageResources.congestion_index_mustache),
                              ("congestion", PackageResources.congestion_mustache)] {
            try library.register(String(decoding: bytes, as: UTF8.self), named: name)
        }
        self.library = library
    }

    package var time: MarketTime { MarketTime(zone: market.calendar.timeZone) }

    public func register(on router: Router<APIContext>) {
        router.get("/console/static/console.css") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/css; charset=utf-8"
            headers[.cacheControl] = "max-age=3600"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.console_css)))
        }
        router.get("/console/login") { request, _ in loginPage(request, problem: nil) }
        router.post("/console/login") { request, _ in try await login(request) }
        let pages = router.group("/console").add(middleware: ConsoleAuthentication(console: self))
        pages.get("/") { _, context in
            // Each role lands where it may look: the TSO and aggregators have no fleet screen.
            Self.redirect([.aggregator, .tso].contains(try session(context).caller.role) ? "/console/market" : "/console/fleet")
        }
        pages.post("/logout") { request, context in try await logout(request, context) }
        let platform = Self.platformRoles, grid = Self.gridRoles, market = Self.marketRoles
        pages.admitting(platform, to: "the fleet overview", self).get("/fleet") { request, context in try await fleet(request, context) }
        pages.admitting(platform, to: "a Light Node's page", self).get("/nodes/:node") { request, context in try await node(request, context) }
        pages.get("/nodes/:node/readings") { request, context in
            guard let seq = request.uri.queryParameters["seq"].flatMap({ UInt64($0) }), Bounds.seq.contains(seq) else {
                throw Problem(.badRequest, "The reading's number is a ledger seq, 1 to \(Bounds.seq.upperBound).", field: "seq")
            }
            return Self.redirect("/console/nodes/\(try context.parameters.require("node"))/readings/\(seq)")
        }
        pages.admitting(platform, to: "a reading's proof", self).get("/nodes/:node/readings/:seq") { _, context in try await proof(context) }
        pages.get("/market") { request, _ in
            let day = request.uri.queryParameters["day"].map(String.init).flatMap { self.market.calendar.start(of: $0) != nil ? $0 : nil }
            return Self.redirect("/console/market/\(day ?? self.market.calendar.day(of: Timestamp.now()))")
        }
        pages.admitting(grid, to: "the congestion points", self).get("/congestion") { request, context in try await congestionPoints(request, context) }
        pages.admitting(grid, to: "a congestion point's day", self).get("/congestion/:point") { request, context in
            try await congestionDay(request, context)
        }
        let planning = pages.admitting([.admin, .dso], to: "planning a congestion point", self)
        planning.post("/congestion/:point/profile") { request, context in try await importProfile(request, context) }
        planning.post("/congestion/:point/requests") { request, context in try await requestDeficiency(request, context) }
        planning.post("/congestion/:point/orders") { request, context in try await orderSelected(request, context) }
        pages.admitting(market, to: "the market", self).get("/market/:day") { request, context in try await marketDay(request, context) }
        pages.admitting([.admin, .dso, .tso], to: "ordering", self).post("/market/:day/orders") { request, context in
            try await placeOrder(request, context)
        }
        pages.admitting([.admin, .dso], to: "validating a round", self).post("/market/:day/rounds/:round/validation") { request, context in
            try await validateRound(request, context)
        }
        pages.admitting(market, to: "an order", self).get("/orders/:id") { _, context in try await order(context) }
        pages.admitting([.admin, .dso, .tso], to: "cancelling an order", self).post("/orders/:id/cancellation") { request, context in
            try await cancelOrder(request, context)
        }
        pages.admitting([.admin, .dso, .tso, .marketOperator], to: "withdrawing a request", self)
            .post("/market/:day/requests/:request/withdrawal") { request, context in try await withdrawRequest(request, context) }
        pages.get("/settlements") { _, _ in
            Self.redirect("/console/settlements/\(String(self.market.calendar.day(of: Timestamp.now()).prefix(7)))")
        }
        let settlements = pages.admitting([.admin, .dso, .marketOperator, .aggregator], to: "the settlement", self)
        settlements.get("/settlements/:month") { request, context in try await settlement(request, context, csv: false) }
        settlements.get("/settlements/:month/csv") { request, context in try await settlement(request, context, csv: true) }
        let contracts = pages.admitting([.admin, .dso, .marketOperator, .aggregator], to: "the availability contracts", self)
        contracts.get("/contracts") { request, context in try await self.contracts(request, context) }
        let contracting = pages.admitting([.admin, .dso], to: "registering or releasing a contract", self)
        contracting.post("/contracts") { request, context in try await registerContract(request, context) }
        contracting.post("/contracts/:id/releases") { request, context in try await releaseContract(request, context) }
        pages.get("/statements") { _, _ in
            Self.redirect("/console/statements/\(String(self.market.calendar.day(of: Timestamp.now()).prefix(7)))")
        }
        let statements = pages.admitting([.admin, .dso, .tso, .marketOperator, .aggregator], to: "the statements of account", self)
        statements.get("/statements/:month") { request, context in try await self.statements(request, context) }
        statements.get("/statements/:month/:role/:party/:version") { request, context in try await statement(request, context, csv: false) }
        statements.get("/statements/:month/:role/:party/:version/csv") { request, context in try await statement(request, context, csv: true) }
        pages.admitting([.admin, .marketOperator], to: "a settlement run", self).post("/statements/:month/run") { request, context in
            try await runSettlement(request, context)
        }
    }

    // MARK: Sessions

    package func session(_ context: APIContext) throws -> ConsoleSessions.Session {
        guard let session = context.session else { throw Problem(.unauthorized, "log in first") }
        return session
    }

    private func loginPage(_ request: Request, problem: String?, status: HTTPResponse.Status = .ok) -> Response {
        // Login CSRF: the form's token must come back with the cookie set beside it.
        let token = ConsoleSessions.secret()
        var response = html(render("login", LoginPage(csrf: token, problem: problem, zone: time.zoneLabel(at: Timestamp.now()))),
                            status: status)
        response.setCookie(cookie(Self.loginCookie, token, maxAge: 3600))
        return response
    }

    package struct LoginForm: ConsoleForm {
        package var token: String
        package var csrf: String?
    }

    private func login(_ request: Request) async throws -> Response {
        let form = try await decodeForm(LoginForm.self, request)
        guard let expected = request.cookies[Self.loginCookie]?.value, let presented = form.csrf,
              ConsoleSessions.equal(presented, expected) else {
            logger.warning("console: login refused: the form's token does not match its cookie (stale page or cross-site post)")
            return loginPage(request, problem: "The login form expired. Please try again.", status: .forbidden)
        }
        guard let caller = try await store.caller(presenting: form.token.trimmingCharacters(in: .whitespaces)) else {
            logger.warning("console: login refused: unknown token")
            return loginPage(request, problem: "That token is not valid.", status: .unauthorized)
        }
        let session = await sessions.open(for: caller, replacing: request.cookies[Self.sessionCookie]?.value,
                                          now: Timestamp.realNow().millisecondsSince1970)
        logger.notice("console: \(caller.role.rawValue) \(caller.participant ?? "-") logged in")
        var response = Self.redirect(caller.role == .aggregator ? "/console/market" : "/console/fleet")
        response.setCookie(cookie(Self.sessionCookie, session.id, maxAge: nil))
        response.setCookie(cookie(Self.loginCookie, "", maxAge: 0))
        return response
    }

    /// A form of the console: each carries a CSRF token (absent from a forged one).
    package protocol ConsoleForm: Decodable {
        var csrf: String? { get }
    }

    package struct LogoutForm: ConsoleForm {
        package var csrf: String?
    }

    private func logout(_ request: Request, _ context: APIContext) async throws -> Response {
        let session = try session(context)
        _ = try await form(LogoutForm.self, request, context)
        await sessions.close(session.id)
        var response = Self.redirect("/console/login")
        response.setCookie(cookie(Self.sessionCookie, "", maxAge: 0))
        return response
    }

    private func cookie(_ name: String, _ value: String, maxAge: Int?) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/console", secure: secureCookies, httpOnly: true, sameSite: .strict)
    }

    /// A form posted by a page of this session: its CSRF token must be the session's.
    package func form<Form: ConsoleForm>(_ type: Form.Type, _ request: Request, _ context: APIContext) async throws -> Form {
        let session = try session(context)
        let form = try await decodeForm(type, request)
        guard let csrf = form.csrf, ConsoleSessions.equal(csrf, session.csrf) else {
            logger.warning("console: \(session.caller.role.rawValue) \(session.caller.participant ?? "-"): a form without this session's CSRF token was refused: \(request.uri.path)")
            throw Problem(.forbidden, "the form's CSRF token is missing or not this session's; reload the page")
        }
        return form
    }

    /// A form posted URL-encoded, or as multipart/form-data where it carries a file (a profile's CSV).
    private func decodeForm<Form: ConsoleForm>(_ type: Form.Type, _ request: Request) async throws -> Form {
        let contentType = request.headers[.contentType] ?? ""
        let boundary = Self.multipartBoundary(contentType)
        guard contentType.hasPrefix("application/x-www-form-urlencoded") || boundary != nil else {
            throw Problem(.unsupportedMediaType, "forms are posted as application/x-www-form-urlencoded or multipart/form-data")
        }
        var request = request
        let bytes: ByteBuffer
        do {
            bytes = try await request.collectBody(upTo: maxFormBytes)
        } catch {
            throw Problem(.contentTooLarge, "a form is at most \(maxFormBytes) bytes")
        }
        do {
            if let boundary { return try FormDataDecoder().decode(Form.self, from: bytes, boundary: boundary) }
            return try URLEncodedFormDecoder().decode(Form.self, from: String(buffer: bytes))
        } catch {
            throw Problem(.badRequest, "the form is incomplete or malformed")
        }
    }

    /// The boundary of a `multipart/form-data` content type; nil for any other.
    static func multipartBoundary(_ contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() where part.lowercased().hasPrefix("boundary=") {
            let value = part.dropFirst("boundary=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            return (1...70).contains(value.utf8.count) ? value : nil
        }
        return nil
    }

    // MARK: Access

    func denied(_ session: ConsoleSessions.Session, _ what: String) {
        logger.warning("console: \(session.caller.role.rawValue) \(session.caller.participant ?? "-") was refused \(what)")
    }

    /// An aggregator's own name (it sees only its own data); nil for platform roles.
    package func scope(_ session: ConsoleSessions.Session) -> String? {
        session.caller.role == .aggregator ? session.caller.participant ?? "" : nil
    }

    // MARK: Rendering

    func chrome(_ session: ConsoleSessions.Session, _ title: String, _ section: String) -> Chrome {
        let role = session.caller.role
        var nav: [Chrome.Link] = []
        if [.admin, .dso, .marketOperator].contains(role) { nav.append(.init(href: "/console/fleet", label: "Fleet", current: section == "fleet")) }
        if Self.gridRoles.contains(role) {
            nav.append(.init(href: "/console/congestion", label: "Congestion points", current: section == "grid"))
        }
        if role != .brp { nav.append(.init(href: "/console/market", label: "Market", current: section == "market")) }
        if [.admin, .dso, .marketOperator, .aggregator].contains(role) {
            nav.append(.init(href: "/console/settlements", label: "Settlement", current: section == "settlement"))
        }
        if [.admin, .dso, .marketOperator, .aggregator].contains(role) {
            nav.append(.init(href: "/console/contracts", label: "Contracts", current: section == "contracts"))
        }
        if [.admin, .dso, .tso, .marketOperator, .aggregator].contains(role) {
            nav.append(.init(href: "/console/statements", label: "Statements", current: section == "statements"))
        }
        return Chrome(title: title, role: role.rawValue, participant: session.caller.participant, csrf: session.csrf, nav: nav,
                      zone: time.zoneLabel(at: Timestamp.now()))
    }

    package func render(_ template: String, _ page: Any) -> String {
        library.render(page, withTemplate: template) ?? ""
    }

    func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        Self.hardened(&headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Only this origin's style sheet and forms; no script, frame or plug-in; nothing cached.
    static func hardened(_ headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        headers[.cacheControl] = "no-store"
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    /// A refusal or failure as a page of the console (the API's problems, rendered).
    func errorPage(_ problem: Problem, _ context: APIContext) -> Response {
        let page = MessagePage(chrome: context.session.map { chrome($0, problem.status.reasonPhrase, "") }, heading: problem.status.reasonPhrase,
                               detail: problem.detail)
        return html(render("message", page), status: problem.status)
    }
}

/// Pages need a session: without one (or with an expired one) the browser is sent to the login.
/// Refusals and failures are shown as pages, not as the API's JSON problems.
package struct ConsoleAuthentication: RouterMiddleware {
    package let console: Console

    package func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard let id = request.cookies[Console.sessionCookie]?.value, id.utf8.count < 128,
              let session = await console.sessions.session(id, now: Timestamp.realNow().millisecondsSince1970) else {
            if request.method == .get { return Console.redirect("/console/login") }
            return console.errorPage(Problem(.unauthorized, "The session has ended; log in again."), context)
        }
        var context = context
        context.caller = session.caller
        context.session = session
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return console.errorPage(problem, context)
        } catch let refusal as MarketRefusal {
            return console.errorPage(API.problem(refusal), context)
        } catch let error as HTTPError {
            return console.errorPage(Problem(error.status, error.body ?? error.status.reasonPhrase), context)
        } catch {
            console.logger.error("console: \(request.uri.path): \(error)")
            return console.errorPage(Problem(.internalServerError, "The page could not be made; the coordinator's log says why."), context)
        }
    }
}

/// A page's roles, checked before its handler runs; the others are refused (and logged) with a
/// page: the console's counterpart of the API's `RoleRequirement`.
package struct PageAccess: RouterMiddleware {
    package let roles: Set<Role>
    package let what: String
    package let console: Console

    package func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        let session = try console.session(context)
        guard roles.contains(session.caller.role) else {
            console.denied(session, what)
            throw Problem(.forbidden, "role \(session.caller.role.rawValue) may not open \(what)")
        }
        return try await next(request, context)
    }
}

extension RouterGroup where Context == APIContext {
    /// This group's pages, opened only to `roles`.
    package func admitting(_ roles: Set<Role>, to what: String, _ console: Console) -> RouterGroup<APIContext> {
        group().add(middleware: PageAccess(roles: roles, what: what, console: console))
    }
}

/// Every page's frame: title, who is logged in, navigation, the market's time zone.
package struct Chrome {
    package struct Link {
        let href: String
        package let label: String
        package let current: Bool
    }
    package let title: String
    package let role: String
    package let participant: String?
    package let csrf: String
    let nav: [Link]
    package let zone: String
}

/// An option of a form's select: its value, what it shows, and whether it is the one chosen.
package struct Choice {
    package let value: String
    package let label: String
    package let selected: Bool
}

package struct LoginPage {
    package let csrf: String
    package let problem: String?
    package let zone: String
}

package struct MessagePage {
    let chrome: Chrome?
    let heading: String
    package let detail: String
}

/// Times as the market reads them: local to its zone, with the UTC offset.
package struct MarketTime {
    package let zone: TimeZone
    private let calendar: Calendar

    package init(zone: TimeZone) {
        self.zone = zone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        self.calendar = calendar
    }

    /// `2026-11-27 00:15` (with its offset on a day the clocks change)
    package func format(_ time: Timestamp, seconds: Bool = false) -> String {
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(time))
        let text = String(format: "%04d-%02d-%02d %02d:%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0, parts.minute ?? 0)
        return (seconds ? text + String(format: ":%02d", parts.second ?? 0) : text) + offsetNote(time)
    }

    /// `14:05:12`
    package func clock(_ time: Timestamp) -> String {
        let parts = calendar.dateComponents([.hour, .minute, .second], from: Date(time))
        return String(format: "%02d:%02d:%02d", parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0)
    }

    /// A time as the console shows it: `14:05:12` or `14:05`, and on a day the clocks change its
    /// offset too, `02:15 UTC+01:00` (that day has two 02:15s, or none).
    package func shown(_ time: Timestamp, seconds: Bool = true) -> String {
        (seconds ? clock(time) : String(clock(time).prefix(5))) + offsetNote(time)
    }

    /// An RFC 3339 time as stored (set-points, alerts), shown; the text itself if it is none.
    package func shown(rfc3339 text: String) -> String {
        Timestamp(rfc3339: text).map { shown($0) } ?? text
    }

    /// ` UTC+02:00` on a local day whose offset changes, else nothing.
    private func offsetNote(_ time: Timestamp) -> String {
        let start = calendar.startOfDay(for: Date(time))
        guard let next = calendar.date(byAdding: .day, value: 1, to: start),
              zone.secondsFromGMT(for: start) != zone.secondsFromGMT(for: next.addingTimeInterval(-1)) else { return "" }
        return " " + offset(at: time)
    }

    /// `Europe/Rome (UTC+01:00)`
    func zoneLabel(at time: Timestamp) -> String {
        "\(zone.identifier) (\(offset(at: time)))"
    }

    package func offset(at time: Timestamp) -> String {
        let seconds = zone.secondsFromGMT(for: Date(time))
        return String(format: "UTC%@%02d:%02d", seconds < 0 ? "−" : "+", abs(seconds) / 3600, abs(seconds) % 3600 / 60)
    }
}

/// Numbers with their units, grouped in thousands.
package enum Units {
    package static func watts(_ value: Double) -> String { "\(grouped(value)) W" }
    static func wattHours(_ value: Double) -> String { "\(grouped(value)) Wh" }

    /// Stored values from before today's bounds may be anything: what no counter of this world
    /// reaches is shown in scientific notation, a non-number as such.
    package static func grouped(_ value: Double) -> String {
        guard value.isFinite else { return "not a number" }
        guard abs(value) < 1e18 else { return String(format: "%.3e", value) }
        let rounded = Int64(value.rounded())
        let digits = String(rounded.magnitude)
        var text = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(character)
        }
        return rounded < 0 ? "−" + text : text
    }

    /// An amount: `€ 1,234.50`, `−€ 3.10`.
    package static func euros(_ value: Money) -> String {
        let text = value.description.trimmingPrefix("-")
        let whole = grouped(Double(text.prefix { $0 != "." }) ?? 0)
        return (value.cents < 0 ? "−" : "") + "€ " + whole + "." + text.suffix(2)
    }

    /// A price per MWh (a request's limit, a ranking figure): `€ 45.00/MWh`.
    package static func perMWh(_ price: Money) -> String { euros(price) + "/MWh" }

    /// A whole price with its figure per MWh: `€ 45.00 (€ 30,000.00/MWh)`.
    package static func price(_ total: Money, perMWh: Money?) -> String {
        euros(total) + (perMWh.map { " (\(Self.perMWh($0)))" } ?? "")
    }

    package static func duration(ms: Int64) -> String {
        let seconds = ms / 1000
        if seconds < 120 { return "\(seconds) s" }
        if seconds < 7200 { return "\(seconds / 60) min" }
        return "\(seconds / 3600) h \(seconds % 3600 / 60) min"
    }
}
