import GridCore

/// The DSO's own figures for a congestion point's day (FUSION FR20, FR21, FR34; docs/market.md,
/// "The DSO's congestion-point data"): per ISP the forecast load of what no aggregator forecasts
/// (the non-aggregator load) and the maximum power the point may carry. Either may be absent at
/// an ISP (nil): the screen then falls back to the BRPs' baselines or `[market]` `max_load_w`.
public struct CongestionProfile: Codable, Sendable, Equatable {
    public var point: String
    public var day: String
    /// W per ISP, index 0 is ISP 1.
    public var forecastW: [Int?]
    public var maxW: [Int?]

    enum CodingKeys: String, CodingKey { case point, day, forecastW = "forecast_w", maxW = "max_w" }

    public init(point: String, day: String, forecastW: [Int?], maxW: [Int?]) {
        self.point = point
        self.day = day
        self.forecastW = forecastW
        self.maxW = maxW
    }

    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let field: String
        public let description: String
    }

    /// Why the profile cannot stand for a day of `isps` ISPs, if it cannot.
    public func problem(isps: Int) -> Problem? {
        for (field, values) in [("forecast_w", forecastW), ("max_w", maxW)] {
            guard values.count == isps else {
                return Problem(field: field, description: "\(field): \(isps) values, one per ISP of \(day) (\(values.count) given)")
            }
            if let index = values.firstIndex(where: { $0.map { !Bounds.powerW.contains($0) } ?? false }) {
                return Problem(field: field, description: "\(field)[\(index)]: within ±\(Bounds.powerW.upperBound) W")
            }
        }
        if let index = maxW.firstIndex(where: { ($0 ?? 0) < 0 }) {
            return Problem(field: "max_w", description: "max_w[\(index)]: a maximum power is not negative")
        }
        guard forecastW.contains(where: { $0 != nil }) || maxW.contains(where: { $0 != nil }) else {
            return Problem(field: "forecast_w", description: "forecast_w, max_w: at least one value")
        }
        return nil
    }

    /// A profile from CSV: a header naming `isp`, and `forecast_w` and/or `max_w` in any order,
    /// then one row per ISP (1…`isps`, each at most once; a blank cell is no value). At most
    /// `isps` rows; commas or semicolons (spreadsheets in many locales write the latter).
    public static func parse(csv text: String, point: String, day: String, isps: Int) throws(Problem) -> CongestionProfile {
        var lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !lines.isEmpty else { throw Problem(field: "csv", description: "csv: a header and a row per ISP") }
        let separator: Character = lines[0].contains(";") ? ";" : ","
        let header = lines.removeFirst().split(separator: separator, omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let ispColumn = header.firstIndex(of: "isp") else { throw Problem(field: "csv", description: "csv: the header names an isp column") }
        let forecastColumn = header.firstIndex(of: "forecast_w"), maxColumn = header.firstIndex(of: "max_w")
        guard forecastColumn != nil || maxColumn != nil else {
            throw Problem(field: "csv", description: "csv: the header names forecast_w or max_w")
        }
        guard lines.count <= isps else { throw Problem(field: "csv", description: "csv: at most \(isps) rows, one per ISP of \(day)") }
        var profile = CongestionProfile(point: point, day: day, forecastW: Array(repeating: nil, count: isps),
                                        maxW: Array(repeating: nil, count: isps))
        var seen = Set<Int>()
        for (number, line) in lines.enumerated() {
            let row = number + 2
            let cells = line.split(separator: separator, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == header.count else {
                throw Problem(field: "csv", description: "csv line \(row): \(header.count) cells (\(cells.count) given)")
            }
            guard let isp = Int(cells[ispColumn]), (1...isps).contains(isp), seen.insert(isp).inserted else {
                throw Problem(field: "csv", description: "csv line \(row): isp is a number 1–\(isps), each once")
            }
            func watts(_ column: Int?) throws(Problem) -> Int? {
                guard let column, !cells[column].isEmpty else { return nil }
                guard let value = Int(cells[column]) else {
                    throw Problem(field: "csv", description: "csv line \(row): \(header[column]) is a whole number of W")
                }
                return value
            }
            profile.forecastW[isp - 1] = try watts(forecastColumn)
            profile.maxW[isp - 1] = try watts(maxColumn)
        }
        if let problem = profile.problem(isps: isps) { throw Problem(field: "csv", description: "csv: " + problem.description) }
        return profile
    }
}
