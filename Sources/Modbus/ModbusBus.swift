import GridCore

/// A meter as the bus reads it: its unit id, timing, and its register map's read plan.
public struct MeterDevice: Sendable {
    public let name: String
    public let unit: Int
    public let timeoutMs: Int
    /// Further attempts of a request after a transient failure (timeout, CRC, garbage, busy).
    public let retries: Int
    public let map: RegisterMap
    public let requests: [ReadRequest]

    public init(name: String, unit: Int, timeoutMs: Int, retries: Int, map: RegisterMap) {
        self.name = name
        self.unit = unit
        self.timeoutMs = timeoutMs
        self.retries = retries
        self.map = map
        self.requests = ReadPlan.requests(for: map)
    }

    /// The longest a reading of this meter can take: a read stops at the first request that
    /// fails, so at worst every request answers just within the timeout and one of them also
    /// uses up its retries.
    public var worstCaseMs: Int { (requests.count + retries) * timeoutMs }
}

public struct QuantityValue: Sendable, Equatable {
    public let quantity: Quantity
    public let value: Double

    public init(_ quantity: Quantity, _ value: Double) {
        self.quantity = quantity
        self.value = value
    }
}

public enum MeterReading: Sendable, Equatable {
    /// Every quantity of the map, in the map's order.
    case good([QuantityValue])
    /// Why no value was read (`ModbusFailure.reason`, or "bad value <quantity>").
    case failed(String)
}

/// One Modbus endpoint and the meters behind it, read one after another over one connection.
/// Reconnects with exponential back-off (1 s doubling to 30 s) after a lost link, and while
/// backing off fails fast ("disconnected") so a dead device holds up nobody.
/// Not thread-safe: each bus is driven by one worker.
public final class ModbusBus {
    public let endpoint: ModbusEndpoint
    private var client: ModbusClient?
    private var nextConnectAttemptMs: UInt64 = 0
    private var backoffMs: UInt64 = 0
    static let initialBackoffMs: UInt64 = 1000
    static let maximumBackoffMs: UInt64 = 30_000

    public init(endpoint: ModbusEndpoint) {
        self.endpoint = endpoint
    }

    public func read(_ meter: MeterDevice) -> MeterReading {
        var values: [Quantity: Double] = [:]
        for request in meter.requests {
            let words: [UInt16]
            do {
                words = try withRetries(timeoutMs: meter.timeoutMs, retries: meter.retries) { (client) throws(ModbusFailure) in
                    try client.read(request.function, unit: meter.unit, address: request.address, count: request.count)
                }
            } catch {
                return .failed(error.reason)
            }
            for register in request.registers {
                guard let value = register.decode(request.words(of: register, in: words)) else {
                    return .failed("bad value \(register.quantity.rawValue)")
                }
                guard register.quantity.plausible.contains(value) else {
                    return .failed("implausible value \(register.quantity.rawValue)")
                }
                values[register.quantity] = value
            }
        }
        return .good(meter.map.registers.map { QuantityValue($0.quantity, values[$0.quantity]!) })
    }

    /// Writes holding registers of a unit (set-points to a BMS/HMS), retrying transient failures.
    public func write(unit: Int, address: Int, words: [UInt16], timeoutMs: Int, retries: Int) throws(ModbusFailure) {
        try withRetries(timeoutMs: timeoutMs, retries: retries) { (client) throws(ModbusFailure) in
            try client.write(unit: unit, address: address, words: words)
        }
    }

    public func disconnect() {
        client?.close()
    }

    private func withRetries<T>(timeoutMs: Int, retries: Int,
                                _ body: (ModbusClient) throws(ModbusFailure) -> T) throws(ModbusFailure) -> T {
        var attempt = 0
        while true {
            do {
                let client = try connected(timeoutMs: timeoutMs)
                return try body(client)
            } catch {
                if error.breaksLink { dropLink() }
                attempt += 1
                guard error.isTransient, attempt <= retries else { throw error }
            }
        }
    }

    private func connected(timeoutMs: Int) throws(ModbusFailure) -> ModbusClient {
        if let client, client.isConnected {
            client.setResponseTimeout(milliseconds: timeoutMs)
            return client
        }
        let now = MonotonicClock.milliseconds()
        guard now >= nextConnectAttemptMs else {
            throw ModbusFailure(.disconnected, detail: "\(endpoint): reconnecting in \(nextConnectAttemptMs - now) ms")
        }
        let client: ModbusClient
        if let existing = self.client {
            client = existing
        } else {
            client = try ModbusClient(endpoint: endpoint)
            self.client = client
        }
        client.setResponseTimeout(milliseconds: timeoutMs)
        do {
            try client.connect()
        } catch {
            backoffMs = backoffMs == 0 ? Self.initialBackoffMs : min(backoffMs * 2, Self.maximumBackoffMs)
            nextConnectAttemptMs = MonotonicClock.milliseconds() + backoffMs
            throw ModbusFailure(.disconnected, detail: error.detail)
        }
        backoffMs = 0
        return client
    }

    /// After a failure that may leave bytes in flight: TCP reconnects, RTU discards the line's input.
    private func dropLink() {
        guard let client else { return }
        switch endpoint {
        case .tcp: client.close()
        case .rtu: client.flush()
        }
    }
}
