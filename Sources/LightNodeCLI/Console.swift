#if canImport(Glibc)
import CommandLineSupport
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GridCore

/// Messages to stderr, data to stdout (command-line contract).
enum Console {
    static func output(_ line: String) {
        StandardStream.output.write(line + "\n")
    }
}

/// Where data goes: stdout, or a file written beside its final name and renamed into place once
/// complete (fsynced), so an interrupted export never leaves a truncated file that looks whole.
final class OutputSink {
    private let descriptor: Int32
    private let finalPath: String?
    private let temporaryPath: String?

    init(path: String?) throws(CommandFailure) {
        guard let path, path != "-" else {
            descriptor = StandardStream.output.rawValue
            finalPath = nil
            temporaryPath = nil
            return
        }
        let temporary = path + ".partial"
        let opened = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard opened >= 0 else {
            throw .usage("cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        descriptor = opened
        finalPath = path
        temporaryPath = temporary
    }

    func write(_ bytes: [UInt8]) throws(CommandFailure) {
        guard bytes.withUnsafeBytes({ writeAll(descriptor: descriptor, $0) }) else {
            throw .runtime("write failed: \(String(cString: strerror(errno)))")
        }
    }

    /// For a file: fsyncs and renames it into place.
    func finish() throws(CommandFailure) {
        guard let finalPath, let temporaryPath else { return }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard synced, rename(temporaryPath, finalPath) == 0 else {
            unlink(temporaryPath)
            throw .runtime("cannot write \(finalPath): \(String(cString: strerror(errno)))")
        }
    }

    /// Removes an unfinished file.
    func abandon() {
        guard let temporaryPath else { return }
        close(descriptor)
        unlink(temporaryPath)
    }
}
