import GridCore
import Hummingbird

extension UFTPReceiver {
    /// Mounts `POST /shapeshifter/api/v3/message` on a router: the body is read up to the size
    /// limit (413 beyond it), checked and stored; 200 carries no body, a refusal its reason as text.
    public func register<Context: RequestContext>(on router: Router<Context>) {
        router.post(RouterPath(stringLiteral: Self.path)) { request, _ -> Response in
            var request = request
            let contentLength = request.headers[.contentLength].flatMap { Int($0) }
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: maximumBytes)
            } catch {
                return Self.response(TransportAnswer(status: 413, reason: "the message exceeds \(maximumBytes) bytes"))
            }
            let answer = await receive(contentType: request.headers[.contentType], contentLength: contentLength,
                                       body: Array(body.readableBytesView), now: .now())
            return Self.response(answer)
        }
    }

    static func response(_ answer: TransportAnswer) -> Response {
        guard answer.status != 200 else { return Response(status: .ok) }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Response(status: HTTPResponse.Status(code: answer.status), headers: headers,
                        body: .init(byteBuffer: ByteBuffer(string: answer.reason + "\n")))
    }
}
