import Modbus
import Testing

@Suite struct RegisterCodecTests {
    func register(_ type: RegisterType, _ order: WordOrder = .big, scale: Double = 1, offset: Double = 0,
                  invalid: UInt64? = nil) -> Register {
        Register(quantity: .activePower, function: .input, address: 0, type: type, wordOrder: order,
                 scale: scale, offset: offset, invalidRaw: invalid)
    }

    @Test(arguments: [
        // (type, order, words, value): vectors written out by hand from the IEEE-754 / two's-complement encodings.
        (RegisterType.float32, WordOrder.big, [UInt16(0x4366), 0x199A], 230.1),
        (.float32, .little, [0x199A, 0x4366], 230.1),
        (.int16, .big, [0xFFFE], -2),
        (.uint16, .big, [0xFFFE], 65534),
        (.int32, .big, [0xFFFF, 0xFFFE], -2),
        (.int32, .little, [0xFFFE, 0xFFFF], -2),
        (.uint32, .big, [0x0001, 0x0000], 65536),
        (.uint32, .little, [0x0000, 0x0001], 65536),
        (.int64, .big, [0xFFFF, 0xFFFF, 0xFFFF, 0xFC18], -1000),
        (.int64, .little, [0xFC18, 0xFFFF, 0xFFFF, 0xFFFF], -1000),
        (.uint64, .big, [0x0000, 0x0001, 0x0000, 0x0000], 4_294_967_296),
        (.uint64, .little, [0x0000, 0x0000, 0x0001, 0x0000], 4_294_967_296),
        (.float64, .big, [0x4097, 0xF8CC, 0xCCCC, 0xCCCD], 1534.2),
        (.float64, .little, [0xCCCD, 0xCCCC, 0xF8CC, 0x4097], 1534.2),
    ])
    func decodesAndEncodesEveryTypeAndWordOrder(type: RegisterType, order: WordOrder, words: [UInt16], value: Double) {
        let register = register(type, order)
        #expect(register.decode(words[...]) == value)
        #expect(register.encode(value) == words)
    }

    @Test func keepsOnlyThePrecisionTheRegisterCarries() {
        #expect(register(.uint16, scale: 0.1).decode([2301]) == 230.1)         // not 230.10000000000002
        #expect(register(.int32, scale: 0.001).decode([0x0001, 0xE240]) == 123.456)
        #expect(register(.uint64, scale: 10).decode([0, 0, 0x0001, 0x86A0]) == 1_000_000)
        // float32 kWh scaled to Wh keeps float32 precision: 12345.678 kWh is 12345678 Wh.
        let kWh = register(.float32, scale: 1000)
        #expect(kWh.decode(kWh.encode(12_345_678)![...]) == 12_345_678)
        #expect(register(.int16, scale: 0.1, offset: -40).decode([650]) == 25)
    }

    @Test func notANumberAndSentinelsAreNoValue() {
        #expect(register(.float32).decode([0x7FC0, 0x0000]) == nil)  // NaN
        #expect(register(.float32).decode([0x7F80, 0x0000]) == nil)  // +inf
        #expect(register(.float64).decode([0x7FF8, 0, 0, 0]) == nil)
        #expect(register(.int32, invalid: 0x7FFF_FFFF).decode([0x7FFF, 0xFFFF]) == nil)
        #expect(register(.int32, .little, invalid: 0x7FFF_FFFF).decode([0xFFFF, 0x7FFF]) == nil)
        #expect(register(.int32, invalid: 0x7FFF_FFFF).decode([0x7FFF, 0xFFFE]) == 2_147_483_646)
    }

    @Test func encodingRefusesValuesTheTypeCannotHold() {
        #expect(register(.int16).encode(40_000) == nil)
        #expect(register(.uint32).encode(-1) == nil)
        #expect(register(.int16, scale: 0.1).encode(3276.7) == [0x7FFF])
        #expect(register(.int16, scale: 0.1).encode(3276.8) == nil)
        #expect(register(.float32).encode(.nan) == nil)
    }
}

@Suite struct ReadPlanTests {
    func map(_ registers: [(Quantity, RegisterFunction, Int, RegisterType)], maxGap: Int = 0) -> RegisterMap {
        RegisterMap(model: "test", registers: registers.map {
            Register(quantity: $0.0, function: $0.1, address: $0.2, type: $0.3)
        }, maxGap: maxGap)
    }

    @Test func mergesContiguousRegistersOfOneFunction() {
        let requests = ReadPlan.requests(for: map([
            (.voltageL1, .input, 0, .float32), (.activePower, .input, 2, .float32), (.frequency, .input, 4, .uint16),
            (.energyImport, .holding, 4, .uint64), (.energyExport, .input, 10, .float32),
        ]))
        #expect(requests.map { "\($0.function.rawValue) \($0.address)+\($0.count)" } == ["input 0+5", "input 10+2", "holding 4+4"])
        #expect(requests[0].registers.map(\.quantity) == [.voltageL1, .activePower, .frequency])
    }

    @Test func readsAcrossGapsOnlyWhereTheMapAllows() {
        let layout: [(Quantity, RegisterFunction, Int, RegisterType)] = [
            (.voltageL1, .input, 0, .float32), (.activePower, .input, 52, .float32), (.energyImport, .input, 72, .float32),
        ]
        #expect(ReadPlan.requests(for: map(layout)).count == 3)
        let merged = ReadPlan.requests(for: map(layout, maxGap: 50))
        #expect(merged.count == 1 && merged[0].address == 0 && merged[0].count == 74)
        let response = (0..<74).map { UInt16($0) }
        #expect(merged[0].words(of: merged[0].registers[1], in: response) == [52, 53])
    }

    @Test func neverExceeds125RegistersPerRequest() {
        let registers = (0..<15).map { index in
            (Quantity.allCases[index], RegisterFunction.holding, index * 20, RegisterType.float64)
        }
        let requests = ReadPlan.requests(for: map(registers, maxGap: 124))
        #expect(requests.allSatisfy { $0.count <= 125 })
        #expect(requests.flatMap(\.registers).count == 15)
        #expect(requests.count == 3)
    }
}
