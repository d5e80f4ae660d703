import Foundation

/// A day of a POD's power as inline SVG, drawn here (no chart script in the browser). The
/// readings are folded into one column per two pixels: the band is each column's minimum to
/// maximum (so a short peak stays visible), the line its mean; gaps are shaded.
struct PowerChart {
    let from: Int64
    let to: Int64
    let time: MarketTime
    let width = 960.0
    let height = 260.0
    let left = 64.0
    let bottom = 24.0
    let top = 8.0

    /// `lowest`/`highest`: the readings' extremes (the caller shows them too).
    func svg(_ points: [(t: Int64, w: Double)], lowest: Double, highest: Double, gaps: [(Int64, Int64)], title: String) -> String {
        let columns = Int((width - left) / 2)
        var low = [Double](repeating: .infinity, count: columns), high = [Double](repeating: -.infinity, count: columns)
        var sum = [Double](repeating: 0, count: columns), count = [Int](repeating: 0, count: columns)
        let span = Double(to - from)
        for point in points {
            let column = min(columns - 1, max(0, Int(Double(point.t - from) / span * Double(columns))))
            low[column] = min(low[column], point.w)
            high[column] = max(high[column], point.w)
            sum[column] += point.w
            count[column] += 1
        }
        let minimum = min(0, lowest), maximum = max(0, highest)
        let (step, ticks) = Self.ticks(minimum, maximum)
        let yLow = ticks.first ?? minimum, yHigh = max(ticks.last ?? maximum, yLow + step)
        func x(_ column: Int) -> Double { left + Double(column) * 2 + 1 }
        func y(_ watts: Double) -> Double { top + (yHigh - watts) / (yHigh - yLow) * (height - top - bottom) }
        func xTime(_ t: Int64) -> Double { left + Double(t - from) / span * (width - left) }
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-labelledby=\"chart-title chart-desc\">"
        svg += "<title id=\"chart-title\">\(escapeHTML(title))</title>"
        svg += "<desc id=\"chart-desc\">\(points.count) readings from \(Units.watts(lowest)) to \(Units.watts(highest)); \(gaps.count) gap\(gaps.count == 1 ? "" : "s") shaded.</desc>"
        for gap in gaps {
            let x0 = xTime(max(gap.0, from)), x1 = xTime(min(gap.1, to))
            svg += "<rect class=\"gap\" x=\"\(f(x0))\" y=\"\(f(top))\" width=\"\(f(max(1, x1 - x0)))\" height=\"\(f(height - top - bottom))\"/>"
        }
        for tick in ticks {
            svg += "<line class=\"grid\" x1=\"\(f(left))\" x2=\"\(f(width))\" y1=\"\(f(y(tick)))\" y2=\"\(f(y(tick)))\"/>"
            svg += "<text class=\"axis\" x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\" text-anchor=\"end\">\(Self.label(tick, step: step))</text>"
        }
        var hour = from
        while hour <= to {
            let local = time.clock(Date(timeIntervalSince1970: Double(hour) / 1000))
            if local.hasSuffix(":00:00"), Int(local.prefix(2)).map({ $0 % 3 == 0 }) == true {
                svg += "<line class=\"grid\" x1=\"\(f(xTime(hour)))\" x2=\"\(f(xTime(hour)))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\"/>"
                svg += "<text class=\"axis\" x=\"\(f(xTime(hour)))\" y=\"\(f(height - 6))\" text-anchor=\"middle\">\(local.prefix(5))</text>"
            }
            hour += 3_600_000 / 4
        }
        var band = "", line = ""
        for column in 0..<columns where count[column] > 0 {
            band += "M\(f(x(column))) \(f(y(high[column])))V\(f(y(low[column]) + 0.5))"
            line += (line.isEmpty ? "M" : "L") + "\(f(x(column))) \(f(y(sum[column] / Double(count[column]))))"
        }
        svg += "<path class=\"band\" d=\"\(band)\"/><path class=\"line\" d=\"\(line)\"/>"
        svg += "<line class=\"zero\" x1=\"\(f(left))\" x2=\"\(f(width))\" y1=\"\(f(y(0)))\" y2=\"\(f(y(0)))\"/></svg>"
        return svg
    }

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// A round step giving four to eight gridlines over `minimum…maximum`, and the lines.
    static func ticks(_ minimum: Double, _ maximum: Double) -> (Double, [Double]) {
        let range = max(maximum - minimum, 1)
        let magnitude = pow(10, floor(log10(range / 5)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { range / $0 <= 8 } ?? magnitude * 10
        let first = floor(minimum / step) * step, last = ceil(maximum / step) * step
        return (step, stride(from: first, through: last + step / 2, by: step).map { $0 })
    }

    static func label(_ watts: Double, step: Double) -> String {
        abs(step) >= 1000 ? String(format: step.truncatingRemainder(dividingBy: 1000) == 0 ? "%.0f kW" : "%.1f kW", watts / 1000)
            : "\(Units.grouped(watts)) W"
    }
}

/// A congestion point's day per ISP as inline SVG: the forecast as steps, the maximum load as a
/// dashed line, the deficiency (the forecast above it) shaded.
struct ProfileChart {
    let width = 960.0
    let height = 260.0
    let left = 64.0
    let bottom = 24.0
    let top = 8.0

    /// `labels[i]`: the local start time of ISP i + 1, shown every few hours.
    func svg(forecast: [Int?], maxLoad: Int?, labels: [String], title: String, description: String) -> String {
        let values = forecast.compactMap { $0 }.map(Double.init) + (maxLoad.map { [Double($0)] } ?? [])
        let (step, ticks) = PowerChart.ticks(min(0, values.min() ?? 0), max(0, values.max() ?? 1))
        let yLow = ticks.first ?? 0, yHigh = max(ticks.last ?? 1, yLow + step)
        let count = max(1, forecast.count), slot = (width - left) / Double(count)
        func x(_ index: Int) -> Double { left + Double(index) * slot }
        func y(_ watts: Double) -> Double { top + (yHigh - watts) / (yHigh - yLow) * (height - top - bottom) }
        func f(_ value: Double) -> String { String(format: "%.1f", value) }
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-labelledby=\"profile-title profile-desc\">"
        svg += "<title id=\"profile-title\">\(escapeHTML(title))</title><desc id=\"profile-desc\">\(escapeHTML(description))</desc>"
        if let maxLoad {
            // The deficiency: between the maximum load and the forecast above it.
            for (index, value) in forecast.enumerated() where (value ?? .min) > maxLoad {
                let upper = y(Double(value ?? maxLoad)), lower = y(Double(maxLoad))
                svg += "<rect class=\"gap\" x=\"\(f(x(index)))\" y=\"\(f(upper))\" width=\"\(f(slot))\" height=\"\(f(lower - upper))\"/>"
            }
        }
        for tick in ticks {
            svg += "<line class=\"grid\" x1=\"\(f(left))\" x2=\"\(f(width))\" y1=\"\(f(y(tick)))\" y2=\"\(f(y(tick)))\"/>"
            svg += "<text class=\"axis\" x=\"\(f(left - 6))\" y=\"\(f(y(tick) + 4))\" text-anchor=\"end\">\(PowerChart.label(tick, step: step))</text>"
        }
        // A label every three hours of ISPs.
        let every = max(1, labels.count / 8)
        for (index, label) in labels.enumerated() where index % every == 0 {
            svg += "<text class=\"axis\" x=\"\(f(x(index)))\" y=\"\(f(height - 6))\" text-anchor=\"middle\">\(escapeHTML(label))</text>"
        }
        var line = "", pen = false
        for (index, value) in forecast.enumerated() {
            guard let value else { pen = false; continue }
            line += (pen ? "L" : "M") + "\(f(x(index))) \(f(y(Double(value))))H\(f(x(index + 1)))"
            pen = true
        }
        svg += "<path class=\"line\" d=\"\(line)\"/>"
        if let maxLoad {
            svg += "<line class=\"limit\" x1=\"\(f(left))\" x2=\"\(f(width))\" y1=\"\(f(y(Double(maxLoad))))\" y2=\"\(f(y(Double(maxLoad))))\"/>"
        }
        svg += "<line class=\"zero\" x1=\"\(f(left))\" x2=\"\(f(width))\" y1=\"\(f(y(0)))\" y2=\"\(f(y(0)))\"/></svg>"
        return svg
    }
}

/// Text for HTML (outside the templates, which escape by themselves).
func escapeHTML(_ text: String) -> String {
    var escaped = ""
    escaped.reserveCapacity(text.utf8.count)
    for character in text {
        switch character {
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "&": escaped += "&amp;"
        case "\"": escaped += "&quot;"
        case "'": escaped += "&#39;"
        default: escaped.append(character)
        }
    }
    return escaped
}
