#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GridCore

/// One agent per data folder: an exclusive lock on `<data_dir>/lightnode.lock`.
public final class DataDirectoryLock {
    private let lock: ExclusiveFileLock

    public init(dataDirectory: String) throws(AgentError) {
        _ = mkdir(dataDirectory, 0o700)
        do {
            lock = try ExclusiveFileLock(path: dataDirectory + "/lightnode.lock")
        } catch {
            switch error {
            case .cannotOpen(let path, let reason): throw AgentError("cannot open \(path): \(reason)")
            case .held(let path): throw AgentError("another lightnode is already running on \(dataDirectory) (\(path) is locked)")
            }
        }
    }
}

public struct AgentError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
