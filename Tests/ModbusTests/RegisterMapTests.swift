import ConfigFile
import Foundation
import Modbus
import Testing
import TestSupport

@Suite struct RegisterMapTests {
    let folder = TemporaryDirectory("maps")

    func load(_ toml: String) -> (RegisterMap?, [ConfigIssue]) {
        let path = folder.file("map-\(UUID().uuidString).toml")
        try! toml.write(toFile: path, atomically: true, encoding: .utf8)
        let issues = ConfigIssues()
        return (RegisterMap.load(file: path, issues: issues), issues.list)
    }

    @Test(arguments: ["eastron-sdm630", "eastron-sdm120", "abb-b23", "schneider-iem3155", "carlo-gavazzi-em340"])
    func shippedMapsAreValid(name: String) throws {
        let issues = ConfigIssues()
        let path = Paths.packageRoot.appendingPathComponent("firmware-config/registers/\(name).toml").path
        let map = try #require(RegisterMap.load(file: path, issues: issues), "\(issues.list)")
        #expect(map.register(for: .activePower) != nil)
        #expect(map.registers.count >= 8)
        #expect(ReadPlan.requests(for: map).allSatisfy { $0.count <= 125 })
    }

    @Test func reportsEveryProblemWithItsRegister() {
        let (map, issues) = load("""
            model = "broken"
            colour = "red"
            [[registers]]
            quantity = "active_power"
            function = "input"
            address = 0
            type = "float32"
            [[registers]]
            quantity = "voltage_l1"
            function = "coils"
            address = 1
            type = "float32"
            [[registers]]
            quantity = "frequency"
            function = "input"
            address = 1
            type = "float16"
            [[registers]]
            quantity = "current_l1"
            function = "input"
            address = 1
            type = "int32"
            unit = "mA"
            [[registers]]
            quantity = "temperature"
            function = "input"
            address = 70000
            type = "int16"
            [[registers]]
            quantity = "energy_import"
            function = "holding"
            address = 65534
            type = "uint64"
            scal = 1000
            """)
        #expect(map == nil)
        let messages = issues.map { "\($0.path): \($0.message)" }
        let expected = [
            "registers[1].function: must be one of \"input\", \"holding\", not \"coils\"",
            "registers[2].type: must be one of",
            "registers[3].unit: current_l1 is recorded in A, not \"mA\"",
            "registers[4].quantity: unknown quantity \"temperature\"",
            "registers[4].address: must be between 0 and 65535, not 70000",
            "registers[5].address: uint64 at 65534 runs past the last register (65535)",
            "registers[5].scal: unknown key",
            "registers[3].address: current_l1 (input 1…2) overlaps registers[0] active_power (0…1)",
            "colour: unknown key",
        ]
        for fragment in expected {
            #expect(messages.contains { $0.hasPrefix(fragment) }, "missing: \(fragment)\nin: \(messages.joined(separator: "\n"))")
        }
        #expect(issues.allSatisfy { $0.file.hasSuffix(".toml") })
    }

    @Test func requiresActivePowerAndRejectsDuplicates() {
        let (_, issues) = load("""
            model = "no power"
            [[registers]]
            quantity = "voltage_l1"
            function = "input"
            address = 0
            type = "float32"
            [[registers]]
            quantity = "voltage_l1"
            function = "input"
            address = 2
            type = "float32"
            """)
        #expect(issues.contains { $0.message.contains("no register for active_power") })
        #expect(issues.contains { $0.path == "registers[1].quantity" && $0.message.contains("already mapped by registers[0]") })
    }

    @Test func reportsTOMLSyntaxErrorsWithTheirLine() {
        let (_, issues) = load("model = \"x\"\n[[registers]\n")
        #expect(issues.count == 1 && issues[0].message.hasPrefix("line 2"))
    }

    @Test func invalidSentinelsAreBitPatternsOfTheRegisterWidth() throws {
        let (map, issues) = load("""
            model = "sentinels"
            [[registers]]
            quantity = "active_power"
            function = "holding"
            address = 0
            type = "uint64"
            invalid = -1
            [[registers]]
            quantity = "frequency"
            function = "holding"
            address = 4
            type = "uint16"
            invalid = 0x1FFFF
            """)
        #expect(map == nil)
        #expect(issues.map(\.path) == ["registers[1].invalid"])
        let (valid, _) = load("""
            model = "sentinels"
            [[registers]]
            quantity = "active_power"
            function = "holding"
            address = 0
            type = "uint64"
            invalid = -1
            """)
        #expect(try #require(valid).registers[0].invalidRaw == UInt64.max)
    }
}
