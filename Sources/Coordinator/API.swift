import Foundation
import GridCore
import Hummingbird
import Prometheus
import SCD
import Sodium

/// Request context carrying the authenticated caller.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    var caller: TokenRecord?

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// An RFC 9457 problem answer (`application/problem+json`), naming the offending field.
struct Problem: HTTPResponseError {
    let status: HTTPResponse.Status
    let detail: String
    var field: String?

    init(_ status: HTTPResponse.Status, _ detail: String, field: String? = nil) {
        self.status = status
        self.detail = detail
        self.field = field
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
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
struct BearerAuthentication: RouterMiddleware {
    let store: any SCDStore

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "), header.utf8.count < 512 else {
            throw Problem(.unauthorized, "a bearer token is required")
        }
        let token = header.dropFirst("Bearer ".count)
        guard let record = try await store.token(hash: SHA256.hash(Array(token.utf8))) else {
            throw Problem(.unauthorized, "the bearer token is not valid")
        }
        var context = context
        context.caller = record
        return try await next(request, context)
    }
}

/// The SCD's REST API under `/api/v1` (docs/openapi.yaml), plus `/metrics` and `/healthz`.
public struct API: Sendable {
    let store: any SCDStore
    let metrics: PrometheusCollectorRegistry
    let maxRequestBytes: Int
    /// The most a raw query may span (a day of 4-s readings is 21,600 items).
    static let maximumRawSpanMs: Int64 = 2 * 86_400_000
    static let maximumQuarterSpanMs: Int64 = 400 * 86_400_000

    /// docs/openapi.yaml (a link to the bundled copy), served as it is.
    static let openAPIDocument: String = Bundle.module.url(forResource: "openapi", withExtension: "yaml")
        .flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? "openapi: 3.1.0\n"

    public init(store: any SCDStore, metrics: PrometheusCollectorRegistry, maxRequestBytes: Int) {
        self.store = store
        self.metrics = metrics
        self.maxRequestBytes = maxRequestBytes
    }

    public func router() -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        router.get("/healthz") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
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
        api.get("/pods") { _, context in try await listPODs(context) }
        api.get("/pods/:pod") { _, context in try await readPOD(context) }
        api.put("/pods/:pod") { request, context in try await writePOD(request, context) }
        api.get("/pods/:pod/measurements") { request, context in try await measurements(request, context) }
        api.get("/nodes") { _, context in try await listNodes(context) }
        api.post("/nodes") { request, context in try await addNode(request, context) }
        return router
    }

    // MARK: Authorization

    private func caller(_ context: APIContext) throws -> TokenRecord {
        guard let caller = context.caller else { throw Problem(.unauthorized, "a bearer token is required") }
        return caller
    }

    private func require(_ context: APIContext, _ roles: Set<Role>) throws {
        let caller = try caller(context)
        guard roles.contains(caller.role) else { throw Problem(.forbidden, "role \(caller.role.rawValue) may not do this") }
    }

    /// Platform roles see every POD; an aggregator only those it aggregates, a BRP those in its portfolio.
    private func mayRead(_ pod: PODRecord, _ caller: TokenRecord) -> Bool {
        switch caller.role {
        case .admin, .dso, .tso, .marketOperator: true
        case .aggregator: caller.participant != nil && pod.aggregator == caller.participant
        case .brp: caller.participant != nil && pod.brp == caller.participant
        }
    }

    /// The POD if the caller may read it; a POD it may not see is "not found", not "forbidden",
    /// so identifiers of other participants' customers do not leak.
    private func visiblePOD(_ context: APIContext) async throws -> PODRecord {
        let id = try context.parameters.require("pod")
        guard let pod = try await store.pod(id), mayRead(pod, try caller(context)) else {
            throw Problem(.notFound, "no POD \"\(id)\"", field: "pod")
        }
        return pod
    }

    // MARK: Handlers

    private func listPODs(_ context: APIContext) async throws -> Response {
        let caller = try caller(context)
        let pods = try await store.pods(aggregator: caller.role == .aggregator ? caller.participant ?? "" : nil)
            .filter { mayRead($0, caller) }
        return try json(Items(items: pods))
    }

    private func readPOD(_ context: APIContext) async throws -> Response {
        try json(try await visiblePOD(context))
    }

    private func writePOD(_ request: Request, _ context: APIContext) async throws -> Response {
        try require(context, [.admin])
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

    private func listNodes(_ context: APIContext) async throws -> Response {
        try require(context, [.admin, .dso, .marketOperator])
        let nodes = try await store.nodes()
        return try json(Items(items: nodes.map(NodeView.init)))
    }

    struct NodeInput: Decodable {
        let id: String
        let pod: String
        let meter: String?
        let key: String
    }

    private func addNode(_ request: Request, _ context: APIContext) async throws -> Response {
        try require(context, [.admin])
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

    private func measurements(_ request: Request, _ context: APIContext) async throws -> Response {
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
            var readings: [RawReading] = []
            for node in nodes {
                readings += try await store.readings(node: node.id, meter: node.meter, from: from, to: to)
            }
            for (index, item) in readings.enumerated() {
                if index > 0 { body.append(UInt8(ascii: ",")) }
                var writer = JSONObjectWriter()
                writer.timestamp("t", item.reading.time)
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

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: maxRequestBytes)
        } catch {
            throw Problem(.contentTooLarge, "the request body exceeds \(maxRequestBytes) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch DecodingError.keyNotFound(let key, _) {
            throw Problem(.badRequest, "\(key.stringValue) is required", field: key.stringValue)
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw Problem(.badRequest, "\(field) has the wrong type", field: field)
        } catch {
            throw Problem(.badRequest, "the body is not valid JSON")
        }
    }

    struct NodeView: Encodable {
        let id: String
        let pod: String
        let meter: String
        let keys: [String]
        let quarantine: String?

        init(_ node: NodeRecord) {
            id = node.id
            pod = node.pod
            meter = node.meter
            keys = node.keys.map { Base64.encode($0.bytes) }
            quarantine = node.quarantine
        }
    }

    struct Items<Item: Encodable>: Encodable {
        let items: [Item]
    }

    private func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return rawJSON(Array(try encoder.encode(value)), status: status)
    }

    private func rawJSON(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
