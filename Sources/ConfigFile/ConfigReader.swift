import GridCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TOMLKit

/// One problem in a configuration file, with the key path it concerns (`meters[1].port`).
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let path: String
    public let message: String

    public init(file: String, path: String, message: String) {
        self.file = file
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)" }
}

/// Every problem found in a configuration (and the files it names), reported together.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let issues: [ConfigIssue]

    public init(issues: [ConfigIssue]) {
        self.issues = issues
    }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// Collects issues while a configuration is read, so that all of them can be reported at once.
public final class ConfigIssues {
    public private(set) var list: [ConfigIssue] = []

    public init() {}

    public func add(_ file: String, _ path: String, _ message: String) {
        list.append(ConfigIssue(file: file, path: path, message: message))
    }

    public var isEmpty: Bool { list.isEmpty }

    /// Throws every issue collected so far, if any.
    public func throwIfAny() throws(ConfigError) {
        guard list.isEmpty else { throw ConfigError(issues: list) }
    }
}

/// A TOML table being read: typed accessors that record a precise issue instead of throwing,
/// and that remember which keys were read so misspelt keys are reported, not silently ignored.
public final class ConfigSection {
    public let file: String
    public let path: String
    public let issues: ConfigIssues
    private let table: TOMLTable
    private var used: Set<String> = []

    init(file: String, path: String, table: TOMLTable, issues: ConfigIssues) {
        self.file = file
        self.path = path
        self.table = table
        self.issues = issues
    }

    /// Largest configuration or register-map file accepted.
    public static let maximumFileSize = 1 << 20

    /// Parses a TOML file; nil (with the issue recorded) if it cannot be read or parsed.
    public static func load(file: String, issues: ConfigIssues) -> ConfigSection? {
        let text: String
        switch readTextFile(file, limit: maximumFileSize) {
        case .success(let contents): text = contents
        case .failure(let problem):
            issues.add(file, "", problem.message)
            return nil
        }
        if let line = TableHeaders.badHeaderLine(text) {
            issues.add(file, "", "line \(line): a table header must name a table (a key or a quoted key after \"[\")")
            return nil
        }
        do {
            return ConfigSection(file: file, path: "", table: try TOMLTable(string: text), issues: issues)
        } catch let error as TOMLParseError {
            issues.add(file, "", "line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        } catch {
            issues.add(file, "", "not valid TOML: \(error)")
        }
        return nil
    }

    public func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Records an issue about `key` of this section.
    public func problem(_ key: String, _ message: String) {
        issues.add(file, key.isEmpty ? path : keyPath(key), message)
    }

    public func has(_ key: String) -> Bool { table.contains(key: key) }

    /// The keys of a table whose keys are data (names of things), all taken as read.
    public func dataKeys() -> [String] {
        let keys = table.keys.sorted()
        used.formUnion(keys)
        return keys
    }

    private func value(_ key: String, required: Bool) -> (any TOMLValueConvertible)? {
        used.insert(key)
        guard let value = table[key] else {
            if required { problem(key, "is required") }
            return nil
        }
        return value
    }

    public func string(_ key: String, required: Bool = true) -> String? {
        guard let value = value(key, required: required) else { return nil }
        guard let string = value.string else {
            problem(key, "must be a string, not \(value.type)")
            return nil
        }
        return string
    }

    /// A string that must be one of `choices`.
    public func choice(_ key: String, _ choices: [String], default fallback: String? = nil) -> String? {
        guard let string = string(key, required: fallback == nil) else { return fallback }
        guard choices.contains(string) else {
            problem(key, "must be one of \(choices.map { "\"\($0)\"" }.joined(separator: ", ")), not \"\(string)\"")
            return nil
        }
        return string
    }

    public func int(_ key: String, in range: ClosedRange<Int>? = nil, default fallback: Int? = nil) -> Int? {
        guard let value = value(key, required: fallback == nil) else { return fallback }
        guard let int = value.int else {
            problem(key, "must be an integer, not \(value.type)")
            return nil
        }
        if let range, !range.contains(int) {
            problem(key, "must be between \(range.lowerBound) and \(range.upperBound), not \(int)")
            return nil
        }
        return int
    }

    /// A number: TOML integers are accepted where a float is expected (`scale = 1`).
    public func double(_ key: String, default fallback: Double? = nil) -> Double? {
        guard let value = value(key, required: fallback == nil) else { return fallback }
        if let double = value.double, double.isFinite { return double }
        if let int = value.int { return Double(int) }
        problem(key, "must be a finite number, not \(value.type)")
        return nil
    }

    /// An amount of money: a number with at most two decimals, within `range`.
    public func money(_ key: String, in range: ClosedRange<Money>, default fallback: Money) -> Money {
        guard has(key), let number = double(key) else { return fallback }
        let cents = (number * 100).rounded()
        guard abs(number * 100 - cents) < 1e-6, Double(range.lowerBound.cents)...Double(range.upperBound.cents) ~= cents else {
            problem(key, "must be an amount from \(range.lowerBound) to \(range.upperBound) with at most two decimals, not \(number)")
            return fallback
        }
        return Money(cents: Int64(cents))
    }

    public func bool(_ key: String, default fallback: Bool? = nil) -> Bool? {
        guard let value = value(key, required: fallback == nil) else { return fallback }
        guard let bool = value.bool else {
            problem(key, "must be true or false, not \(value.type)")
            return nil
        }
        return bool
    }

    public func strings(_ key: String, required: Bool = true) -> [String]? {
        guard let value = value(key, required: required) else { return nil }
        guard let array = value.array else {
            problem(key, "must be an array of strings, not \(value.type)")
            return nil
        }
        var strings: [String] = []
        for (index, element) in array.enumerated() {
            guard let string = element.string else {
                problem("\(key)[\(index)]", "must be a string")
                return nil
            }
            strings.append(string)
        }
        return strings
    }

    public func section(_ key: String, required: Bool = true) -> ConfigSection? {
        guard let value = value(key, required: required) else { return nil }
        guard let table = value.table else {
            problem(key, "must be a table ([\(keyPath(key))]), not \(value.type)")
            return nil
        }
        return ConfigSection(file: file, path: keyPath(key), table: table, issues: issues)
    }

    /// An array of tables (`[[meters]]`); empty when absent and not required.
    public func sections(_ key: String, required: Bool = true) -> [ConfigSection] {
        guard let value = value(key, required: required) else { return [] }
        guard let array = value.array else {
            problem(key, "must be an array of tables ([[\(keyPath(key))]]), not \(value.type)")
            return []
        }
        var sections: [ConfigSection] = []
        for (index, element) in array.enumerated() {
            guard let table = element.table else {
                problem("\(key)[\(index)]", "must be a table")
                continue
            }
            sections.append(ConfigSection(file: file, path: "\(keyPath(key))[\(index)]", table: table, issues: issues))
        }
        return sections
    }

    /// Reports every key of this section that no accessor asked for (typically a misspelling).
    public func rejectUnknownKeys() {
        for key in table.keys.sorted() where !used.contains(key) {
            problem(key, "unknown key")
        }
    }
}

public struct FileProblem: Error, Sendable {
    public let message: String
}

/// Reads a whole text file (at most `limit` bytes) without Foundation.
public func readTextFile(_ path: String, limit: Int) -> Result<String, FileProblem> {
    // Non-blocking: a FIFO or device named by mistake must not hang the reader.
    let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard descriptor >= 0 else { return .failure(FileProblem(message: "cannot open: \(String(cString: strerror(errno)))")) }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return .failure(FileProblem(message: "is not a regular file")) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return .failure(FileProblem(message: "cannot read: \(String(cString: strerror(errno)))")) }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
        guard bytes.count <= limit else { return .failure(FileProblem(message: "larger than \(limit) bytes")) }
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        return .failure(FileProblem(message: "is not UTF-8 text"))
    }
    return .success(text)
}

extension ConfigSection {
    /// A required identifier (node id, POD, meter name; GridCore's `Identifier`).
    public func identifier(_ key: String) -> String? {
        guard let value = string(key) else { return nil }
        guard Identifier.isValid(value) else {
            problem(key, "must be \(Identifier.rule), not \"\(value)\"")
            return nil
        }
        return value
    }

    /// A path named in this file: relative paths are taken from the file's folder, so a
    /// configuration folder can be moved as a whole.
    public func resolvePath(_ path: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        let folder = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) : "."
        return folder + "/" + path
    }

    /// Checks an MQTT topic or prefix: non-empty, no wildcards, no trailing '/'.
    public func checkTopic(_ key: String, _ topic: String) {
        if topic.isEmpty || topic.contains(where: { "+#".contains($0) }) || topic.hasSuffix("/") || topic.utf8.count > 512 {
            problem(key, "must be a non-empty topic without wildcards or a trailing '/'")
        }
    }
}
