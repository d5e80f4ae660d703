/// The Modbus requests that read a register map: registers of one function that are contiguous
/// (or within the map's `max_gap`) share a request of at most 125 registers, the protocol's limit.
public struct ReadRequest: Sendable, Equatable {
    public let function: RegisterFunction
    public let address: Int
    public let count: Int
    /// The registers this request answers, each with its position in the response.
    public let registers: [Register]

    public func words(of register: Register, in response: [UInt16]) -> ArraySlice<UInt16> {
        let start = register.address - address
        return response[start..<start + register.type.registerCount]
    }
}

public enum ReadPlan {
    public static let maximumRegistersPerRequest = 125

    public static func requests(for map: RegisterMap) -> [ReadRequest] {
        var requests: [ReadRequest] = []
        for function in RegisterFunction.allCases {
            var current: (start: Int, end: Int, registers: [Register])?
            for register in map.registers.filter({ $0.function == function }).sorted(by: { $0.address < $1.address }) {
                if let open = current, register.address - open.end <= map.maxGap,
                   register.end - open.start <= maximumRegistersPerRequest {
                    current = (open.start, max(open.end, register.end), open.registers + [register])
                } else {
                    if let open = current {
                        requests.append(ReadRequest(function: function, address: open.start, count: open.end - open.start, registers: open.registers))
                    }
                    current = (register.address, register.end, [register])
                }
            }
            if let open = current {
                requests.append(ReadRequest(function: function, address: open.start, count: open.end - open.start, registers: open.registers))
            }
        }
        return requests
    }
}
