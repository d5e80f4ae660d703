// The parsers of every external input, as libFuzzer targets (docs/operations.md, "Fuzzing").
//
// Built only through SwiftPM's sanitizer option, which compiles this file as a library and links
// libFuzzer's own main (scripts/fuzz.sh):
//   swift build -c release --scratch-path .build-fuzz --product fuzz-parsers --sanitize fuzzer
// A plain `swift build` makes a program that does nothing. Declarations only in this file.
//
// Run: FUZZ_TARGET=<name> .build-fuzz/release/fuzz-parsers [libFuzzer flags] [corpus folders | inputs]
import ConfigFile
import Foundation
import GridCore
import Ledger
import LightNode
import Market
import Modbus
import Sodium
import UFTP
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// A fixed key: inputs reach what lies behind a signature check (set-points, CS1).
let key = try! SigningKey(seed: [UInt8](repeating: 42, count: 32))
let terms = MarketTerms(ispMinutes: 15, timeZone: TimeZone(identifier: "Europe/Amsterdam")!)
let now = Timestamp(rfc3339: "2026-11-26T08:00:00.000Z")!
/// Files the configuration targets write their input to (one process, one input at a time).
let scratch: String = {
    let folder = "/tmp/fuzz-parsers-\(getpid())"
    mkdir(folder, 0o700)
    return folder
}()

let fuzzTargets: [String: @Sendable ([UInt8]) -> Void] = [
    // MQTT: `{prefix}/{node}/readings` and `…/setpoints/ack` as the coordinator reads them.
    "readings-message": { bytes in
        _ = try? ReadingsMessage(topic: "lightnode/v1/ln-1/readings", payload: bytes, prefix: "lightnode/v1", maxBytes: 1 << 20)
    },
    "setpoint-ack": { bytes in _ = SetPointAcknowledgement(payload: bytes) },
    // A ledger entry's body, as the platform indexes it, and the JSON reader under it.
    "ledger-body": { bytes in
        _ = try? ReadingBody(parsing: bytes)
        _ = try? JSONValue.parse(bytes)
    },
    // A set-point as the Light Node checks it: the input is `sp`, signed by a trusted key.
    "setpoint": { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        var envelope = JSONObjectWriter()
        envelope.string("sp", text)
        envelope.string("sig", Base64.encode(key.sign(Array(text.utf8)).bytes))
        let rules = SetPointRules(node: "ln-1", trustedKeys: [key.publicKey], minW: -20_000, maxW: 20_000, maxAgeSeconds: 300)
        _ = rules.check(envelope.finish(), now: now)
    },
    // UFTP: a payload, decoded and put through every check the receiver makes.
    "uftp-message": { bytes in
        guard let message = try? UFTPCodec.decode(bytes) else { return }
        validate(message.payload)
        _ = UFTPCodec.encode(message)
    },
    // UFTP: a SignedMessage wrapper, opened (CS1) with the fixed key; its content decoded too.
    "uftp-signed": { bytes in
        guard let signed = try? SignedMessage.decode(bytes), let content = signed.open(keys: [key.publicKey]) else { return }
        if let message = try? UFTPCodec.decode(content) { validate(message.payload) }
    },
    // Configuration files: the Light Node's (with the register maps it names) and a register map.
    "agent-config": { bytes in
        let file = scratch + "/lightnode.toml"
        guard FileManager.default.createFile(atPath: file, contents: Data(bytes)) else { return }
        _ = try? AgentConfig.load(file: file)
    },
    "register-map": { bytes in
        let file = scratch + "/map.toml"
        guard FileManager.default.createFile(atPath: file, contents: Data(bytes)) else { return }
        guard let map = RegisterMap.load(file: file, issues: ConfigIssues()) else { return }
        for register in map.registers {
            let words = (0..<register.type.registerCount).map { UInt16(truncatingIfNeeded: $0 &* 0x9E37 &+ bytes.count) }
            if let value = register.decode(words[...]) { _ = register.encode(value) }
        }
    },
    // Modbus: register words as a meter sends them, under every type, order, scale and offset.
    "register-words": { bytes in
        guard bytes.count >= 20 else { return }
        let type = RegisterType.allCases[Int(bytes[0]) % RegisterType.allCases.count]
        let scale = Double(bitPattern: UInt64(bytes[2...9]))
        let offset = Double(bitPattern: UInt64(bytes[10...17]))
        guard scale.isFinite, scale != 0, offset.isFinite else { return }
        let register = Register(quantity: .activePower, function: .input, address: 0, type: type,
                                wordOrder: bytes[1] & 1 == 0 ? .big : .little, scale: scale, offset: offset)
        var words: [UInt16] = []
        for index in stride(from: 18, to: bytes.count - 1, by: 2) { words.append(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1])) }
        guard words.count >= type.registerCount else { return }
        if let value = register.decode(words[..<type.registerCount]) { _ = register.encode(value) }
    },
    // The what-if tool's book (`coordinator clear --input`): read, cleared, validated, printed.
    "clear-book": { bytes in
        guard let scenario = try? Scenario(json: Data(bytes)) else { return }
        _ = try? scenario.run().json()
    },
]

/// Every check a receiver makes on a flex message that needs no stored state.
func validate(_ payload: any UFTPPayload) {
    if let flex = payload as? any FlexMessage {
        _ = GenericValidation.isps(flex, terms: terms)
        _ = GenericValidation.period(flex, terms: terms, now: now)
    }
    switch payload {
    case let prognosis as DPrognosis:
        _ = UseCaseValidation.prognosis(prognosis, terms: terms)
        _ = prognosis.powerByISP
    case let request as FlexRequest:
        _ = UseCaseValidation.request(request)
        _ = GenericValidation.expiration(request.expirationDateTime, of: request, terms: terms, now: now)
    case let offer as FlexOffer:
        _ = GenericValidation.expiration(offer.expirationDateTime, of: offer, terms: terms, now: now)
        for option in offer.options {
            let order = FlexOrder(ispDuration: offer.ispDuration, timeZone: offer.timeZone, period: offer.period,
                                  congestionPoint: offer.congestionPoint, flexOfferMessageID: .random(), price: option.price,
                                  currency: offer.currency, orderReference: "o", optionReference: option.optionReference, isps: option.isps)
            _ = UseCaseValidation.order(order, against: offer)
        }
    case let order as FlexOrder:
        _ = order.isps.map { UseCaseValidation.numbers($0.start, $0.duration) }
    case let settlement as FlexSettlement:
        _ = GenericValidation.period(settlement)
        _ = settlement.orderSettlements.flatMap { $0.isps.map { UseCaseValidation.numbers($0.start, $0.duration) } }
    default:
        break
    }
}

extension UInt64 {
    /// Eight bytes, most significant first.
    init(_ bytes: ArraySlice<UInt8>) {
        self = bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

nonisolated(unsafe) var selectedTarget: @Sendable ([UInt8]) -> Void = { _ in }

func refuse(_ message: String) -> Never {
    let text = message + "\nfuzz targets: " + fuzzTargets.keys.sorted().joined(separator: " ") + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

/// The Swift runtime's crash handlers (the backtracer) would take SIGILL, SIGTRAP and the like
/// before libFuzzer: a trap would end the process without the crash's input saved. Those
/// installed from libswiftCore are put back to the default, so libFuzzer installs its own.
func removeSwiftCrashHandlers() {
    var ranges: [ClosedRange<UInt>] = []
    if let maps = fopen("/proc/self/maps", "r") {
        defer { fclose(maps) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, maps) > 0, let line {
            let text = String(cString: line)
            guard text.hasSuffix("libswiftCore.so\n") else { continue }
            let bounds = text.prefix { $0 != " " }.split(separator: "-")
            if bounds.count == 2, let low = UInt(bounds[0], radix: 16), let high = UInt(bounds[1], radix: 16), low < high {
                ranges.append(low...(high - 1))
            }
        }
    }
    for signal in [SIGILL, SIGTRAP, SIGABRT, SIGFPE, SIGBUS, SIGSEGV] {
        var current = sigaction()
        guard sigaction(signal, nil, &current) == 0 else { continue }
        let handler = unsafeBitCast(current.__sigaction_handler, to: UInt.self)
        if ranges.contains(where: { $0.contains(handler) }) { Glibc.signal(signal, SIG_DFL) }
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>,
                           _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    removeSwiftCrashHandlers()
    var name = getenv("FUZZ_TARGET").map { String(cString: $0) }
    var help = false
    if let arguments = argv.pointee {
        for index in 0..<Int(argc.pointee) {
            guard let argument = arguments[index].map({ String(cString: $0) }) else { continue }
            if argument.hasPrefix("--target=") { name = String(argument.dropFirst("--target=".count)) }
            if argument.hasPrefix("-help=") { help = true }
        }
    }
    if help && name == nil { return 0 }
    guard let name, !name.isEmpty else { refuse("no fuzz target: FUZZ_TARGET=<name> or --target=<name>") }
    guard let target = fuzzTargets[name] else { refuse("no fuzz target \"\(name)\"") }
    selectedTarget = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    selectedTarget(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
