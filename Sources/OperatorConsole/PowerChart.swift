import Foundation
import GridCore
import MarketOperations
import PlatformAPI
import ReadingsIngest

/// What the console's charts share: the drawing area, the power axis (round steps over the
/// values and zero, gridlines labelled in W or kW), the opening with title and description, the
/// zero line.
package struct ChartFrame {
    package static let width = 960.0
    package static let height = 260.0
    package static let left = 64.0
    static let bottom = 24.0
    static let top = 8.0
    package let step: Double
    package let ticks: [Double]
    private let yLow: Double
    private let yHigh: Double

    /// The axis over `lowest…highest` and zero.
    package init(lowest: Double, highest: Double) {
        let minimum = min(0, lowest), maximum = max(0, highest)
        (step, ticks) = Self.ticks(minimum, maximum)
        yLow = ticks.first ?? minimum
        yHigh = max(ticks.last ?? maximum, yLow + step)
    }

    package func y(_ watts: Double) -> Double {
        Self.top + (yHigh - watts) / (yHigh - yLow) * (Self.height - Self.top - Self.bottom)
    }

    /// `<svg>` with its title and description (`id` names them for `aria-labelledby`).
    package static func open(id: String, title: String, description: String) -> String {
        "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-labelledby=\"\(id)-title \(id)-desc\">"
            + "<title id=\"\(id)-title\">\(escapeHTML(title))</title><desc id=\"\(id)-desc\">\(escapeHTML(description))</desc>"
    }

    /// A line across the chart at `watts`.
    package func across(_ watts: Double, class name: String) -> String {
        "<line class=\"\(name)\" x1=\"\(Self.f(Self.left))\" x2=\"\(Self.f(Self.width))\" y1=\"\(Self.f(y(watts)))\" y2=\"\(Self.f(y(watts)))\"/>"
    }

    /// The gridlines and their labels.
    package var grid: String {
        ticks.map { tick in
            across(tick, class: "grid")
                + "<text class=\"axis\" x=\"\(Self.f(Self.left - 6))\" y=\"\(Self.f(y(tick) + 4))\" text-anchor=\"end\">\(Self.label(tick, step: step))</text>"
        }.joined()
    }

    /// The zero line, and the end of the chart.
    package var close: String { across(0, class: "zero") + "</svg>" }

    /// A label under the chart at `x`.
    static func timeLabel(_ text: String, x: Double) -> String {
        "<text class=\"axis\" x=\"\(f(x))\" y=\"\(f(height - 6))\" text-anchor=\"middle\">\(escapeHTML(text))</text>"
    }

    package static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// A round step giving four to eight gridlines over `minimum…maximum`, and the lines.
    package static func ticks(_ minimum: Double, _ maximum: Double) -> (Double, [Double]) {
        // A non-number would make the stride below endless.
        guard minimum.isFinite, maximum.isFinite, (maximum - minimum).isFinite else { return (1, [0]) }
        let range = max(maximum - minimum, 1)
        let magnitude = pow(10, floor(log10(range / 5)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { range / $0 <= 8 } ?? magnitude * 10
        let first = floor(minimum / step) * step, last = ceil(maximum / step) * step
        return (step, stride(from: first, through: last + step / 2, by: step).map { $0 })
    }

    package static func label(_ watts: Double, step: Double) -> String {
        abs(step) >= 1000 ? String(format: step.truncatingRemainder(dividingBy: 1000) == 0 ? "%.0f kW" : "%.1f kW", watts / 1000)
            : "\(Units.grouped(watts)) W"
    }
}

/// A day of a POD's power as inline SVG, drawn here (no chart script in the browser). The
/// readings are folded into one column per two pixels: the band is each column's minimum to
/// maximum (so a short peak stays visible), the line its mean; gaps are shaded.
package struct PowerChart {
    package let from: Int64
    package let to: Int64
    package let time: MarketTime

    /// `lowest`/`highest`: the readings' extremes (the caller shows them too).
    func svg(_ points: [(t: Int64, w: Double)], lowest: Double, highest: Double, gaps: [(Int64, Int64)], title: String) -> String {
        typealias Frame = ChartFrame
        let f = Frame.f
        let columns = Int((Frame.width - Frame.left) / 2)
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
        let frame = ChartFrame(lowest: lowest, highest: highest)
        func x(_ column: Int) -> Double { Frame.left + Double(column) * 2 + 1 }
        func xTime(_ t: Int64) -> Double { Frame.left + Double(t - from) / span * (Frame.width - Frame.left) }
        var svg = Frame.open(id: "chart", title: title, description: "\(points.count) readings from \(Units.watts(lowest)) to "
                             + "\(Units.watts(highest)); \(gaps.count) gap\(gaps.count == 1 ? "" : "s") shaded.")
        for gap in gaps {
            let x0 = xTime(max(gap.0, from)), x1 = xTime(min(gap.1, to))
            svg += "<rect class=\"gap\" x=\"\(f(x0))\" y=\"\(f(Frame.top))\" width=\"\(f(max(1, x1 - x0)))\" height=\"\(f(Frame.height - Frame.top - Frame.bottom))\"/>"
        }
        svg += frame.grid
        var hour = from
        while hour <= to {
            let local = time.clock(Timestamp(millisecondsSince1970: hour))
            if local.hasSuffix(":00:00"), Int(local.prefix(2)).map({ $0 % 3 == 0 }) == true {
                svg += "<line class=\"grid\" x1=\"\(f(xTime(hour)))\" x2=\"\(f(xTime(hour)))\" y1=\"\(f(Frame.top))\" y2=\"\(f(Frame.height - Frame.bottom))\"/>"
                svg += Frame.timeLabel(String(local.prefix(5)), x: xTime(hour))
            }
            hour += 3_600_000 / 4
        }
        var band = "", line = ""
        for column in 0..<columns where count[column] > 0 {
            band += "M\(f(x(column))) \(f(frame.y(high[column])))V\(f(frame.y(low[column]) + 0.5))"
            line += (line.isEmpty ? "M" : "L") + "\(f(x(column))) \(f(frame.y(sum[column] / Double(count[column]))))"
        }
        svg += "<path class=\"band\" d=\"\(band)\"/><path class=\"line\" d=\"\(line)\"/>"
        return svg + frame.close
    }
}

/// A congestion point's day per ISP as inline SVG: the forecast as steps, the maximum load as a
/// dashed line, the deficiency (the forecast above it) shaded.
package struct ProfileChart {
    /// `labels[i]`: the local start time of ISP i + 1, shown every few hours. `maxLoad[i]` and
    /// `measured[i]` per ISP (either may be empty or hold nil: not drawn there).
    func svg(forecast: [Int?], maxLoad: [Int?], measured: [Int?] = [], labels: [String], title: String, description: String) -> String {
        typealias Frame = ChartFrame
        let f = Frame.f
        let values = (forecast + maxLoad + measured).compactMap { $0 }.map(Double.init)
        let frame = ChartFrame(lowest: values.min() ?? 0, highest: values.max() ?? 1)
        let count = max(1, forecast.count), slot = (Frame.width - Frame.left) / Double(count)
        func x(_ index: Int) -> Double { Frame.left + Double(index) * slot }
        var svg = Frame.open(id: "profile", title: title, description: description)
        // The deficiency: between the maximum load and the forecast above it.
        for (index, value) in forecast.enumerated() {
            guard let value, let limit = maxLoad[safe: index] ?? nil, value > limit else { continue }
            let upper = frame.y(Double(value)), lower = frame.y(Double(limit))
            svg += "<rect class=\"gap\" x=\"\(f(x(index)))\" y=\"\(f(upper))\" width=\"\(f(slot))\" height=\"\(f(lower - upper))\"/>"
        }
        svg += frame.grid
        // A label every three hours of ISPs.
        let every = max(1, labels.count / 8)
        for (index, label) in labels.enumerated() where index % every == 0 {
            svg += Frame.timeLabel(label, x: x(index))
        }
        /// A step line through the ISPs' values, broken where one is missing.
        func steps(_ series: [Int?]) -> String {
            var line = "", pen = false
            for (index, value) in series.enumerated() {
                guard let value else { pen = false; continue }
                line += (pen ? "L" : "M") + "\(f(x(index))) \(f(frame.y(Double(value))))H\(f(x(index + 1)))"
                pen = true
            }
            return line
        }
        svg += "<path class=\"line\" d=\"\(steps(forecast))\"/>"
        if measured.contains(where: { $0 != nil }) { svg += "<path class=\"measured\" d=\"\(steps(measured))\"/>" }
        if maxLoad.contains(where: { $0 != nil }) { svg += "<path class=\"limit\" d=\"\(steps(maxLoad))\"/>" }
        return svg + frame.close
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
