import Foundation
import Sodium
import Testing
import TestSupport

/// The real chain: simulated meter → `lightnode` → Mosquitto → `coordinator` → REST API.
@Suite struct CoordinatorIngestTests {
    @Test func readingsArriveCertifiedAndScopedByParticipant() throws {
        let (broker, simulator, _, agent) = try PublisherTests.rig()
        defer { simulator.stop() }
        let coordinator = try CoordinatorProcess(mqttPort: broker.port, extraConfig: """
            [ingest]
            certify_within_s = 2
            interval_ms = 250
            [certification]
            checkpoint_interval_s = 1
            """)
        let key = try SigningKey(contentsOfFile: agent.folder.file("node.key"))
        let pod = "IT001E00000042"
        try coordinator.register(node: "ln-test", pod: pod, keyFile: agent.folder.file("node.key"))
        try coordinator.succeed(["pod", "set", "--pod", pod, "--aggregator", "agr-1"])
        let dso = try coordinator.addToken(role: "DSO")
        let ownAggregator = try coordinator.addToken(role: "AGR", participant: "agr-1")
        let otherAggregator = try coordinator.addToken(role: "AGR", participant: "agr-2")
        #expect(try coordinator.command(["token", "add", "--role", "AGR"]).status == 2)
        try coordinator.start()
        defer { coordinator.stop() }
        try agent.start()
        defer { agent.stop() }

        let from = Date().addingTimeInterval(-60).ISO8601Format()
        let to = Date().addingTimeInterval(3600).ISO8601Format()
        let path = "/api/v1/pods/\(pod)/measurements?from=\(from)&to=\(to)&resolution=raw"
        var items: [[String: Any]] = []
        let certified = try waitUntil(timeoutSeconds: 90, pollMilliseconds: 250) {
            let answer = try coordinator.get(path, token: dso)
            guard answer.status == 200, let json = try JSONSerialization.jsonObject(with: answer.body) as? [String: Any],
                  let list = json["items"] as? [[String: Any]] else { return false }
            items = list
            return list.count >= 20 && list.prefix(20).allSatisfy { $0["certified"] as? Bool == true }
        }
        #expect(certified, "\(items.count) items; log:\n\(coordinator.log)")

        // What the API serves is what the node's ledger holds, seq for seq.
        let ledger = Dictionary(uniqueKeysWithValues: try agent.readings(of: "main").map { ($0.seq, $0) })
        for item in items.prefix(20) {
            let seq = UInt64(item["seq"] as! Int)
            #expect(ledger[seq]?.values["active_power"] == item["active_power"] as? Double)
            #expect(ledger[seq]?.time == item["t"] as? String)
        }

        // Scoping: the POD's aggregator sees it, another aggregator does not even learn it exists.
        #expect(try coordinator.get(path, token: ownAggregator).status == 200)
        #expect(try coordinator.get(path, token: otherAggregator).status == 404)
        #expect(try coordinator.get(path).status == 401)
        #expect(try coordinator.get(path, token: "scd_forged").status == 401)
        #expect(try coordinator.get("/api/v1/nodes", token: ownAggregator).status == 403)
        let bad = try coordinator.get("/api/v1/pods/\(pod)/measurements?from=yesterday&to=\(to)", token: dso)
        #expect(bad.status == 400)
        #expect(String(decoding: bad.body, as: UTF8.self).contains(#""field":"from""#))
        let metrics = String(decoding: try coordinator.get("/metrics").body, as: UTF8.self)
        #expect(metrics.contains("coordinator_ingest_entries_total"))

        // A reading proven to a stranger: once its block is sealed and under a signed checkpoint,
        // the independent Python verifier checks the proof from the documented format alone.
        let proofPath = "/api/v1/pods/\(pod)/nodes/ln-test/readings/5/proof"
        var proof = Data()
        let proven = try waitUntil(timeoutSeconds: 120, pollMilliseconds: 500) {
            let answer = try coordinator.get(proofPath, token: ownAggregator)
            proof = answer.body
            return answer.status == 200
        }
        #expect(proven, "\(String(decoding: proof, as: UTF8.self))\n\(coordinator.log)")
        #expect(try coordinator.get(proofPath, token: otherAggregator).status == 404)
        let logKey = String(decoding: try coordinator.get("/api/v1/log/key", token: dso).body, as: UTF8.self)
        let python = try #require(Paths.python, "the test venv is missing")
        let file = coordinator.folder.file("proof.json")
        try proof.write(to: URL(fileURLWithPath: file))
        let verified = try Processes.run(python, [Paths.pythonScript("reading_proof_verify.py"), file, "--log-key", logKey,
                                                  "--node-key", Base64.encode(key.publicKey.bytes)])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.hasPrefix("proven: ln-test seq 5"))
        // A tampered body breaks it.
        var tampered = try #require(try JSONSerialization.jsonObject(with: proof) as? [String: Any])
        var entries = tampered["entries"] as! [[String: Any]]
        entries[0]["body"] = (entries[0]["body"] as! String).replacingOccurrences(of: "\"q\":\"good\"", with: "\"q\":\"bad\"")
        tampered["entries"] = entries
        try JSONSerialization.data(withJSONObject: tampered).write(to: URL(fileURLWithPath: file))
        let refused = try Processes.run(python, [Paths.pythonScript("reading_proof_verify.py"), file, "--log-key", logKey])
        #expect(refused.status == 1 && refused.stdout.contains("does not match its body"), "\(refused.stdout)")
        // Checkpoints grow consistently.
        let checkpoint = String(decoding: try coordinator.get("/api/v1/log/checkpoint", token: dso).body, as: UTF8.self)
        let size = Int(checkpoint.split(separator: "\n")[1])!
        #expect(checkpoint.contains("\n\n— scd.coordinator.local/log "))
        #expect(try coordinator.get("/api/v1/log/consistency?first=1&second=\(size)", token: dso).status == 200)
        #expect(try coordinator.get("/api/v1/log/consistency?first=1&second=\(size + 1000)", token: dso).status == 400)
        #expect(coordinator.stop() == 0)
    }

    /// The broker may come up after the coordinator: the API answers at once, `/readyz` says not
    /// ready until the broker acknowledged the subscription.
    @Test func startsBeforeTheBroker() throws {
        let broker = try MosquittoBroker()
        broker.stop()
        let coordinator = try CoordinatorProcess(mqttPort: broker.port)
        try coordinator.start(waitingForBroker: false)
        defer { coordinator.stop() }
        #expect(try coordinator.get("/readyz").status == 503)
        try broker.start()
        #expect(waitUntil(timeoutSeconds: 90) { (try? coordinator.get("/readyz").status) == 200 }, "\(coordinator.log)")
        #expect(coordinator.stop() == 0)
    }
}
