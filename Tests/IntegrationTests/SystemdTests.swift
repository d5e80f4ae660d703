import Foundation
import Testing
import TestSupport

/// The systemd units (`systemd/`) and the notification protocol the programs speak to them:
/// `systemd-analyze verify` accepts both units, `systemd-analyze security` rates them at most
/// 2.5, and `lightnode run` and `coordinator serve` report READY=1, pet the watchdog and say
/// STOPPING=1 over `$NOTIFY_SOCKET` as systemd would see them.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze"))
struct SystemdTests {
    static let units = ["lightnode", "coordinator"]

    /// The unit with its ExecStart pointing at the built program (verify checks it is executable).
    static func unit(_ name: String, in folder: TemporaryDirectory) throws -> String {
        let text = try String(contentsOfFile: Paths.packageRoot.appendingPathComponent("systemd/\(name).service").path, encoding: .utf8)
        let path = folder.file("\(name).service")
        try text.replacingOccurrences(of: "/usr/bin/\(name)", with: Paths.executable(name)).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: units) func theUnitVerifiesAndIsHardened(name: String) throws {
        let folder = TemporaryDirectory()
        let path = try Self.unit(name, in: folder)
        let verified = try Processes.run("/usr/bin/systemd-analyze", ["verify", "--man=no", path])
        #expect(verified.status == 0 && verified.stderr.isEmpty, "\(verified.stderr)")
        let security = try Processes.run("/usr/bin/systemd-analyze", ["security", "--offline=true", "--threshold=25", path])
        let level = security.stdout.split(separator: "\n").last { $0.contains("Overall exposure level") }
            .flatMap { $0.split(separator: ":").last?.split(separator: " ").first }.flatMap { Double($0) }
        #expect(security.status == 0 && (level ?? 10) <= 2.5, "\(security.stdout.suffix(2000))\(security.stderr)")
    }

    @Test func theLightNodeNotifiesReadinessWatchdogAndStopping() throws {
        let site = try MeterSimulatorProcess(map: PublisherTests.map)
        defer { site.stop() }
        let agent = try AgentProcess(meters: [.init(name: "main", link: .tcp(port: site.port!), map: PublisherTests.map)], intervalMs: 250)
        let notify = try NotifySocket(in: agent.folder)
        // A 1-s watchdog: petted every 500 ms, so also within the 250-ms cycles' loop.
        try agent.start(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        let ready = notify.until(timeoutSeconds: 30) { $0.hasPrefix("READY=1") }
        #expect(ready?.last?.contains("STATUS=reading 1 meter(s) every 250 ms") == true, "\(ready ?? [])")
        var pets = 0
        let petted = notify.until(timeoutSeconds: 10) { message in
            if message == "WATCHDOG=1" { pets += 1 }
            return pets == 3
        }
        #expect(petted != nil)
        _ = agent.stop()
        let stopping = notify.until(timeoutSeconds: 30) { $0.hasPrefix("STOPPING=1") }
        #expect(stopping != nil)
    }

    @Test func theCoordinatorNotifiesReadinessWatchdogAndStopping() throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let coordinator = try CoordinatorProcess(mqttPort: broker.port)
        let notify = try NotifySocket(in: coordinator.folder)
        try coordinator.start(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"])
        let ready = notify.until(timeoutSeconds: 30) { $0.hasPrefix("READY=1") }
        #expect(ready?.last?.contains("STATUS=HTTP API on") == true, "\(ready ?? [])")
        var pets = 0
        #expect(notify.until(timeoutSeconds: 10) { message in
            if message == "WATCHDOG=1" { pets += 1 }
            return pets == 3
        } != nil)
        coordinator.stop()
        #expect(notify.until(timeoutSeconds: 30) { $0.hasPrefix("STOPPING=1") } != nil)
    }
}
