#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CModbus
import GridCore
import Modbus
import Synchronization

/// A fault the simulator injects into its answers until told otherwise.
public enum Fault: Sendable, Equatable {
    case none
    /// Receive the request, never answer (the client times out).
    case timeout
    /// Answer after `milliseconds`.
    case delay(milliseconds: Int)
    /// Answer with Modbus exception `code`.
    case exception(code: UInt8)
    /// Close the connection on the next request (TCP; on RTU: do not answer).
    case drop
    /// Answer with a malformed frame: on TCP a reply to another transaction, on RTU a frame
    /// with a broken CRC (deterministic, so the client's reaction is too).
    case garbage

    /// `none`, `timeout`, `delay MS`, `exception N`, `drop`, `garbage`.
    public init?(command: String) {
        let words = command.split(separator: " ")
        switch (words.first, words.count) {
        case ("none", 1): self = .none
        case ("timeout", 1): self = .timeout
        case ("drop", 1): self = .drop
        case ("garbage", 1): self = .garbage
        case ("delay", 2): guard let ms = Int(words[1]), ms >= 0 else { return nil }; self = .delay(milliseconds: ms)
        case ("exception", 2): guard let code = UInt8(words[1]), code > 0 else { return nil }; self = .exception(code: code)
        default: return nil
        }
    }
}

/// Serves a `SimulatedMeter` over Modbus TCP (any number of clients) or RTU, through libmodbus.
public final class SimulatorServer: @unchecked Sendable {
    public enum Transport: Sendable {
        case tcp(host: String, port: Int)
        case rtu(device: String, baud: Int, parity: ModbusEndpoint.Parity, dataBits: Int, stopBits: Int, unit: Int)
    }

    /// Changed from the control thread (stdin), read by the serving loop.
    public let fault = Mutex(Fault.none)
    private let stopping = Atomic(false)
    // The loop's own state: only touched by the thread running `serve`.
    private var meter: SimulatedMeter
    private let transport: Transport
    private let context: OpaquePointer
    private let mapping: UnsafeMutablePointer<modbus_mapping_t>
    private let inputBase: Int, holdingBase: Int
    private let started = MonotonicClock.nanoseconds()
    /// Called for each holding-register write a client makes (the BMS simulator reports them).
    public var onWrite: (@Sendable (_ address: Int, _ words: [UInt16]) -> Void)?
    /// A holding register (int32, big-endian words) whose value the site's power follows, as a
    /// building obeying its BMS set-point; 0 (the idle value) returns it to its profile.
    public var follow: Int?

    public init(meter: SimulatedMeter, transport: Transport, extraHoldingRegisters: ClosedRange<Int>? = nil) throws(ModbusFailure) {
        self.meter = meter
        self.transport = transport
        func span(_ function: RegisterFunction, extra: ClosedRange<Int>?) -> (Int, Int) {
            var ranges = meter.map.registers.filter { $0.function == function }.map { $0.address..<$0.end }
            if let extra { ranges.append(extra.lowerBound..<extra.upperBound + 1) }
            guard let low = ranges.map(\.lowerBound).min(), let high = ranges.map(\.upperBound).max() else { return (0, 0) }
            return (low, high - low)
        }
        let (inputStart, inputCount) = span(.input, extra: nil)
        let (holdingStart, holdingCount) = span(.holding, extra: extraHoldingRegisters)
        inputBase = inputStart
        holdingBase = holdingStart
        guard let mapping = modbus_mapping_new_start_address(0, 0, 0, 0, UInt32(holdingStart), UInt32(holdingCount),
                                                             UInt32(inputStart), UInt32(inputCount)) else {
            throw ModbusFailure(.disconnected, detail: "cannot allocate the register mapping")
        }
        self.mapping = mapping
        let created: OpaquePointer?
        switch transport {
        case .tcp(let host, let port): created = modbus_new_tcp(host, Int32(port))
        case .rtu(let device, let baud, let parity, let dataBits, let stopBits, _):
            created = modbus_new_rtu(device, Int32(baud), CChar(parity.rawValue.utf8.first!), Int32(dataBits), Int32(stopBits))
        }
        guard let created else {
            modbus_mapping_free(mapping)
            throw .fromErrno("create server context")
        }
        context = created
    }

    deinit {
        modbus_mapping_free(mapping)
        modbus_close(context)
        modbus_free(context)
    }

    public func stop() { stopping.store(true, ordering: .relaxed) }

    var seconds: Double { Double(MonotonicClock.nanoseconds() - started) / 1e9 }

    /// Binds (TCP) or opens the line (RTU) and reports where it serves; `serve()` then answers.
    public func open() throws(ModbusFailure) -> String {
        switch transport {
        case .tcp(let host, _):
            let listener = modbus_tcp_listen(context, 16)
            guard listener >= 0 else { throw .fromErrno("listen") }
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
            }
            self.listener = listener
            return "tcp \(host):\(UInt16(bigEndian: address.sin_port))"
        case .rtu(let device, _, _, _, _, let unit):
            modbus_set_slave(context, Int32(unit))
            guard modbus_connect(context) == 0 else { throw .fromErrno("open \(device)") }
            return "rtu \(device) unit \(unit)"
        }
    }

    private var listener: Int32 = -1

    /// Answers requests until `stop()`.
    public func serve() {
        switch transport {
        case .tcp: serveTCP()
        case .rtu: serveRTU()
        }
    }

    private func serveTCP() {
        var clients: [Int32] = []
        var query = [UInt8](repeating: 0, count: Int(MODBUS_TCP_MAX_ADU_LENGTH))
        while !stopping.load(ordering: .relaxed) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)] + clients.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 200) > 0 else { continue }
            if fds[0].revents & Int16(POLLIN) != 0 {
                let client = accept(listener, nil, nil)
                if client >= 0 { clients.append(client) }
            }
            for entry in fds.dropFirst() where entry.revents != 0 {
                modbus_set_socket(context, entry.fd)
                let length = modbus_receive(context, &query)
                if length < 0 || !answer(query, length: Int(length), socket: entry.fd) {
                    close(entry.fd)
                    clients.removeAll { $0 == entry.fd }
                }
            }
        }
        clients.forEach { close($0) }
        close(listener)
    }

    private func serveRTU() {
        var query = [UInt8](repeating: 0, count: 256)
        modbus_set_indication_timeout(context, 0, 200_000)
        while !stopping.load(ordering: .relaxed) {
            let length = modbus_receive(context, &query)
            if length > 0 { _ = answer(query, length: Int(length), socket: nil) }
            else if length < 0 && errno != ETIMEDOUT { modbus_flush(context) }
        }
    }

    /// Answers one request according to the current fault; false to close the connection.
    private func answer(_ query: [UInt8], length: Int, socket: Int32?) -> Bool {
        let current = fault.withLock { $0 }
        switch current {
        case .timeout:
            return true
        case .drop:
            return socket == nil
        case .garbage:
            if let socket {
                // MBAP: transaction id off by one, protocol 0, length 5, unit, function 04, 2 bytes.
                let transaction = (UInt16(query[0]) << 8 | UInt16(query[1])) &+ 1
                var frame: [UInt8] = [UInt8(transaction >> 8), UInt8(transaction & 0xFF), 0, 0, 0, 5, query[6], 0x04, 2, 0, 0]
                _ = send(socket, &frame, frame.count, Int32(MSG_NOSIGNAL))
            } else {
                var frame: [UInt8] = [query[0], 0x04, 2, 0, 0, 0xDE, 0xAD]  // CRC deliberately wrong
                _ = write(modbus_get_socket(context), &frame, frame.count)
            }
            return true
        case .exception(let code):
            _ = modbus_reply_exception(context, query, UInt32(code))
            return true
        case .delay(let milliseconds):
            usleep(UInt32(milliseconds) * 1000)
        case .none:
            break
        }
        refreshRegisters()
        _ = modbus_reply(context, query, Int32(length), mapping)
        reportWrite(query)
        return true
    }

    /// Writes every mapped quantity's current value into the register tables.
    private func refreshRegisters() {
        let now = seconds
        meter.advance(to: now)
        for register in meter.map.registers {
            guard let words = register.encode(meter.value(of: register.quantity, at: now)) else { continue }
            let (table, base) = register.function == .input ? (mapping.pointee.tab_input_registers, inputBase)
                                                            : (mapping.pointee.tab_registers, holdingBase)
            for (index, word) in words.enumerated() { table![register.address - base + index] = word }
        }
    }

    private func reportWrite(_ query: [UInt8]) {
        let offset = Int(modbus_get_header_length(context))
        guard query.count > offset + 5 else { return }
        let function = query[offset]
        let address = Int(query[offset + 1]) << 8 | Int(query[offset + 2])
        let count: Int
        switch function {
        case 0x06: count = 1
        case 0x10: count = Int(query[offset + 3]) << 8 | Int(query[offset + 4])
        default: return
        }
        let start = address - holdingBase
        guard start >= 0, start + count <= Int(mapping.pointee.nb_registers) else { return }
        if let follow, follow - holdingBase >= 0, follow - holdingBase + 1 < Int(mapping.pointee.nb_registers),
           (address..<(address + count)).overlaps(follow..<(follow + 2)) {
            let high = UInt32(mapping.pointee.tab_registers[follow - holdingBase]), low = UInt32(mapping.pointee.tab_registers[follow - holdingBase + 1])
            let watts = Int32(bitPattern: high << 16 | low)
            meter.followedPower = watts == 0 ? nil : Double(watts)
        }
        onWrite?(address, (0..<count).map { mapping.pointee.tab_registers[start + $0] })
    }
}
