import Foundation
import Testing
import TestSupport

/// Property-based API testing with `schemathesis` (PyPI) against docs/openapi.yaml: generated
/// requests, valid and invalid, as an administrator, an aggregator and a BRP. Any 5xx, any
/// answer outside the document's schemas, statuses or content types fails.
@Suite(.enabled(if: Paths.pythonTestsEnabled, "needs the test venv"))
struct SchemathesisTests {
    @Test func theAPIConformsToItsOpenAPIDocument() throws {
        let broker = try MosquittoBroker()
        let coordinator = try CoordinatorProcess(mqttPort: broker.port)
        #expect(try coordinator.command(["pod", "set", "--pod", "POD-1", "--aggregator", "agr-1", "--brp", "brp-1"]).status == 0)
        let python = try #require(Paths.python, "the test venv is missing")
        let schemathesis = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("schemathesis").path
        try coordinator.start()
        defer { coordinator.stop() }
        let document = Paths.packageRoot.appendingPathComponent("docs/openapi.yaml").path
        for (role, participant) in [("admin", nil), ("AGR", "agr-1"), ("BRP", "brp-1")] as [(String, String?)] {
            let token = try coordinator.addToken(role: role, participant: participant)
            let run = try Processes.run(schemathesis, [
                "run", document, "--url", "http://127.0.0.1:\(coordinator.httpPort)", "-H", "Authorization: Bearer \(token)",
                "--checks", "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
                "--max-examples", "30", "--seed", "1", "--no-color",
            ], environment: ["SCHEMATHESIS_TELEMETRY": "false"], directory: coordinator.folder.path, timeoutSeconds: 600)
            #expect(run.status == 0, "as \(role):\n\(run.stdout.suffix(4000))\n\(run.stderr.suffix(2000))")
        }
        #expect(!coordinator.log.contains("Fatal"), "\(coordinator.log.suffix(2000))")
    }
}
