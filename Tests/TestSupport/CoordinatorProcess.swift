import Foundation
import Sodium
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `coordinator serve` on loopback with an SQLite SCD in a temporary folder, subscribed to a
/// test broker; admin commands run against the same configuration.
public final class CoordinatorProcess {
    public let folder: TemporaryDirectory
    public let configPath: String
    public let httpPort: Int
    public let logPath: String
    public private(set) var process: RunningProcess?

    /// `scdURL`: the SQLite file in the folder unless given (a test PostgreSQL server's URL);
    /// `clientID`: distinct per instance when several share a broker subscription.
    public init(mqttPort: Int, scdURL: String = "sqlite://scd.sqlite", clientID: String? = nil, extraConfig: String = "",
                folder: TemporaryDirectory = TemporaryDirectory("coordinator")) throws {
        self.folder = folder
        httpPort = FreePort.allocate()
        configPath = folder.file("coordinator.toml")
        logPath = folder.file("coordinator.log")
        try """
            [scd]
            url = "\(scdURL)"

            [mqtt]
            host = "127.0.0.1"
            port = \(mqttPort)
            share_group = "coordinator"
            client_id = "\(clientID ?? "coordinator-\(httpPort)")"
            keepalive_s = 5

            [http]
            listen = "127.0.0.1:\(httpPort)"

            \(extraConfig)
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Runs an admin subcommand (`node add …`, `token add …`) with this configuration.
    public func command(_ arguments: [String]) throws -> ProcessOutcome {
        try Processes.run(Paths.executable("coordinator"), arguments + ["--config", configPath])
    }

    /// Registers Light Node `node` on `pod` with the public half of the signing key in `keyFile`.
    public func register(node: String, pod: String, keyFile: String) throws {
        let key = try SigningKey(contentsOfFile: keyFile)
        try succeed(["node", "add", "--node", node, "--pod", pod, "--key", Base64.encode(key.publicKey.bytes)])
    }

    /// Issues a bearer token for `role` (and `participant`) and returns it.
    public func addToken(role: String, participant: String? = nil) throws -> String {
        try succeed(["token", "add", "--role", role] + (participant.map { ["--participant", $0] } ?? []))
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The raw readings the API holds for `pod` from ten minutes ago to ten minutes ahead: their
    /// seqs in order, and whether every one is certified; nil while the API does not answer 200.
    public func rawReadings(pod: String, token: String) throws -> (seqs: [Int], certified: Bool)? {
        let from = Date().addingTimeInterval(-600).ISO8601Format()
        let to = Date().addingTimeInterval(600).ISO8601Format()
        let answer = try get("/api/v1/pods/\(pod)/measurements?from=\(from)&to=\(to)&resolution=raw", token: token)
        guard answer.status == 200, let json = try JSONSerialization.jsonObject(with: answer.body) as? [String: Any],
              let items = json["items"] as? [[String: Any]] else { return nil }
        return (items.compactMap { $0["seq"] as? Int }, items.allSatisfy { $0["certified"] as? Bool == true })
    }

    /// Runs an admin subcommand that must succeed.
    @discardableResult
    public func succeed(_ arguments: [String]) throws -> ProcessOutcome {
        let outcome = try command(arguments)
        guard outcome.status == 0 else {
            throw CocoaError(.executableLoad, userInfo: [
                NSLocalizedDescriptionKey: "coordinator \(arguments.joined(separator: " ")) exited \(outcome.status): \(outcome.stderr)"])
        }
        return outcome
    }

    /// Starts `coordinator serve` and waits until it is ready (`/readyz`), or, with
    /// `waitingForBroker: false`, only until its API answers (`/healthz`).
    public func start(waitingForBroker: Bool = true, environment: [String: String] = [:]) throws {
        process = try RunningProcess(Paths.executable("coordinator"), ["serve", "--config", configPath], stderrPath: logPath,
                                     environment: environment)
        let probe = waitingForBroker ? "/readyz" : "/healthz"
        let ready = waitUntil(timeoutSeconds: 60) { (try? get(probe).status) == 200 }
        guard ready else { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "coordinator did not start:\n\(log)"]) }
    }

    /// SIGTERM, then the exit status; -9 (SIGKILL sent) if it has not exited within 60 s.
    @discardableResult
    public func stop() -> Int32 {
        guard let process else { return -1 }
        self.process = nil
        return process.stop()
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The UFTP messages it gave up delivering (a peer refused them, 4xx), as its log says.
    public var refusedDeliveries: [String] { log.split(separator: "\n").filter { $0.contains("uftp: giving up") }.map(String.init) }

    /// A blocking GET on the API (tests only): status and body.
    public func get(_ path: String, token: String? = nil) throws -> (status: Int, body: Data) {
        try request("GET", path, token: token)
    }

    /// A blocking request on the API (tests only): status and body.
    public func request(_ method: String, _ path: String, token: String? = nil, body: Data? = nil,
                        contentType: String = "application/json") throws -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(httpPort)\(path)")!)
        request.timeoutInterval = 30
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let result = LockedResult()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            result.set((response as? HTTPURLResponse)?.statusCode ?? -1, data ?? Data(), error)
            done.signal()
        }.resume()
        done.wait()
        let (status, body, error) = result.get()
        if let error { throw error }
        return (status, body)
    }
}

private final class LockedResult: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Int, Data, (any Error)?) = (-1, Data(), nil)
    func set(_ status: Int, _ body: Data, _ error: (any Error)?) { lock.withLock { value = (status, body, error) } }
    func get() -> (Int, Data, (any Error)?) { lock.withLock { value } }
}
