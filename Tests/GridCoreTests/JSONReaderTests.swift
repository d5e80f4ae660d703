import GridCore
import Testing

@Suite struct JSONReaderTests {
    func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    @Test func treeOfEveryKind() throws {
        let value = try parse(#" {"a":[1,-2.5e3,"x\u00e9\ud83d\ude00",true,false,null],"b":{}} "#)
        #expect(value["a"]?.array?.count == 6)
        #expect(value["a"]?.array?[1] == .number("-2.5e3"))
        #expect(value["a"]?.array?[2] == .string("xé😀"))
        #expect(value["b"] == .object([:]))
    }

    @Test(arguments: [
        (#"{"a":1,"a":2}"#, "duplicate member"),
        (#"{"a":1} x"#, "trailing bytes"),
        (#"{"a":"\ud800"}"#, "lone surrogate"),
        ("{\"a\":\"\u{1}\"}", "control character"),
        (#"{"a":01}"#, "expected ','"),
        (#"{"a":1,}"#, "expected a member name"),
        (#"[1 2]"#, "expected ','"),
        (#"{"a":tru}"#, "invalid literal"),
        (String(repeating: "[", count: 17) + String(repeating: "]", count: 17), "nesting deeper than 16"),
    ])
    func refuses(text: String, reason: String) {
        #expect {
            try parse(text)
        } throws: { error in
            (error as? JSONParseError)?.reason.contains(reason) == true
        }
    }

    @Test func duplicatesFoundPastSixteenMembers() {
        let members = (0..<20).map { "\"k\($0)\":\($0)" } + ["\"k3\":0"]
        #expect(throws: JSONParseError.self) { try parse("{" + members.joined(separator: ",") + "}") }
    }

    @Test func invalidUTF8Refused() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func pullReadingPicksMembersAndChecksTheRest() throws {
        let text = Array(#"{"skip":{"deep":[1,{"x":null}]},"n":18446744073709551615,"s":"a\"b","d":1.5,"neg":-1}"#.utf8)
        var n: UInt64?, s: [UInt8]?, d: Double?, neg: UInt64? = 7
        try text.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var reader = JSONReader(buffer)
            try reader.object { (reader: inout JSONReader, key: String) throws(JSONParseError) in
                switch key {
                case "n": n = try reader.uint64()
                case "s": s = try reader.stringBytes()
                case "d": d = try reader.double()
                case "neg": neg = try reader.uint64()
                default: try reader.skip()
                }
            }
            try reader.end()
        }
        #expect(n == UInt64.max)
        #expect(s == Array(#"a"b"#.utf8))
        #expect(d == 1.5)
        #expect(neg == nil)
        // One past UInt64.max is not an integer the platform takes.
        let big = Array("18446744073709551616".utf8)
        let value = try big.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var reader = JSONReader(buffer)
            return try reader.uint64()
        }
        #expect(value == nil)
    }

    @Test func skippingStillRefusesBadJSON() {
        let text = Array(#"{"skip":{"a":1,"a":2}}"#.utf8)
        #expect(throws: JSONParseError.self) {
            try text.withUnsafeBufferPointer { buffer throws(JSONParseError) in
                var reader = JSONReader(buffer)
                try reader.object { (reader: inout JSONReader, _: String) throws(JSONParseError) in try reader.skip() }
            }
        }
    }

    /// Numbers at the edges: out-of-range doubles and integers read as absent, never as infinity
    /// or a wrapped value; huge arrays and long strings are read whole within the input's size.
    @Test func extremeNumbersReadAsAbsent() throws {
        let value = try parse(#"{"big":1e999,"small":-1e999,"max":1e308,"zero":-0,"i":9223372036854775808,"u":18446744073709551616,"n":-9223372036854775808}"#)
        #expect(value["big"]?.double == nil && value["small"]?.double == nil)
        #expect(value["max"]?.double == 1e308 && value["zero"]?.double == 0)
        #expect(value["i"]?.int64 == nil && value["i"]?.uint64 == 9_223_372_036_854_775_808)
        #expect(value["u"]?.uint64 == nil && value["n"]?.int64 == .min && value["n"]?.uint64 == nil)
        let overflowed = try Array("1e999".utf8).withUnsafeBufferPointer { bytes throws(JSONParseError) in
            var reader = JSONReader(bytes)
            return try reader.double()
        }
        #expect(overflowed == nil)
        let wide = try parse("[" + Array(repeating: "0", count: 100_000).joined(separator: ",") + "]")
        #expect(wide.array?.count == 100_000)
        #expect(throws: JSONParseError.self) { try parse("NaN") }
        #expect(throws: JSONParseError.self) { try parse("[1e]") }
    }
}
