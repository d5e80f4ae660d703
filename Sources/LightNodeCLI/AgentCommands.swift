import CommandLineSupport
import ArgumentParser
import ConfigFile
import GridCore
import Ledger
import LightNode
import Logging
import Modbus
import Sodium

struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: "The Light Node configuration file (TOML).")
    var config: String
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the agent in the foreground: read every meter each interval into the ledger.",
        discussion: "Logs to stderr. SIGTERM or SIGINT stop it cleanly after the current append."
    )

    @OptionGroup var options: ConfigOption

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw CommandFailure.usage("--log-level: unknown level \(logLevel)")
        }
        let stop = StopSignal()  // before anything that could take a while
        let config = try AgentConfig.load(file: options.config)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        try NodeRuntime.run(config: config, logger: Logger(label: "lightnode"), until: stop)
    }
}

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and every register map it names; list all problems."
    )

    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try AgentConfig.load(file: options.config)
        Console.output("ok: node \(config.node.id) (POD \(config.node.pod)), \(config.meters.count) meter(s), interval \(config.intervalMs) ms")
        for meter in config.meters {
            Console.output("  \(meter.name): \(meter.device.map.model) at \(meter.endpoint) unit \(meter.device.unit), "
                + "\(meter.device.map.registers.count) quantities in \(meter.device.requests.count) request(s)")
        }
    }
}

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Read every meter once and print the decoded quantities with units.",
        discussion: "Exits 1 if any meter could not be read."
    )

    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try AgentConfig.load(file: options.config)
        var failed = 0
        for result in Probe.readAll(config) {
            let meter = result.meter
            let header = "\(meter.name): \(meter.device.map.model) at \(meter.endpoint) unit \(meter.device.unit) "
                + "(\((result.milliseconds * 10).rounded() / 10) ms)"
            switch result.reading {
            case .good(let values):
                Console.output(header)
                let width = values.map(\.quantity.rawValue.count).max() ?? 0
                for value in values {
                    let name = value.quantity.rawValue + String(repeating: " ", count: width - value.quantity.rawValue.count)
                    var number: [UInt8] = []
                    JSONText.appendNumber(value.value, to: &number)
                    Console.output("  \(name)  \(String(decoding: number, as: UTF8.self)) \(value.quantity.unit)")
                }
            case .failed(let reason):
                failed += 1
                Console.output(header + ": FAILED: \(reason)")
            }
        }
        if failed > 0 { throw CommandFailure.runtime("\(failed) of \(config.meters.count) meter(s) could not be read") }
    }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Head seq, published seq, backlog, last reading and last set-point of the node's ledger."
    )

    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try AgentConfig.load(file: options.config)
        let ledger = try Ledger(readingFile: config.node.dataDirectory + "/" + Ledger.fileName)
        let summary = try ledger.summary()
        let backlog = summary.head.seq - min(summary.published, summary.head.seq)
        Console.output("node       \(summary.identity.node) (POD \(summary.identity.pod))")
        Console.output("head       seq \(summary.head.seq)")
        Console.output("published  seq \(summary.published) (backlog \(backlog))")
        for (label, kind) in [("reading   ", "reading"), ("set-point ", "setpoint")] {
            let newest = try ledger.newestEntry(kind: kind)
            Console.output("\(label) " + (newest.map { "seq \($0.seq) \($0.bodyText)" } ?? "none yet"))
        }
    }
}
