import ConfigFile
import GridCore

/// What a register measures. Names are the ledger's `v` keys (docs/ledger-format.md); every
/// quantity has one canonical unit that the map's `scale` must produce.
public enum Quantity: String, CaseIterable, Sendable, Comparable {
    case activePower = "active_power"
    case activePowerL1 = "active_power_l1"
    case activePowerL2 = "active_power_l2"
    case activePowerL3 = "active_power_l3"
    case reactivePower = "reactive_power"
    case voltageL1 = "voltage_l1"
    case voltageL2 = "voltage_l2"
    case voltageL3 = "voltage_l3"
    case currentL1 = "current_l1"
    case currentL2 = "current_l2"
    case currentL3 = "current_l3"
    case frequency
    case powerFactor = "power_factor"
    case energyImport = "energy_import"
    case energyExport = "energy_export"

    public var unit: String {
        switch self {
        case .activePower, .activePowerL1, .activePowerL2, .activePowerL3: return "W"
        case .reactivePower: return "var"
        case .voltageL1, .voltageL2, .voltageL3: return "V"
        case .currentL1, .currentL2, .currentL3: return "A"
        case .frequency: return "Hz"
        case .powerFactor: return ""
        case .energyImport, .energyExport: return "Wh"
        }
    }

    /// The values a meter can give for it (`Bounds`): beyond, a register decoded wrong or a meter
    /// that lies, and the read fails rather than sign a reading no settlement could use.
    public var plausible: ClosedRange<Double> {
        switch self {
        case .energyImport, .energyExport: Bounds.energyWh
        default: Bounds.readingValue
        }
    }

    public static func < (lhs: Quantity, rhs: Quantity) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// Modbus register tables (function 04 input registers, function 03 holding registers).
public enum RegisterFunction: String, Sendable, CaseIterable {
    case input
    case holding
}

public enum RegisterType: String, Sendable, CaseIterable {
    case int16, uint16, int32, uint32, float32, int64, uint64, float64

    /// Number of 16-bit registers the value spans.
    public var registerCount: Int {
        switch self {
        case .int16, .uint16: return 1
        case .int32, .uint32, .float32: return 2
        case .int64, .uint64, .float64: return 4
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }
}

/// Order of the 16-bit words of a multi-register value (bytes within a word are always big-endian).
public enum WordOrder: String, Sendable, CaseIterable {
    /// Most significant word first (the Modbus convention; "ABCD").
    case big
    /// Least significant word first ("CDAB").
    case little
}

/// One value of a register map: where it is, how it is encoded, and how it scales to the
/// quantity's canonical unit (`value = raw × scale + offset`).
public struct Register: Sendable, Equatable {
    public let quantity: Quantity
    public let function: RegisterFunction
    public let address: Int
    public let type: RegisterType
    public let wordOrder: WordOrder
    public let scale: Double
    public let offset: Double
    /// The raw value the device sends for "not available" (e.g. 0x7FFFFFFF on ABB and Carlo
    /// Gavazzi meters): read as a failed value, never as a number.
    public let invalidRaw: UInt64?

    public init(quantity: Quantity, function: RegisterFunction, address: Int, type: RegisterType,
                wordOrder: WordOrder = .big, scale: Double = 1, offset: Double = 0, invalidRaw: UInt64? = nil) {
        self.quantity = quantity
        self.function = function
        self.address = address
        self.type = type
        self.wordOrder = wordOrder
        self.scale = scale
        self.offset = offset
        self.invalidRaw = invalidRaw
    }

    /// One past the last register address the value occupies.
    public var end: Int { address + type.registerCount }
}

/// A meter's register table (firmware-config/registers/*.toml).
public struct RegisterMap: Sendable, Equatable {
    public let model: String
    public let registers: [Register]
    /// Unmapped registers a single request may read over to join two mapped ones
    /// (0: only strictly contiguous registers share a request). Some meters answer an
    /// exception for unmapped addresses, so this is per model.
    public let maxGap: Int

    public init(model: String, registers: [Register], maxGap: Int = 0) {
        self.model = model
        self.registers = registers
        self.maxGap = maxGap
    }

    public func register(for quantity: Quantity) -> Register? {
        registers.first { $0.quantity == quantity }
    }

    /// Loads and validates a map; every problem is recorded in `issues` with its key path.
    public static func load(file: String, issues: ConfigIssues) -> RegisterMap? {
        guard let root = ConfigSection.load(file: file, issues: issues) else { return nil }
        let before = issues.list.count
        let model = root.string("model") ?? ""
        let maxGap = root.int("max_gap", in: 0...124, default: 0) ?? 0
        var loaded: [(register: Register, section: ConfigSection)] = []
        for section in root.sections("registers") {
            if let register = loadRegister(section) { loaded.append((register, section)) }
        }
        let registers = loaded.map(\.register)
        root.rejectUnknownKeys()
        // A missing active_power is only news when no register failed to load (it may be that one).
        if !registers.contains(where: { $0.quantity == .activePower }) && issues.list.count == before {
            root.problem("registers", "no register for active_power (every map must provide it)")
        }
        validate(loaded)
        guard issues.list.count == before else { return nil }
        return RegisterMap(model: model, registers: registers, maxGap: maxGap)
    }

    private static func loadRegister(_ section: ConfigSection) -> Register? {
        let quantityName = section.string("quantity")
        let quantity = quantityName.flatMap(Quantity.init(rawValue:))
        if let quantityName, quantity == nil {
            section.problem("quantity", "unknown quantity \"\(quantityName)\" (known: \(Quantity.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let function = section.choice("function", RegisterFunction.allCases.map(\.rawValue)).flatMap(RegisterFunction.init(rawValue:))
        let type = section.choice("type", RegisterType.allCases.map(\.rawValue)).flatMap(RegisterType.init(rawValue:))
        let address = section.int("address", in: 0...65535)
        let wordOrder = section.choice("word_order", WordOrder.allCases.map(\.rawValue), default: "big").flatMap(WordOrder.init(rawValue:))
        let scale = section.double("scale", default: 1)
        let offset = section.double("offset", default: 0)
        let unit = section.string("unit", required: false)
        // The raw bit pattern of the register's width; negative values are two's complement, so
        // -1 is all ones even for 64-bit types (TOML integers are signed 64-bit).
        let invalid = section.has("invalid") ? section.int("invalid") : nil
        section.rejectUnknownKeys()
        var invalidRaw: UInt64?
        if let invalid, let type {
            let bits = 16 * type.registerCount
            let fits = bits == 64 || (invalid >= -(1 << (bits - 1)) && invalid < 1 << bits)
            if fits {
                invalidRaw = UInt64(bitPattern: Int64(invalid)) & (bits == 64 ? .max : (1 << UInt64(bits)) - 1)
            } else {
                section.problem("invalid", "\(invalid) does not fit a \(type.rawValue)")
            }
        }
        if scale == 0 { section.problem("scale", "must not be 0") }
        if let quantity, let unit, unit != quantity.unit {
            section.problem("unit", "\(quantity.rawValue) is recorded in \(quantity.unit.isEmpty ? "no unit" : quantity.unit), not \"\(unit)\" (use scale to convert)")
        }
        if let address, let type, address + type.registerCount > 65536 {
            section.problem("address", "\(type.rawValue) at \(address) runs past the last register (65535)")
        }
        guard let quantity, let function, let type, let address, let wordOrder, let scale, let offset, scale != 0 else { return nil }
        return Register(quantity: quantity, function: function, address: address, type: type,
                        wordOrder: wordOrder, scale: scale, offset: offset, invalidRaw: invalidRaw)
    }

    private static func validate(_ loaded: [(register: Register, section: ConfigSection)]) {
        for (index, (register, section)) in loaded.enumerated() {
            if let first = loaded.prefix(index).first(where: { $0.register.quantity == register.quantity }) {
                section.problem("quantity", "\(register.quantity.rawValue) is already mapped by \(first.section.path)")
            }
            for (other, otherSection) in loaded.prefix(index)
            where other.function == register.function && other.address < register.end && register.address < other.end {
                section.problem("address", "\(register.quantity.rawValue) (\(register.function.rawValue) \(register.address)…\(register.end - 1)) "
                    + "overlaps \(otherSection.path) \(other.quantity.rawValue) (\(other.address)…\(other.end - 1))")
            }
        }
    }
}
