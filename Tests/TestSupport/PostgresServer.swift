import Foundation

/// A real PostgreSQL server (Debian's `postgresql`) in a cluster of its own under a temp folder,
/// on a loopback port of its own, stopped (and its folder removed) when released. PostgreSQL
/// refuses to run as root, so as root the cluster belongs to the `postgres` system user (setpriv
/// execs in place: signals reach the server itself).
public final class PostgresServer {
    public static let user = "scd"
    public let port: Int
    public let folder: TemporaryDirectory
    private var process: RunningProcess?
    /// How the server is run (as the postgres user when this is root).
    private let server: (executable: String, arguments: [String])

    /// The newest installed server's binaries (/usr/lib/postgresql/<version>/bin), if any.
    public static let binaries: String? = {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        return versions.last.map { "\(root)/\($0)/bin" }.flatMap { FileManager.default.fileExists(atPath: $0 + "/initdb") ? $0 : nil }
    }()

    public static var available: Bool { binaries != nil }

    /// `postgres://scd@127.0.0.1:<port>/<database>` (trust authentication on loopback only).
    public func url(database: String = "postgres") -> String { "postgres://\(Self.user)@127.0.0.1:\(port)/\(database)" }

    public init() throws {
        guard let binaries = Self.binaries else { throw ProcessError.failed("no PostgreSQL server installed") }
        folder = TemporaryDirectory("postgres")
        port = FreePort.allocate()
        let data = folder.file("data")
        let asRoot = getuid() == 0
        if asRoot {
            // The folder is the postgres user's, so the server can own its cluster.
            _ = try Processes.run("/bin/chown", ["-R", "postgres:postgres", folder.path])
        }
        func command(_ tool: String, _ arguments: [String]) -> (String, [String]) {
            asRoot ? ("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "\(binaries)/\(tool)"] + arguments)
                : ("\(binaries)/\(tool)", arguments)
        }
        let (initdb, initArguments) = command("initdb", ["-D", data, "-U", Self.user, "-A", "trust", "-E", "UTF8",
                                                         "--locale=C", "--no-sync"])
        let created = try Processes.run(initdb, initArguments)
        guard created.status == 0 else { throw ProcessError.failed("initdb failed: \(created.stderr)") }
        server = command("postgres", ["-D", data, "-p", String(port), "-k", folder.path,
                                      "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        try start()
    }

    /// Starts the server (again, after `stop()`) on its cluster and port.
    public func start() throws {
        process = try RunningProcess(server.executable, server.arguments, stderrPath: folder.file("postgres.log"))
        guard waitUntil(timeoutSeconds: 60, { [port] in FreePort.isListening(port) }) else {
            throw ProcessError.timedOut("PostgreSQL on port \(port)", seconds: 60)
        }
    }

    /// Runs SQL through psql; returns its unaligned, tuples-only output.
    public func psql(_ sql: String, database: String = "postgres") throws -> ProcessOutcome {
        try Processes.run("/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", Self.user, "-d", database,
                                            "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
    }

    public var log: String { (try? String(contentsOfFile: folder.file("postgres.log"), encoding: .utf8)) ?? "" }

    /// Fast shutdown (SIGINT): open sessions are ended, the cluster is left consistent.
    public func stop() {
        process?.stop(SIGINT)
        process = nil
    }

    deinit {
        stop()
    }
}
