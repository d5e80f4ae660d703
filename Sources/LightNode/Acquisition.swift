import Dispatch
import Modbus
import Synchronization

/// Reads every meter once per cycle. Meters sharing an endpoint (an RS-485 line, a TCP gateway)
/// are read one after another on that bus's own queue; different buses run in parallel, so a
/// slow or dead meter delays only the meters on its own wire, and none beyond the cycle.
public final class Acquisition: Sendable {
    /// A bus and the meters on it. `@unchecked Sendable`: the bus (a libmodbus context) is only
    /// ever used on `queue`, one job at a time, guarded by `busy`.
    private final class Worker: @unchecked Sendable {
        let bus: ModbusBus
        let queue: DispatchQueue
        let meters: [(index: Int, device: MeterDevice)]
        let busy = Atomic(false)

        init(bus: ModbusBus, meters: [(index: Int, device: MeterDevice)]) {
            self.bus = bus
            self.queue = DispatchQueue(label: "lightnode.bus.\(bus.endpoint)")
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
        workers = order.map { Worker(bus: ModbusBus(endpoint: $0), meters: grouped[$0]!) }
        meterCount = meters.count
    }

    /// One reading per meter, in configuration order, within `budgetMs`.
    public func readAll(budgetMs: Int) -> [MeterReading] {
        let results = ReadingSlots(count: meterCount)
        let group = DispatchGroup()
        for worker in workers {
            // A bus still busy with an earlier cycle is not queued again: no pile-up, no burst.
            guard !worker.busy.exchange(true, ordering: .acquiring) else { continue }
            group.enter()
            worker.queue.async {
                for meter in worker.meters {
                    results.set(meter.index, worker.bus.read(meter.device))
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
        for worker in workers { worker.queue.sync { worker.bus.disconnect() } }
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
