import Foundation
import GridCore
import Sodium
import Testing
import TestSupport
import UFTP

/// The reference implementation's DSO and AGR services (PyPI shapeshifter-uftp) using the
/// coordinator as CRO in closed mode: portfolio updates, both queries answered from what was
/// declared, and a connection conflict refused (Tests/python/uftp_cro_peers.py).
@Suite(.enabled(if: Paths.pythonTestsEnabled, "needs the test venv (make test)"))
struct CROInteropTests {
    @Test(arguments: ["3.0.0", "3.1.0"])
    func referenceDSOAndAGRUseTheCommonReference(version: String) throws {
        let broker = try MosquittoBroker()
        defer { broker.stop() }
        let folder = TemporaryDirectory("coordinator")
        let croKey = SigningKey.generate(), dsoKey = SigningKey.generate(), agrKey = SigningKey.generate()
        let dsoPort = FreePort.allocate(), agrPort = FreePort.allocate()
        try croKey.write(toNewFile: folder.file("uftp.key"))
        try dsoKey.write(toNewFile: folder.file("dso.key"))
        try agrKey.write(toNewFile: folder.file("agr.key"))
        try folder.writeParticipants([("dso.example.com", "DSO", dsoPort, dsoKey.publicKey),
                                      ("agr.example.com", "AGR", agrPort, agrKey.publicKey)])
        let coordinator = try CoordinatorProcess(mqttPort: broker.port, extraConfig: """
            [uftp]
            domain = "cro.example.com"
            roles = ["CRO"]
            cro_mode = "closed"
            signing_key_file = "uftp.key"
            participants_file = "participants.toml"
            """, folder: folder)
        try coordinator.succeed(["cro", "add", "--role", "DSO", "--domain", "dso.example.com", "--name", "Example DSO"])
        try coordinator.succeed(["cro", "add", "--role", "AGR", "--domain", "agr.example.com", "--name", "Example AGR"])
        #expect(try coordinator.succeed(["cro", "list"]).stdout
            == "AGR\tagr.example.com\tExample AGR\nDSO\tdso.example.com\tExample DSO\n")
        try coordinator.start()
        defer { coordinator.stop() }

        let python = try #require(Paths.python, "the test venv is missing")
        let outcome = try Processes.run(python, [
            Paths.pythonScript("uftp_cro_peers.py"), "http://127.0.0.1:\(coordinator.httpPort)/shapeshifter/api/v3/message",
            "cro.example.com", Base64.encode(croKey.publicKey.bytes), "\(dsoPort)", try folder.secret("dso.key"),
            "\(agrPort)", try folder.secret("agr.key"), version,
        ], timeoutSeconds: 240)
        let diagnostics = "\(outcome.stdout)\n\(outcome.stderr)\n\(coordinator.log)"
        #expect(outcome.status == 0, "\(diagnostics)")
        #expect(coordinator.refusedDeliveries.isEmpty, "\(diagnostics)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: [String: Any]],
                                  "\(diagnostics)")
        func ea(_ name: String) -> String { "ea1.2023-01.com.example.dso:\(name)" }

        for step in ["dso_update", "agr_update", "agr_query", "dso_query"] {
            #expect(result[step]?["status"] as? Int == 200 && result[step]?["result"] as? String == "Accepted", "\(step): \(diagnostics)")
        }
        let views = try #require(result["agr_query"]?["views"] as? [[String: Any]])
        #expect(views.count == 1)
        let dsos = try #require(views.first?["dsos"] as? [[String: Any]])
        #expect(dsos.count == 1 && dsos.first?["domain"] as? String == "dso.example.com")
        let points = try #require(dsos.first?["congestion_points"] as? [[String: Any]])
        #expect(points.first?["entity_address"] as? String == ea("cp-1"))
        #expect(points.first?["connections"] as? [String] == [ea("c-1")])
        #expect(views.first?["unplaced"] as? [String] == [ea("c-3")])

        let connections = try #require(result["dso_query"]?["connections"] as? [[String: Any]])
        #expect(connections.map { $0["entity_address"] as? String } == [ea("c-1"), ea("c-2")])
        #expect(connections.map { $0["agr_domain"] as? String } == ["agr.example.com", nil])

        #expect(result["conflict"]?["result"] as? String == "Rejected")
        #expect(result["conflict"]?["rejection_reason"] as? String == "Connection conflict: [\(ea("c-2"))] at [\(ea("cp-1"))]")
    }
}
