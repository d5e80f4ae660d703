import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The operator console as a browser without script sees it, over HTTP: cookies kept by hand
/// (this client's own, whatever else runs on 127.0.0.1), redirects answered, not followed.
public final class ConsoleBrowser: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    private let base: String
    private var session: URLSession!
    private let lock = NSLock()
    private var cookies: [String: String] = [:]

    public init(port: Int) {
        base = "http://127.0.0.1:\(port)"
        super.init()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpShouldSetCookies = false
        configuration.httpCookieAcceptPolicy = .never
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                           newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    /// A blocking GET or form POST: status and body.
    public func request(_ path: String, form: [String: String]? = nil) throws -> (status: Int, body: String) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.timeoutInterval = 30
        let jar = lock.withLock { cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        if !jar.isEmpty { request.setValue(jar, forHTTPHeaderField: "Cookie") }
        if let form {
            request.httpMethod = "POST"
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
                .joined(separator: "&").utf8)
        }
        let done = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        session.dataTask(with: request) { data, response, error in
            outcome.set(response as? HTTPURLResponse, data ?? Data(), error)
            done.signal()
        }.resume()
        done.wait()
        let (response, data, error) = outcome.get()
        if let error { throw error }
        guard let response else { throw URLError(.badServerResponse) }
        if let header = response.value(forHTTPHeaderField: "Set-Cookie") { remember(header) }
        return (response.statusCode, String(decoding: data, as: UTF8.self))
    }

    /// Logs in with an API token through the login form: 303 when the token is good.
    public func login(token: String) throws -> Int {
        let page = try request("/console/login")
        return try request("/console/login", form: ["token": token, "csrf": Self.field("csrf", in: page.body)]).status
    }

    /// The value of the hidden form field `name` in a page.
    public static func field(_ name: String, in page: String) -> String {
        guard let range = page.range(of: #"name="\#(name)" value=""#) else { return "" }
        return String(page[range.upperBound...].prefix { $0 != "\"" })
    }

    /// One or several `Set-Cookie` values (Foundation joins them with commas; the console's carry no dates).
    private func remember(_ header: String) {
        for cookie in header.components(separatedBy: ", ") {
            let pair = cookie.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = pair.first.map(String.init)?.trimmingCharacters(in: .whitespaces), !name.isEmpty else { continue }
            let value = pair.count > 1 ? String(pair[1]) : ""
            lock.withLock { cookies[name] = value.isEmpty ? nil : value }
        }
    }

    private final class Outcome: @unchecked Sendable {
        private let lock = NSLock()
        private var value: (HTTPURLResponse?, Data, (any Error)?) = (nil, Data(), nil)
        func set(_ response: HTTPURLResponse?, _ data: Data, _ error: (any Error)?) { lock.withLock { value = (response, data, error) } }
        func get() -> (HTTPURLResponse?, Data, (any Error)?) { lock.withLock { value } }
    }
}
