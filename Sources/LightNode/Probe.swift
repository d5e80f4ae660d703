import GridCore
import Modbus

/// What an installer runs first: every meter read once, with how long it took.
public enum Probe {
    public struct Result: Sendable {
        public let meter: AgentConfig.Meter
        public let reading: MeterReading
        public let milliseconds: Double
    }

    public static func readAll(_ config: AgentConfig) -> [Result] {
        var buses: [ModbusEndpoint: ModbusBus] = [:]
        return config.meters.map { meter in
            let bus = buses[meter.endpoint] ?? ModbusBus(endpoint: meter.endpoint)
            buses[meter.endpoint] = bus
            let start = MonotonicClock.nanoseconds()
            let reading = bus.read(meter.device)
            return Result(meter: meter, reading: reading, milliseconds: Double(MonotonicClock.nanoseconds() - start) / 1e6)
        }
    }
}
