#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Configuration

/// Secrets in files (an MQTT password): one line, mode 0600, never logged.
public enum SecretFile {
    public static func read(_ path: String) throws(AgentError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { throw AgentError("secret file \(path): \(String(cString: strerror(errno)))") }
        guard info.st_mode & 0o077 == 0 else {
            throw AgentError("secret file \(path) is accessible by group or others; it must be mode 0600 (chmod 600 \(path))")
        }
        switch readTextFile(path, limit: 4096) {
        case .success(let text):
            return String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        case .failure(let problem):
            throw AgentError("secret file \(path): \(problem.message)")
        }
    }
}
