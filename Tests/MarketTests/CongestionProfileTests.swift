import Market
import Testing

/// The DSO's profile of a congestion point's day, from its CSV: what a spreadsheet writes is read,
/// anything else is refused naming the line, never trapped on.
@Suite struct CongestionProfileTests {
    @Test func aSpreadsheetsCSVIsRead() throws {
        let profile = try CongestionProfile.parse(csv: "ISP ; max_w ; forecast_w\r\n40;4000;5000\r\n\r\n41;;3500\n1;4000;\n",
                                                  point: "cp-1", day: "2026-11-27", isps: 96)
        #expect(profile.forecastW[39] == 5000 && profile.maxW[39] == 4000)
        #expect(profile.forecastW[40] == 3500 && profile.maxW[40] == nil, "a blank cell is no value")
        #expect(profile.maxW[0] == 4000 && profile.forecastW[0] == nil && profile.forecastW[2] == nil)
        #expect(profile.forecastW.count == 96 && profile.maxW.count == 96)
        let maxOnly = try CongestionProfile.parse(csv: "isp,max_w\n92,1\n", point: "cp-1", day: "2026-03-29", isps: 92)
        #expect(maxOnly.maxW[91] == 1, "a short day has 92 ISPs")
    }

    @Test func anythingElseIsRefusedByLine() {
        let cases: [(String, String)] = [
            ("", "csv: a header and a row per ISP"),
            ("forecast_w\n1", "csv: the header names an isp column"),
            ("isp,load\n1,2", "csv: the header names forecast_w or max_w"),
            ("isp,max_w\n1,2,3", "csv line 2: 2 cells (3 given)"),
            ("isp,max_w\n0,2", "csv line 2: isp is a number 1–96, each once"),
            ("isp,max_w\n1,2\n1,3", "csv line 3: isp is a number 1–96, each once"),
            ("isp,max_w\n1,99999999999999999999999", "csv line 2: max_w is a whole number of W"),
            ("isp,max_w\n1,2.5", "csv line 2: max_w is a whole number of W"),
            ("isp,max_w\n1,-5", "csv: max_w[0]: a maximum power is not negative"),
            ("isp,forecast_w\n1,2000000000", "csv: forecast_w[0]: within ±1000000000 W"),
            ("isp,max_w\n1,", "csv: forecast_w, max_w: at least one value"),
            ("isp,max_w\n" + (1...97).map { "\($0),1" }.joined(separator: "\n"), "csv: at most 96 rows, one per ISP of 2026-11-27"),
        ]
        for (csv, problem) in cases {
            #expect(throws: CongestionProfile.Problem.self, "\(csv.prefix(40))") {
                do {
                    _ = try CongestionProfile.parse(csv: csv, point: "cp-1", day: "2026-11-27", isps: 96)
                } catch let refusal as CongestionProfile.Problem {
                    #expect(refusal.description == problem, "\(csv.prefix(40))")
                    throw refusal
                }
            }
        }
        #expect(CongestionProfile(point: "cp-1", day: "2026-11-27", forecastW: [1], maxW: [1]).problem(isps: 96)?.field == "forecast_w")
    }
}
