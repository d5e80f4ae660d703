import Modbus

/// The state of a simulated meter: active power from a profile, the other quantities derived
/// from it (or pinned), and energy counters that integrate the power exactly as a meter does.
public struct SimulatedMeter: Sendable {
    public let map: RegisterMap
    public let profile: PowerProfile
    public let pinned: [Quantity: Double]
    public private(set) var energyImportWh: Double
    public private(set) var energyExportWh: Double
    /// The power a simulated site follows instead of its profile: the BMS set-point it obeys
    /// (`meter-sim --follow`), nil when none is active.
    public var followedPower: Double?
    private var lastSeconds: Double?

    /// Integration step: fine enough that counters match the integral of the profile.
    static let stepSeconds = 0.05

    public init(map: RegisterMap, profile: PowerProfile, pinned: [Quantity: Double] = [:], energyStartWh: Double = 1_000_000) {
        self.map = map
        self.profile = profile
        self.pinned = pinned
        self.energyImportWh = energyStartWh
        self.energyExportWh = energyStartWh / 10
    }

    /// Integrates the counters up to `seconds` (since the simulator started).
    public mutating func advance(to seconds: Double) {
        guard let last = lastSeconds else {
            lastSeconds = seconds
            return
        }
        var t = last
        while t < seconds {
            let step = min(Self.stepSeconds, seconds - t)
            // Trapezoid over the step; import and export integrate the positive and negative parts.
            let watts = (power(at: t) + power(at: t + step)) / 2
            if watts >= 0 { energyImportWh += watts * step / 3600 } else { energyExportWh += -watts * step / 3600 }
            t += step
        }
        lastSeconds = max(last, seconds)
    }

    func power(at seconds: Double) -> Double { followedPower ?? profile.watts(at: seconds) }

    /// Every quantity's value at `seconds`: pinned values win; the rest follow the profile.
    public func value(of quantity: Quantity, at seconds: Double) -> Double {
        if let pinned = pinned[quantity] { return pinned }
        let power = power(at: seconds)
        switch quantity {
        case .activePower: return power
        case .activePowerL1, .activePowerL2, .activePowerL3: return power / 3
        case .reactivePower: return power * 0.2
        case .voltageL1, .voltageL2, .voltageL3: return 230
        case .currentL1, .currentL2, .currentL3: return abs(power) / 3 / 230
        case .frequency: return 50
        case .powerFactor: return 0.98
        case .energyImport: return energyImportWh
        case .energyExport: return energyExportWh
        }
    }
}
