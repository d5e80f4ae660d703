// UFTP sealing and unsealing, side by side with the reference implementation (PyPI
// shapeshifter-uftp, run from the test venv): a FlexOffer of 96 ISPs
//   seal:           write the XML and sign it (crypto_sign, combined mode)
//   unseal + parse: verify and open it, and decode it into the typed message; also on every core
//                   at once, as the receiving endpoint does (the reference's process is one core)
// Run: swift run -c release uftp-bench [ROUNDS]
//      swift run -c release uftp-bench http [MESSAGES] [CONCURRENCY]
//        signed FlexOffers (distinct MessageIDs) posted over loopback to `coordinator serve`'s UFTP
//        endpoint (SQLite: stored, answered, the response queued) and to the reference's DSO
//        service, CONCURRENCY requests in flight; accepted (HTTP 200) messages per second
//      swift run -c release uftp-bench deliver [MESSAGES] [ENDPOINTS] [LATENCY_MS]
//        queued messages delivered by the coordinator's sender (Delivery.swift)
import AsyncHTTPClient
import Foundation
import GridCore
import Sodium
import TestSupport
import UFTP

let httpMode = CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "http"
let rounds = !httpMode && CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 20_000 : 20_000
let machine = "\(ProcessInfo.processInfo.activeProcessorCount)-core \((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?")"

func value<T: UFTPSimpleType>(_ text: String) -> T { try! T(validating: text) }

let offer = UFTPMessage(
    metadata: Metadata(version: .v3_1_0, senderDomain: value("agr.example.com"), recipientDomain: value("dso.example.com"),
                       timeStamp: value("2026-11-25T10:00:00.000Z"), messageID: value("00000000-0000-4000-8000-000000000001"),
                       conversationID: value("00000000-0000-4000-8000-000000000002")),
    payload: FlexOffer(ispDuration: ISPDuration(minutes: 15), timeZone: value("Europe/Amsterdam"), period: value("2026-11-26"),
                       congestionPoint: value("ea1.2023-01.com.example.dso:cp-1"), expirationDateTime: value("2026-11-25T18:00:00.000Z"),
                       flexRequestMessageID: value("00000000-0000-4000-8000-000000000003"), currency: value("EUR"),
                       options: [.init(optionReference: "A", price: value("12.5"), minActivationFactor: value("0.5"),
                                       isps: (0..<96).map { PowerISP(power: -1000 - 10 * $0, start: try! PositiveInteger($0 + 1), duration: 1) })]))
let key = SigningKey.generate()

if httpMode {
    try await httpBenchmark()
    exit(0)
}
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "deliver" {
    let numbers = CommandLine.arguments.dropFirst(2).compactMap { Int($0) }
    try await deliveryBenchmark(messages: numbers.first ?? 2_000, endpoints: numbers.dropFirst().first ?? 1,
                                latencyMs: numbers.dropFirst(2).first ?? 0)
    exit(0)
}

func rate(_ body: () throws -> Void) rethrows -> Double {
    let start = MonotonicClock.nanoseconds()
    for _ in 0..<rounds { try body() }
    return Double(rounds) / (Double(MonotonicClock.nanoseconds() - start) / 1e9)
}

var sealed: [UInt8] = []
let sealRate = rate { sealed = key.signCombined(UFTPCodec.encode(offer)) }
var opened: UFTPMessage?
let unsealRate = try rate {
    guard let payload = key.publicKey.open(signedMessage: sealed) else { fatalError("does not verify") }
    opened = try UFTPCodec.decode(payload)
}
precondition((opened?.payload as? FlexOffer)?.options[0].isps.count == 96)
// As the receiving endpoint unseals: on every core at once, each its own messages.
let cores = ProcessInfo.processInfo.activeProcessorCount
let allCoresStart = MonotonicClock.nanoseconds()
let (document, verifier, perCore) = (sealed, key.publicKey, rounds)
DispatchQueue.concurrentPerform(iterations: cores) { _ in
    for _ in 0..<perCore {
        guard let payload = verifier.open(signedMessage: document), (try? UFTPCodec.decode(payload)) != nil else { fatalError("does not verify") }
    }
}
let unsealAllCoresRate = Double(rounds * cores) / (Double(MonotonicClock.nanoseconds() - allCoresStart) / 1e9)

var reference: (seal: Double, unseal: Double)?
if let python = Paths.python {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [Paths.packageRoot.appendingPathComponent("Tests/python/uftp_seal_bench.py").path, "1000"]
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if process.terminationStatus == 0, let json = try? JSONSerialization.jsonObject(with: data) as? [String: Double],
       let seal = json["seal_per_s"], let unseal = json["unseal_per_s"] {
        reference = (seal, unseal)
    }
}

func format(_ value: Double) -> String { String(format: "%.0f", value) }
print("Machine: \(machine). FlexOffer with 96 ISPs, \(UFTPCodec.encode(offer).count) bytes of XML; \(rounds) rounds (the reference: 1,000).\n")
print("| operation | this implementation (messages/s) | shapeshifter-uftp 2.4.0 (messages/s) | ratio |")
print("|---|---|---|---|")
for (name, ours, theirs) in [("seal (write + sign)", sealRate, reference?.seal), ("unseal + parse (verify + decode)", unsealRate, reference?.unseal),
                             ("unseal + parse, \(cores) cores (the reference: one)", unsealAllCoresRate, reference?.unseal)] {
    print("| \(name) | \(format(ours)) | \(theirs.map(format) ?? "not run (no venv)") | \(theirs.map { String(format: "%.0f×", ours / $0) } ?? "–") |")
}

/// Posts `documents` to `endpoint`, `concurrency` at a time: accepted (HTTP 200) per second.
func post(_ documents: [[UInt8]], to endpoint: String, concurrency: Int, client: HTTPClient) async throws -> (rate: Double, refused: Int) {
    let start = MonotonicClock.nanoseconds()
    let refused = try await withThrowingTaskGroup(of: Int.self) { group in
        var refused = 0
        for (index, document) in documents.enumerated() {
            if index >= concurrency, let failed = try await group.next() { refused += failed }
            group.addTask {
                var request = HTTPClientRequest(url: endpoint)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "text/xml; charset=utf-8")
                request.body = .bytes(document)
                let response = try await client.execute(request, timeout: .seconds(60))
                _ = try await response.body.collect(upTo: 1 << 16)
                return response.status.code == 200 ? 0 : 1
            }
        }
        for try await failed in group { refused += failed }
        return refused
    }
    return (Double(documents.count - refused) / (Double(MonotonicClock.nanoseconds() - start) / 1e9), refused)
}

func httpBenchmark() async throws {
    let count = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 5_000 : 5_000
    let concurrency = CommandLine.arguments.count > 3 ? Int(CommandLine.arguments[3]) ?? 16 : 16
    let agrKey = SigningKey.generate(), dsoKey = SigningKey.generate()
    let documents = (0..<count).map { _ in
        var message = offer
        message.metadata.messageID = .random()
        message.metadata.conversationID = .random()
        return SignedMessage(sealing: message, role: .agr, key: agrKey).encode()
    }
    let client = HTTPClient(eventLoopGroupProvider: .singleton)

    // Ours: the coordinator on SQLite, the AGR's endpoint a closed port (responses stay queued).
    let broker = try MosquittoBroker()
    let folder = TemporaryDirectory("uftp-bench")
    try dsoKey.write(toNewFile: folder.file("uftp.key"))
    try agrKey.write(toNewFile: folder.file("agr.key"))
    try dsoKey.write(toNewFile: folder.file("dso-copy.key"))
    try folder.writeParticipants([("agr.example.com", "AGR", 9, agrKey.publicKey)])
    let coordinator = try CoordinatorProcess(mqttPort: broker.port, extraConfig: """
        [uftp]
        domain = "dso.example.com"
        roles = ["DSO"]
        signing_key_file = "uftp.key"
        participants_file = "participants.toml"
        rate_limit_per_s = 1000000    # the load is one sender: measure acceptance, not the limit
        """, folder: folder)
    try coordinator.start()
    let ours = try await post(documents, to: "http://127.0.0.1:\(coordinator.httpPort)/shapeshifter/api/v3/message",
                              concurrency: concurrency, client: client)
    coordinator.stop()
    broker.stop()

    var theirs: (rate: Double, refused: Int)?
    if let python = Paths.python {
        let port = FreePort.allocate()
        let secret = try folder.secret("dso-copy.key")
        let service = try RunningProcess(python, [Paths.packageRoot.appendingPathComponent("Tests/python/uftp_dso_service.py").path,
                                                  "\(port)", secret, Base64.encode(agrKey.publicKey.bytes)], stderrPath: folder.file("reference.log"))
        _ = service.readLine()
        theirs = try await post(documents, to: "http://127.0.0.1:\(port)/shapeshifter/api/v3/message", concurrency: concurrency, client: client)
        service.stop()
    }
    try await client.shutdown()
    print("Machine: \(machine). \(count) signed FlexOffers (96 ISPs, \(documents[0].count) bytes each) posted over loopback, "
        + "\(concurrency) in flight; client, server (and its database) share the cores.\n")
    print("| receiver | accepted messages/s | refused | ratio |")
    print("|---|---|---|---|")
    print("| coordinator serve (SQLite: stored, validated, response queued) | \(format(ours.rate)) | \(ours.refused) | \(theirs.map { String(format: "%.1f×", ours.rate / $0.rate) } ?? "–") |")
    print("| shapeshifter-uftp 2.4.0 DsoService (uvicorn) | \(theirs.map { format($0.rate) } ?? "not run (no venv)") | \(theirs.map { "\($0.refused)" } ?? "–") | 1× |")
}
