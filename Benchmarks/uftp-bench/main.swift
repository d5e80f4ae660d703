// UFTP sealing and unsealing, side by side with the reference implementation (PyPI
// shapeshifter-uftp, run from the test venv): a FlexOffer of 96 ISPs
//   seal:           write the XML and sign it (crypto_sign, combined mode)
//   unseal + parse: verify and open it, and decode it into the typed message
// Run: swift run -c release uftp-bench [ROUNDS]
import Foundation
import GridCore
import Sodium
import TestSupport
import UFTP

let rounds = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 20_000 : 20_000
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
for (name, ours, theirs) in [("seal (write + sign)", sealRate, reference?.seal), ("unseal + parse (verify + decode)", unsealRate, reference?.unseal)] {
    print("| \(name) | \(format(ours)) | \(theirs.map(format) ?? "not run (no venv)") | \(theirs.map { String(format: "%.0f×", ours / $0) } ?? "–") |")
}
