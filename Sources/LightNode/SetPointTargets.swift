import GridCore
import Ledger
import Modbus
import MQTT

/// A target could not take a set-point (or the idle value); `reason` names the target.
public struct SetPointTargetFailure: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}

/// Where set-points go: the building's or home's management system. `apply(nil)` restores
/// the idle state. Called only from the set-point controller's thread.
protocol SetPointTarget: Sendable {
    var name: String { get }
    func apply(_ setPoint: SetPointRecord?) throws(SetPointTargetFailure)
    func stop()
}

/// Writes the watts to BMS/HMS holding registers: raw = w / scale in the register's type and
/// word order. On a line the meters also use, writes take turns with the readings.
final class ModbusSetPointTarget: SetPointTarget {
    let name: String
    private let config: AgentConfig.ModbusTargetConfig
    private let line: BusLine

    init(config: AgentConfig.ModbusTargetConfig, line: BusLine) {
        self.config = config
        self.line = line
        name = "modbus \(config.endpoint) unit \(config.unit) register \(config.register.address)"
    }

    func apply(_ setPoint: SetPointRecord?) throws(SetPointTargetFailure) {
        let value = setPoint.map { Double($0.w) } ?? config.idleValue
        guard let words = config.register.encode(value) else {
            throw SetPointTargetFailure(reason: "\(name): \(value) W does not fit a \(config.register.type.rawValue) at scale \(config.register.scale)")
        }
        do {
            try line.withBus { (bus) throws(ModbusFailure) in
                try bus.write(unit: config.unit, address: config.register.address, words: words,
                              timeoutMs: config.timeoutMs, retries: config.retries)
            }
        } catch {
            throw SetPointTargetFailure(reason: "\(name): \(error)")
        }
    }

    func stop() {}
}

/// Publishes the set-point as JSON to a local HMS/EMS broker topic (retained by default, so a
/// home automation system that restarts reads the instruction in force), e.g. for Home Assistant:
/// `{"active":true,"id":…,"mode":"max","w":5000,"from":…,"until":…,"t":…}` or `{"active":false,"t":…}`.
final class MQTTSetPointTarget: SetPointTarget {
    static let acknowledgementTimeoutMs = 5000

    let name: String
    private let config: AgentConfig.MQTTTargetConfig
    private let client: MQTTClient

    init(config: AgentConfig.MQTTTargetConfig, clientID: String) throws {
        self.config = config
        name = "mqtt \(config.broker.host):\(config.broker.port) \(config.topic)"
        client = try MQTTClient(options: try config.broker.options(clientID: clientID))
        try client.start()
    }

    static func payload(_ setPoint: SetPointRecord?, at time: Timestamp) -> [UInt8] {
        var message = JSONObjectWriter(capacity: 192)
        message.bool("active", setPoint != nil)
        if let setPoint {
            message.string("id", setPoint.id)
            message.string("mode", setPoint.mode.rawValue)
            message.integer("w", setPoint.w)
            message.timestamp("from", setPoint.from)
            message.timestamp("until", setPoint.end)
        }
        message.timestamp("t", time)
        return message.finish()
    }

    func apply(_ setPoint: SetPointRecord?) throws(SetPointTargetFailure) {
        guard client.waitForConnection(timeoutMs: Self.acknowledgementTimeoutMs) else {
            throw SetPointTargetFailure(reason: "\(name): not connected to the broker")
        }
        do {
            let acknowledgement = try client.publish(topic: config.topic, payload: Self.payload(setPoint, at: .now()),
                                                     retain: config.retain)
            guard acknowledgement.wait(timeoutMs: Self.acknowledgementTimeoutMs) else {
                throw SetPointTargetFailure(reason: "\(name): no acknowledgement within \(Self.acknowledgementTimeoutMs) ms")
            }
        } catch let error as SetPointTargetFailure {
            throw error
        } catch {
            throw SetPointTargetFailure(reason: "\(name): \(error)")
        }
    }

    func stop() {
        client.stop()
    }
}
