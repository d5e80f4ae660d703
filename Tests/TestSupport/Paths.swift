import Foundation

/// Where things are for the tests: the package, its built executables, `../shared`, the venv.
public enum Paths {
    /// The package root (this file is Tests/TestSupport/Paths.swift).
    public static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The build products folder: the one holding the running test bundle and the executables.
    public static let products: URL = {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        let own = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // On Linux the tests run from <products>/<package>PackageTests.xctest; a benchmark runs
        // from <products> itself, which may not hold `lightnode` (built one product at a time).
        var folder = own
        while folder.path != "/", !FileManager.default.fileExists(atPath: folder.appendingPathComponent("lightnode").path) {
            folder.deleteLastPathComponent()
        }
        return folder.path == "/" ? own : folder
    }()

    /// A built executable of this package (`swift build --build-tests` builds them all).
    public static func executable(_ name: String) -> String {
        products.appendingPathComponent(name).path
    }

    /// `../shared` beside the project (or $LIGHTNODE_SHARED), if present.
    public static let shared: URL? = {
        let candidate = ProcessInfo.processInfo.environment["LIGHTNODE_SHARED"].map { URL(fileURLWithPath: $0) }
            ?? packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
        return FileManager.default.fileExists(atPath: candidate.appendingPathComponent("anchors").path) ? candidate : nil
    }()

    public static var sharedAvailable: Bool { shared != nil }

    /// The test venv's Python (made by `make test`: PyNaCl, pymodbus, …), or $LIGHTNODE_PYTHON.
    public static let python: String? = {
        let candidate = ProcessInfo.processInfo.environment["LIGHTNODE_PYTHON"]
            ?? packageRoot.appendingPathComponent(".venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: candidate) ? candidate : nil
    }()

    /// Tests needing the venv run when it exists, and always under CI (where its absence must fail).
    public static var pythonTestsEnabled: Bool {
        python != nil || ProcessInfo.processInfo.environment["CI"] != nil
    }

    /// A script under Tests/python.
    public static func pythonScript(_ name: String) -> String {
        packageRoot.appendingPathComponent("Tests/python").appendingPathComponent(name).path
    }
}

/// A fresh folder under the system temp folder, removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(_ label: String = "lightnode-test") {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }
}
