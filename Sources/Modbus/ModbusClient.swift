#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CModbus

/// Where a Modbus device is reached. Devices sharing an endpoint (an RS-485 bus, a TCP gateway)
/// share one connection and are read one after another.
public enum ModbusEndpoint: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case rtu(device: String, baud: Int, parity: Parity, dataBits: Int, stopBits: Int)

    public enum Parity: String, Sendable, CaseIterable {
        case none = "N", even = "E", odd = "O"
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return "tcp://\(host):\(port)"
        case .rtu(let device, let baud, let parity, let dataBits, let stopBits):
            return "rtu:\(device)@\(baud)/\(dataBits)\(parity.rawValue)\(stopBits)"
        }
    }
}

/// A failed Modbus transaction, classified once from libmodbus's errno.
public struct ModbusFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case timeout
        /// The device answered with Modbus exception `code` (2: illegal data address, 6: busy, …).
        case exception(UInt8)
        case crcError
        /// A reply that is not a valid answer to the request (garbage, wrong length or unit).
        case badResponse
        /// No connection, or it was lost.
        case disconnected
    }

    public let kind: Kind
    /// What was attempted and what libmodbus said, for the log.
    public let detail: String

    public init(_ kind: Kind, detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The failure as the ledger records it in a reading's `q`.
    public var reason: String {
        switch kind {
        case .timeout: return "timeout"
        case .exception(let code): return "exception \(code)"
        case .crcError: return "crc error"
        case .badResponse: return "bad response"
        case .disconnected: return "disconnected"
        }
    }

    /// After this failure the byte stream may be out of step (a late or partial reply still in
    /// flight), so the connection is dropped and re-made rather than trusted.
    public var breaksLink: Bool {
        if case .exception = kind { return false }
        return true
    }

    /// Worth another attempt within the same reading (an exception other than "busy" is an answer).
    public var isTransient: Bool {
        if case .exception(let code) = kind { return code == 6 }
        return true
    }

    public var description: String { "\(reason): \(detail)" }

    public static func fromErrno(_ what: String) -> ModbusFailure {
        let code = errno
        let message = String(cString: modbus_strerror(code))
        let base = Int32(MODBUS_ENOBASE)
        let kind: Kind
        switch code {
        case ETIMEDOUT: kind = .timeout
        case base + 1...base + 11: kind = .exception(UInt8(code - base))
        case base + 12: kind = .crcError  // EMBBADCRC
        case base + 13...base + 17: kind = .badResponse  // EMBBADDATA, EMBBADEXC, EMBUNKEXC, EMBMDATA, EMBBADSLAVE
        default: kind = .disconnected  // ECONNRESET, EPIPE, ECONNREFUSED, EBADF, EIO …
        }
        return ModbusFailure(kind, detail: "\(what): \(message)")
    }
}

/// One libmodbus context (TCP or RTU), used from one thread at a time. Nothing above this
/// type sees a C type; every libmodbus error becomes a `ModbusFailure` naming what failed.
public final class ModbusClient {
    public let endpoint: ModbusEndpoint
    private let context: OpaquePointer
    public private(set) var isConnected = false

    public init(endpoint: ModbusEndpoint) throws(ModbusFailure) {
        self.endpoint = endpoint
        let created: OpaquePointer?
        switch endpoint {
        case .tcp(let host, let port):
            created = modbus_new_tcp_pi(host, String(port))
        case .rtu(let device, let baud, let parity, let dataBits, let stopBits):
            created = modbus_new_rtu(device, Int32(baud), CChar(parity.rawValue.utf8.first!), Int32(dataBits), Int32(stopBits))
        }
        guard let created else { throw .fromErrno("create context for \(endpoint)") }
        context = created
        // Recovery (reconnect, back-off) is the caller's policy, not libmodbus's.
        modbus_set_error_recovery(context, MODBUS_ERROR_RECOVERY_NONE)
    }

    deinit {
        modbus_close(context)
        modbus_free(context)
    }

    /// Connects (TCP: within the current response timeout).
    public func connect() throws(ModbusFailure) {
        guard !isConnected else { return }
        guard modbus_connect(context) == 0 else { throw .fromErrno("connect to \(endpoint)") }
        isConnected = true
    }

    public func close() {
        modbus_close(context)
        isConnected = false
    }

    /// Discards whatever is pending on the line (RTU after a bad frame).
    public func flush() {
        _ = modbus_flush(context)
    }

    public func setResponseTimeout(milliseconds: Int) {
        let ms = UInt32(max(1, milliseconds))
        modbus_set_response_timeout(context, ms / 1000, (ms % 1000) * 1000)
        // Silence between bytes of one frame: never longer than the whole response may take.
        let byteMs = min(ms, 500)
        modbus_set_byte_timeout(context, byteMs / 1000, (byteMs % 1000) * 1000)
    }

    /// Reads `count` registers (function 03 or 04) from unit `unit`.
    public func read(_ function: RegisterFunction, unit: Int, address: Int, count: Int) throws(ModbusFailure) -> [UInt16] {
        guard isConnected else { throw ModbusFailure(.disconnected, detail: "\(endpoint) is not connected") }
        modbus_set_slave(context, Int32(unit))
        var words = [UInt16](repeating: 0, count: count)
        let status = words.withUnsafeMutableBufferPointer { buffer in
            switch function {
            case .input: return modbus_read_input_registers(context, Int32(address), Int32(count), buffer.baseAddress)
            case .holding: return modbus_read_registers(context, Int32(address), Int32(count), buffer.baseAddress)
            }
        }
        guard status == Int32(count) else {
            throw .fromErrno("read \(function.rawValue) registers \(address)…\(address + count - 1) of unit \(unit) at \(endpoint)")
        }
        return words
    }

    /// Writes holding registers (function 16; function 06 for a single register).
    public func write(unit: Int, address: Int, words: [UInt16]) throws(ModbusFailure) {
        guard isConnected else { throw ModbusFailure(.disconnected, detail: "\(endpoint) is not connected") }
        modbus_set_slave(context, Int32(unit))
        let status = words.count == 1
            ? modbus_write_register(context, Int32(address), words[0])
            : words.withUnsafeBufferPointer { modbus_write_registers(context, Int32(address), Int32($0.count), $0.baseAddress) }
        guard status == (words.count == 1 ? 1 : Int32(words.count)) else {
            throw .fromErrno("write holding registers \(address)…\(address + words.count - 1) of unit \(unit) at \(endpoint)")
        }
    }
}
