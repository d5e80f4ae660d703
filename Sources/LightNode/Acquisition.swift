import Dispatch
import Modbus
import Synchronization

/// Reads every meter once per cycle. Meters sharing an endpoint (an RS-485 line, a TCP gateway)
/// are read one after another on that bus's own queue; different buses run in parallel, so a
/// slow or dead meter delays only the meters on its own wire, and none beyond the cycle.
public final class Acquisition: Sendable {
    /// A bus and the meters on it.
    private final class Worker: Sendable {
        let line: BusLine
        let meters: [(index: Int, device: MeterDevice)]
        let busy = Atomic(false)

        init(line: BusLine, meters: [(index: Int, device: MeterDevice)]) {
            self.line = line
            self.meters = meters
        }
    }

    private let workers: [Worker]
    public let meterCount: Int

    /// How long a cycle waits for its reads: most of the interval, leaving time to append.
    public static func readBudgetMs(intervalMs: Int) -> Int { intervalMs * 9 / 10 }

    /// The reason recorded for a meter whose read was still running when the cycle closed
    /// (its late result is discarded: a stale value is never recorded as fresh).
    public static let overrun = "overrun"

    public init(meters: [AgentConfig.Meter]) {
        var order: [ModbusEndpoint] = []
        var grouped: [ModbusEndpoint: [(index: Int, device: MeterDevice)]] = [:]
        for (index, meter) in meters.enumerated() {
            if grouped[meter.endpoint] == nil { order.append(meter.endpoint) }
            grouped[meter.endpoint, default: []].append((index, meter.device))
        }
        workers = order.map { Worker(line: BusLine(endpoint: $0), meters: grouped[$0]!) }
        meterCount = meters.count
    }

    /// The line to `endpoint` if meters are read on it: a BMS on a meter's RS-485 line (or
    /// behind its TCP gateway) must take turns with the meters' reads, never interleave.
    public func line(to endpoint: ModbusEndpoint) -> BusLine? {
        workers.first { $0.line.endpoint == endpoint }?.line
    }

    /// One reading per meter, in configuration order, within `budgetMs`.
    public func readAll(budgetMs: Int) -> [MeterReading] {
        let results = ReadingSlots(count: meterCount)
        let group = DispatchGroup()
        for worker in workers {
            // A bus still busy with an earlier cycle is not queued again: no pile-up, no burst.
            guard !worker.busy.exchange(true, ordering: .acquiring) else { continue }
            group.enter()
            worker.line.queue.async {
                for meter in worker.meters {
                    results.set(meter.index, worker.line.bus.read(meter.device))
                }
                worker.busy.store(false, ordering: .releasing)
                group.leave()
            }
        }
        _ = group.wait(timeout: .now() + .milliseconds(budgetMs))
        return results.close()
    }

    /// Drops every connection (at shutdown), after any read in progress.
    public func disconnect() {
        for worker in workers { worker.line.disconnect() }
    }
}

/// One Modbus endpoint and the serial queue that takes turns on it: readings and set-point
/// writes to devices on the same line are never interleaved.
/// `@unchecked Sendable`: the bus (a libmodbus context) is only ever used on `queue`.
public final class BusLine: @unchecked Sendable {
    public let endpoint: ModbusEndpoint
    fileprivate let bus: ModbusBus
    fileprivate let queue: DispatchQueue

    public init(endpoint: ModbusEndpoint) {
        self.endpoint = endpoint
        bus = ModbusBus(endpoint: endpoint)
        queue = DispatchQueue(label: "lightnode.bus.\(endpoint)")
    }

    /// Runs `job` with the bus once the line is free (after any read in progress).
    public func withBus<T>(_ job: (ModbusBus) throws(ModbusFailure) -> T) throws(ModbusFailure) -> T {
        try queue.sync { () -> Result<T, ModbusFailure> in
            do throws(ModbusFailure) { return .success(try job(bus)) } catch { return .failure(error) }
        }.get()
    }

    public func disconnect() {
        queue.sync { bus.disconnect() }
    }
}

/// One cycle's results. Once closed, later results (from reads that overran) are ignored.
private final class ReadingSlots: Sendable {
    private let state: Mutex<(slots: [MeterReading?], closed: Bool)>

    init(count: Int) {
        state = Mutex((Array(repeating: nil, count: count), false))
    }

    func set(_ index: Int, _ reading: MeterReading) {
        state.withLock { if !$0.closed { $0.slots[index] = reading } }
    }

    func close() -> [MeterReading] {
        state.withLock { state in
            state.closed = true
            return state.slots.map { $0 ?? .failed(Acquisition.overrun) }
        }
    }
}
