import GridCore
import Testing

@Suite struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1_764_000_004_000, "2025-11-24T16:00:04.000Z"),
        (951_782_400_123, "2000-02-29T00:00:00.123Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ])
    func formatsRFC3339(milliseconds: Int64, text: String) {
        #expect(Timestamp(millisecondsSince1970: milliseconds).rfc3339 == text)
        #expect(Timestamp(rfc3339: text)?.millisecondsSince1970 == milliseconds)
    }

    @Test func parsesOffsetsAndFractions() {
        #expect(Timestamp(rfc3339: "2026-11-24T11:00:04+01:00") == Timestamp(rfc3339: "2026-11-24T10:00:04.000Z"))
        #expect(Timestamp(rfc3339: "2026-11-24T10:00:04.5Z")?.millisecondsSince1970 == 1_795_514_404_500)
        #expect(Timestamp(rfc3339: "2026-11-24T10:00:04.123456789Z")?.millisecondsSince1970 == 1_795_514_404_123)
        #expect(Timestamp(rfc3339: "2026-03-29T01:30:00-02:30")?.rfc3339 == "2026-03-29T04:00:00.000Z")
    }

    @Test(arguments: ["", "2026-11-24", "2026-11-24T10:00:04", "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z",
                      "2026-11-24T24:00:00Z", "2026-11-24T10:00:04.Z", "2026-11-24T10:00:04Zjunk",
                      "2026-11-24T10:00:04+0100", "２026-11-24T10:00:04Z"])
    func rejectsMalformed(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func nextMultipleIsStrictlyAfterAndAligned() {
        #expect(Timestamp(millisecondsSince1970: 3999).nextMultiple(ofMilliseconds: 4000).millisecondsSince1970 == 4000)
        #expect(Timestamp(millisecondsSince1970: 4000).nextMultiple(ofMilliseconds: 4000).millisecondsSince1970 == 8000)
        #expect(Timestamp(millisecondsSince1970: -1).nextMultiple(ofMilliseconds: 4000).millisecondsSince1970 == 0)
        #expect(Timestamp(millisecondsSince1970: -4000).nextMultiple(ofMilliseconds: 4000).millisecondsSince1970 == 0)
    }

    @Test func roundTripsEveryDayOfFourCenturies() {
        // Calendar arithmetic over leap years and century rules, one sample per day.
        var milliseconds: Int64 = Timestamp(rfc3339: "1900-01-01T00:00:00Z")!.millisecondsSince1970
        let end = Timestamp(rfc3339: "2300-01-01T00:00:00Z")!.millisecondsSince1970
        while milliseconds < end {
            let stamp = Timestamp(millisecondsSince1970: milliseconds + 45_296_789)
            #expect(Timestamp(rfc3339: stamp.rfc3339) == stamp)
            milliseconds += 86_400_000
        }
    }
}

@Suite struct JSONObjectWriterTests {
    @Test func writesCompactObjectsInOrder() {
        var writer = JSONObjectWriter()
        writer.timestamp("t", Timestamp(millisecondsSince1970: 0))
        writer.string("k", "reading")
        writer.object("v") { v in
            v.number("active_power", 1534.2)
            v.number("energy_import", 1500)
            v.number("tiny", 0.00001)
            v.number("bad", .nan)
        }
        writer.integer("n", -7)
        writer.bool("b", true)
        let text = String(decoding: writer.finish(), as: UTF8.self)
        #expect(text == #"{"t":"1970-01-01T00:00:00.000Z","k":"reading","v":{"active_power":1534.2,"energy_import":1500,"tiny":1e-05,"bad":null},"n":-7,"b":true}"#)
    }

    @Test func escapesStrings() {
        var writer = JSONObjectWriter()
        writer.string("s", "a\"b\\c\nd\u{01}é€")
        #expect(String(decoding: writer.finish(), as: UTF8.self) == "{\"s\":\"a\\\"b\\\\c\\nd\\u0001é€\"}")
    }
}
