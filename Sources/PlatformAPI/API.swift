import Certification
import Foundation
import GridCore
import Hummingbird
import Ledger
import MarketOperations
import Prometheus
import ReadingsIngest
import SCD
import Sodium
import UFTP
import UFTPGateway

/// Request context carrying the authenticated caller.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    package var caller: TokenRecord?
    /// The console's session (console pages only).
    package var session: ConsoleSessions.Session?

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// An RFC 9457 problem answer (`application/problem+json`), naming the offending field.
package struct Problem: HTTPResponseError {
    package let status: HTTPResponse.Status
    package let detail: String
    package var field: String?

    package init(_ status: HTTPResponse.Status, _ detail: String, field: String? = nil) {
        self.status = status
        self.detail = detail
        self.field = field
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        var writer = JSONObjectWriter()
        writer.string("type", "about:blank")
        writer.string("title", status.reasonPhrase)
        writer.integer("status", Int64(status.code))
        writer.string("detail", detail)
        if let field { writer.string("field", field) }
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: writer.finish())))
    }
}

/// `Authorization: Bearer <token>` → the token's record (only its SHA-256 is stored).
package struct BearerAuthentication: RouterMiddleware {
    package let store: any SCDStore

    package func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "), header.utf8.count < 512 else {
            throw Problem(.unauthorized, "a bearer token is required")
        }
        let token = header.dropFirst("Bearer ".count)
        guard let record = try await store.caller(presenting: token) else {
            throw Problem(.unauthorized, "the bearer token is not valid")
        }
        var context = context
        context.caller = record
        return try await next(request, context)
    }
}

/// The SCD's REST API under `/api/v1` (docs/openapi.yaml), plus `/metrics` and `/healthz`.
public struct API: Sendable {
    package let store: any SCDStore
    package let log: CertificationLog
    package let readiness: Readiness
    package let metrics: PrometheusCollectorRegistry
    package let maxRequestBytes: Int
    /// The DSO's UFTP actions, when this platform plays the DSO role.
    package let uftpActions: UFTPActions?
    /// The flexibility market.
    package let market: Marketplace?
    /// The most a raw query may span (a day of 4-s readings is 21,600 items).
    static let maximumRawSpanMs: Int64 = 2 * 86_400_000
    static let maximumQuarterSpanMs: Int64 = 400 * 86_400_000

    /// docs/openapi.yaml (a link to the copy compiled in), served as it is.
    static let openAPIDocument = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)

    /// Page size of listings when the caller names none, and the most it may ask for.
    static let defaultPageSize = 100
    static let maximumPageSize = 1000

    public init(store: any SCDStore, log: CertificationLog, metrics: PrometheusCollectorRegistry, readiness: Readiness,
                maxRequestBytes: Int, uftpActions: UFTPActions? = nil, market: Marketplace? = nil) {
        self.uftpActions = uftpActions
        self.market = market
        self.store = store
        self.log = log
        self.readiness = readiness
        self.metrics = metrics
        self.maxRequestBytes = maxRequestBytes
    }

    public func router() -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        router.get("/healthz") { _, _ in text("ok\n") }
        router.get("/readyz") { _, _ in
            guard readiness.isReady else { throw Problem(.serviceUnavailable, "the readings subscription is not acknowledged yet") }
            return text("ready\n")
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
        }
        router.get("/api/v1/openapi.yaml") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/yaml"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: API.openAPIDocument)))
        }
        let api = router.group("/api/v1").add(middleware: BearerAuthentication(store: store))
        api.get("/pods") { request, context in try await listPODs(request, context) }
        api.get("/pods/:pod") { _, context in try await readPOD(context) }
        api.allowing([.admin]).put("/pods/:pod") { request, context in try await writePOD(request, context) }
        api.get("/pods/:pod/measurements") { request, context in try await measurements(request, context) }
        api.get("/pods/:pod/nodes/:node/readings/:seq/proof") { _, context in try await readingProof(context) }
        api.allowing([.admin, .dso, .tso, .marketOperator, .brp]).get("/pods/:pod/baselines/:day") { _, context in try await readBaseline(context) }
        api.allowing([.brp]).put("/pods/:pod/baselines/:day") { request, context in try await writeBaseline(request, context) }
        api.allowing([.admin, .dso, .tso, .marketOperator, .aggregator]).get("/customer-lists/:day") { _, context in try await readCustomerList(context) }
        api.allowing([.aggregator]).put("/customer-lists/:day") { request, context in try await writeCustomerList(request, context) }
        api.allowing([.admin, .dso, .marketOperator]).get("/nodes") { _, context in try await listNodes(context) }
        api.allowing([.admin]).post("/nodes") { request, context in try await addNode(request, context) }
        api.get("/log/checkpoint") { _, _ in try await checkpoint() }
        api.get("/log/key") { _, _ in text(log.verifier.text + "\n") }
        api.get("/log/consistency") { request, _ in try await consistency(request) }
        api.allowing([.admin, .dso]).get("/uftp/messages") { request, context in try await uftpMessages(request, context) }
        for action in UFTPAction.allCases {
            // A DSO's actions are the DSO's (or the administrator's); an aggregator's are the platform's
            // own, the administrator's (an aggregator token is a market participant's, not this platform's).
            api.allowing(action.role == .dso ? [.admin, .dso] : [.admin]).post("/uftp/\(action.resource)") { request, _ in
                let actions = try uftpActions(action)
                let draft = try await body(request)
                return try await act { try await actions.perform(action, draft: draft) }
            }
        }
        if let market { addMarketRoutes(api, market) }
        return router
    }

    // MARK: Authorization

    package func caller(_ context: APIContext) throws -> TokenRecord {
        guard let caller = context.caller else { throw Problem(.unauthorized, "a bearer token is required") }
        return caller
    }

    /// The platform's UFTP actions, when it plays the action's role.
    func uftpActions(_ action: UFTPAction) throws -> UFTPActions {
        guard let uftpActions else { throw Problem(.notFound, UFTPActions.Refusal.notPlayed(action.role).description) }
        return uftpActions
    }

    /// A UFTP action: 202 with the queued message, or the refusal as a problem.
    func act(_ action: () async throws -> UFTPActions.Receipt) async throws -> Response {
        do {
            return try json(try await action(), status: .accepted)
        } catch let refusal as UFTPActions.Refusal {
            switch refusal {
            case .invalid(let field, let message): throw Problem(.badRequest, message, field: field)
            case .unknown(let message): throw Problem(.notFound, message)
            case .conflict(let message): throw Problem(.conflict, message)
            case .notPlayed: throw Problem(.notFound, refusal.description)
            }
        }
    }

    /// Platform roles see every POD; an aggregator only those it aggregates, a BRP those in its portfolio.
    func mayRead(_ pod: PODRecord, _ caller: TokenRecord) -> Bool {
        switch caller.role {
        case .admin, .dso, .tso, .marketOperator: true
        case .aggregator: caller.participant != nil && pod.aggregator == caller.participant
        case .brp: caller.participant != nil && pod.brp == caller.participant
        }
    }

    /// The POD if the caller may read it; a POD it may not see is "not found", not "forbidden",
    /// so identifiers of other participants' customers do not leak.
    func visiblePOD(_ context: APIContext) async throws -> PODRecord {
        let id = try context.parameters.require("pod")
        guard let pod = try await store.pod(id), mayRead(pod, try caller(context)) else {
            throw Problem(.notFound, "no POD \"\(id)\"", field: "pod")
        }
        return pod
    }

    // MARK: Handlers

    /// `?limit=` and `?after=` (the last id of the previous page); the answer's `next` is the cursor
    /// of the following page, absent on the last.
    func page(_ request: Request) throws -> (after: String?, limit: Int) {
        let query = request.uri.queryParameters
        var limit = Self.defaultPageSize
        if let text = query["limit"] {
            guard let value = Int(text), (1...Self.maximumPageSize).contains(value) else {
                throw Problem(.badRequest, "limit must be 1…\(Self.maximumPageSize)", field: "limit")
            }
            limit = value
        }
        return (query["after"].map(String.init), limit)
    }

    func listPODs(_ request: Request, _ context: APIContext) async throws -> Response {
        let caller = try caller(context)
        let (after, limit) = try page(request)
        var pods: [PODRecord] = []
        var cursor = after
        var exhausted = false
        // A BRP's PODs are filtered here: pages are refilled until full or the table ends.
        while pods.count < limit && !exhausted {
            let batch = try await store.pods(aggregator: caller.role == .aggregator ? caller.participant ?? "" : nil,
                                             after: cursor, limit: limit + 1)
            exhausted = batch.count <= limit
            cursor = batch.last?.id
            pods += batch.filter { mayRead($0, caller) }
        }
        let next = pods.count > limit || (!exhausted && pods.count == limit) ? pods[limit - 1].id : nil
        return try json(Page(items: Array(pods.prefix(limit)), next: next))
    }

    /// The UFTP message log, in storage order: one conversation's, or a sender's message ID.
    func uftpMessages(_ request: Request, _ context: APIContext) async throws -> Response {
        let (after, limit) = try page(request)
        var cursor: Int64?
        if let after {
            guard let value = Int64(after), value >= 0 else { throw Problem(.badRequest, "after must be a message id", field: "after") }
            cursor = value
        }
        let query = request.uri.queryParameters
        let messages = try await store.uftpMessages(UFTPMessageQuery(
            conversationID: query["conversation_id"].map(String.init), senderDomain: query["sender_domain"].map(String.init),
            messageID: query["message_id"].map(String.init), after: cursor, limit: limit + 1))
        let next = messages.count > limit ? messages[limit - 1].id.map { String($0) } : nil
        let items = Array(messages.prefix(limit))
        // Each request with the response its recipient sent: found in its conversation.
        var answers: [String: UFTPMessageView.Answer] = [:]
        for conversation in Set(items.map(\.conversationID)) {
            for record in try await store.uftpMessages(UFTPMessageQuery(conversationID: conversation, limit: 10_000)) {
                guard let response = (try? UFTPCodec.decode(record.payload))?.payload as? any UFTPResponse else { continue }
                let key = record.senderDomain + " " + response.referencedMessageID.text
                if answers[key] == nil {
                    answers[key] = .init(id: record.id ?? 0, message_id: record.messageID, result: response.result.rawValue,
                                         rejection_reason: response.rejectionReason)
                }
            }
        }
        return try json(Page(items: items.map { UFTPMessageView($0, answer: answers[$0.recipientDomain + " " + $0.messageID]) },
                             next: next))
    }

    package struct UFTPMessageView: Encodable {
        package let id: Int64
        package let direction: String
        package let type: String
        package let message_id: String
        package let conversation_id: String
        package let sender_domain: String
        package let sender_role: String
        package let recipient_domain: String
        package let time: String
        /// The payload XML as signed.
        package let payload: String
        /// The SignedMessage document as received or sent.
        package let signed: String
        /// An outgoing message's delivery.
        package let delivery: Delivery?
        /// A request's response, once received (or sent).
        package let answer: Answer?

        package struct Answer: Encodable {
            package let id: Int64
            package let message_id: String
            package let result: String
            let rejection_reason: String?
        }

        package struct Delivery: Encodable {
            package let state: String
            package let attempts: Int
            package let next_attempt: String
            package let problem: String?
        }

        package init(_ record: UFTPMessageRecord, answer: Answer?) {
            self.answer = answer
            id = record.id ?? 0
            direction = record.direction.rawValue
            type = record.type
            message_id = record.messageID
            conversation_id = record.conversationID
            sender_domain = record.senderDomain
            sender_role = record.senderRole
            recipient_domain = record.recipientDomain
            time = record.time.rfc3339
            payload = String(decoding: record.payload, as: UTF8.self)
            signed = String(decoding: record.signed, as: UTF8.self)
            delivery = record.delivery.map {
                Delivery(state: $0.state.rawValue, attempts: $0.attempts, next_attempt: $0.nextAttempt.rfc3339, problem: $0.problem)
            }
        }
    }

    func readPOD(_ context: APIContext) async throws -> Response {
        try json(try await visiblePOD(context))
    }

    func writePOD(_ request: Request, _ context: APIContext) async throws -> Response {
        let id = try context.parameters.require("pod")
        guard Identifier.isValid(id) else {
            throw Problem(.badRequest, "a POD id is \(Identifier.rule)", field: "pod")
        }
        var pod = try await decode(PODRecord.self, request)
        guard pod.id == id else { throw Problem(.badRequest, "id must be the POD of the path", field: "id") }
        pod.id = id
        try await store.upsertPOD(pod)
        return try json(pod)
    }

    func listNodes(_ context: APIContext) async throws -> Response {
        let nodes = try await store.nodes()
        return try json(Items(items: nodes.map(NodeView.init)))
    }

    package struct NodeInput: Decodable {
        package let id: String
        package let pod: String
        package let meter: String?
        package let key: String
    }

    func addNode(_ request: Request, _ context: APIContext) async throws -> Response {
        let input = try await decode(NodeInput.self, request)
        let node: NodeRecord
        do {
            node = try NodeRecord(validatingID: input.id, pod: input.pod, meter: input.meter ?? "main", key: input.key)
        } catch {
            throw Problem(.badRequest, error.message, field: error.field)
        }
        try await store.addNode(node)
        guard let stored = try await store.node(node.id) else { throw Problem(.internalServerError, "node vanished") }
        return try json(NodeView(stored), status: .created)
    }

    func measurements(_ request: Request, _ context: APIContext) async throws -> Response {
        let pod = try await visiblePOD(context)
        let query = request.uri.queryParameters
        guard let fromText = query["from"], let from = Timestamp(rfc3339: fromText) else {
            throw Problem(.badRequest, "from must be an RFC 3339 time", field: "from")
        }
        guard let toText = query["to"], let to = Timestamp(rfc3339: toText) else {
            throw Problem(.badRequest, "to must be an RFC 3339 time", field: "to")
        }
        guard from < to else { throw Problem(.badRequest, "to must be after from", field: "to") }
        let resolution = query["resolution"].map(String.init) ?? "15m"
        var body: [UInt8] = []
        body.reserveCapacity(4096)
        body.append(contentsOf: "{\"pod\":".utf8)
        JSONText.appendQuoted(pod.id, to: &body)
        body.append(contentsOf: ",\"resolution\":".utf8)
        JSONText.appendQuoted(resolution, to: &body)
        body.append(contentsOf: ",\"items\":[".utf8)
        switch resolution {
        case "raw":
            guard to.millisecondsSince1970 - from.millisecondsSince1970 <= Self.maximumRawSpanMs else {
                throw Problem(.badRequest, "a raw query spans at most 48 hours", field: "to")
            }
            let nodes = try await store.nodes(pod: pod.id)
            var readings: [(node: String, seq: UInt64, reading: ReadingBody, certified: Bool)] = []
            for node in nodes {
                readings += try await store.readings(node: node.id, meter: node.meter, from: from, to: to)
                    .map { (node.id, $0.seq, $0.reading, $0.certified) }
            }
            readings.sort { $0.reading.time < $1.reading.time }
            for (index, item) in readings.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                var writer = JSONObjectWriter()
                writer.timestamp("t", item.reading.time)
                writer.string("node", item.node)
                writer.integer("seq", Int64(item.seq))
                if let power = item.reading.activePower { writer.number("active_power", power) }
                if let value = item.reading.energyImport { writer.number("energy_import", value) }
                if let value = item.reading.energyExport { writer.number("energy_export", value) }
                writer.bool("certified", item.certified)
                body.append(contentsOf: writer.finish())
            }
        case "15m":
            guard to.millisecondsSince1970 - from.millisecondsSince1970 <= Self.maximumQuarterSpanMs else {
                throw Problem(.badRequest, "a 15m query spans at most 400 days", field: "to")
            }
            for (index, item) in try await store.measures(pod: pod.id, from: from, to: to).enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                var writer = JSONObjectWriter()
                writer.timestamp("start", item.start)
                writer.number("energy_wh", item.energyWh)
                writer.number("avg_w", item.averageW)
                writer.number("coverage", item.coverage)
                writer.integer("samples", Int64(item.samples))
                writer.bool("certified", item.certified)
                body.append(contentsOf: writer.finish())
            }
        default:
            throw Problem(.badRequest, "resolution must be raw or 15m", field: "resolution")
        }
        body.append(contentsOf: "]}".utf8)
        return rawJSON(body)
    }

    // MARK: JSON

    /// The request's body, within the size limit.
    package func body(_ request: Request) async throws -> [UInt8] {
        var request = request
        do {
            return Array(try await request.collectBody(upTo: maxRequestBytes).readableBytesView)
        } catch {
            throw Problem(.contentTooLarge, "the request body exceeds \(maxRequestBytes) bytes")
        }
    }

    package func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let bytes = try await body(request)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch DecodingError.keyNotFound(let key, _) {
            throw Problem(.badRequest, "\(key.stringValue) is required", field: key.stringValue)
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw Problem(.badRequest, "\(field) has the wrong type", field: field)
        } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw Problem(.badRequest, "\(field): \(context.debugDescription)", field: field)
        } catch {
            throw Problem(.badRequest, "the body is not valid JSON")
        }
    }

    package struct NodeView: Encodable {
        package let id: String
        package let pod: String
        package let meter: String
        package let keys: [String]
        package let quarantine: String?

        package init(_ node: NodeRecord) {
            id = node.id
            pod = node.pod
            meter = node.meter
            keys = node.keys.map { Base64.encode($0.bytes) }
            quarantine = node.quarantine
        }
    }

    package struct Items<Item: Encodable>: Encodable {
        package let items: [Item]
    }

    package struct Page<Item: Encodable>: Encodable {
        package let items: [Item]
        package let next: String?
    }

    package func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return rawJSON(Array(try encoder.encode(value)), status: status)
    }

    package func text(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func rawJSON(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
