#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSodium

/// Secrets kept in files (private keys, passwords): a regular file of mode 0600 holding one line.
public enum SecretFile {
    /// Reads the file's single line, whitespace trimmed, refusing a file that group or others may
    /// access, that is not a regular file (or is a symbolic link), or that exceeds `limit` bytes.
    /// Checks are made on the opened file itself, so it cannot be swapped between check and read.
    /// The caller owns the bytes and should wipe them (`sodium_memzero`) when done.
    public static func readLine(_ path: String, limit: Int = 4096) throws(SodiumError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else {
            throw .secretFile(path: path, problem: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            throw .secretFile(path: path, problem: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw .secretFile(path: path, problem: "not a regular file")
        }
        let permissions = info.st_mode & 0o777
        guard permissions & 0o077 == 0 else {
            throw .secretFile(path: path, problem: "is accessible by group or others (mode \(String(permissions, radix: 8))); "
                + "a secret must be mode 0600 (chmod 600 \(path))")
        }
        guard info.st_size <= limit else {
            throw .secretFile(path: path, problem: "is \(info.st_size) bytes; it should hold one line")
        }
        var contents = [UInt8](repeating: 0, count: Int(info.st_size))
        defer { sodium_memzero(&contents, contents.count) }
        var filled = 0
        while filled < contents.count {
            let count = contents.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw .secretFile(path: path, problem: "read failed: \(String(cString: strerror(errno)))")
            }
            filled += count
        }
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        let start = contents.firstIndex { !isSpace($0) } ?? contents.count
        let end = (contents.lastIndex { !isSpace($0) } ?? -1) + 1
        return start < end ? Array(contents[start..<end]) : []
    }
}

/// Private key files: one line of base64 of the 64-byte libsodium secret key, mode 0600.
extension SigningKey {
    /// Loads a key file, refusing one that group or others may read, or that holds anything but a key.
    public convenience init(contentsOfFile path: String) throws(SodiumError) {
        var base64: [UInt8]
        do {
            base64 = try SecretFile.readLine(path)
        } catch .secretFile(_, let problem) {
            throw .keyFile(path: path, problem: problem)
        } catch {
            throw error
        }
        defer { sodium_memzero(&base64, base64.count) }
        do {
            var secret = try Base64.decode(utf8: base64, what: "Ed25519 secret key")
            defer { sodium_memzero(&secret, secret.count) }
            try self.init(secretKey: secret)
        } catch .wrongLength(_, let expected, let found) {
            throw .keyFile(path: path, problem: "holds \(found) bytes; an Ed25519 secret key is \(expected) (truncated or not a key)")
        } catch .invalidBase64 {
            throw .keyFile(path: path, problem: "is not base64 of an Ed25519 secret key")
        } catch .inconsistentSecretKey {
            throw .keyFile(path: path, problem: "is corrupt: the public half does not match the seed")
        } catch {
            throw .keyFile(path: path, problem: error.description)
        }
    }

    /// The key in `path`, or a new one written there when no file exists (services that make
    /// their own key on first start); `created` says which, for the caller to log.
    public static func loadOrCreate(file path: String) throws(SodiumError) -> (key: SigningKey, created: Bool) {
        if access(path, F_OK) == 0 { return (try SigningKey(contentsOfFile: path), false) }
        let key = SigningKey.generate()
        try key.write(toNewFile: path)
        return (key, true)
    }

    /// Writes the key to a new file with mode 0600; never replaces an existing file.
    public func write(toNewFile path: String) throws(SodiumError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            let reason = errno == EEXIST ? "already exists; refusing to overwrite a key"
                : "cannot create: \(String(cString: strerror(errno)))"
            throw .keyFile(path: path, problem: reason)
        }
        var line = Array((exportBase64() + "\n").utf8)
        defer { sodium_memzero(&line, line.count) }
        // umask can only remove bits; fchmod makes the mode exactly 0600 whatever it is.
        var ok = fchmod(descriptor, 0o600) == 0
        var written = 0
        while ok && written < line.count {
            let count = line.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if count < 0 && errno == EINTR { continue }
            ok = count > 0
            written += max(count, 0)
        }
        ok = ok && fsync(descriptor) == 0
        let reason = String(cString: strerror(errno))
        close(descriptor)
        guard ok else {
            unlink(path)
            throw .keyFile(path: path, problem: "write failed: \(reason)")
        }
    }
}
