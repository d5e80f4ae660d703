import ConfigFile
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The active power a simulated meter reports over time (W, positive = consumption).
public enum PowerProfile: Sendable, Equatable {
    case constant(watts: Double)
    /// mean + amplitude × sin(2π t / period).
    case sine(mean: Double, amplitude: Double, periodSeconds: Double)
    /// Piecewise-linear replay of (seconds, watts) points, looping over the file's span.
    case replay(points: [ReplayPoint])

    public struct ReplayPoint: Sendable, Equatable {
        public let seconds: Double
        public let watts: Double
    }

    /// `constant:W`, `sine:MEAN:AMPLITUDE:PERIOD_S` or `csv:FILE` (lines `seconds,watts`).
    public init(parsing text: String) throws(ConfigError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func fail(_ message: String) -> ConfigError {
            ConfigError(issues: [ConfigIssue(file: "--profile", path: text, message: message)])
        }
        switch parts.first {
        case "constant":
            guard parts.count == 2, let watts = Double(parts[1]), watts.isFinite else { throw fail("expected constant:WATTS") }
            self = .constant(watts: watts)
        case "sine":
            guard parts.count == 4, let mean = Double(parts[1]), let amplitude = Double(parts[2]),
                  let period = Double(parts[3]), period > 0 else { throw fail("expected sine:MEAN:AMPLITUDE:PERIOD_S") }
            self = .sine(mean: mean, amplitude: amplitude, periodSeconds: period)
        case "csv":
            guard parts.count == 2 else { throw fail("expected csv:FILE") }
            self = .replay(points: try Self.loadCSV(parts[1]))
        default:
            throw fail("unknown profile (constant:W, sine:MEAN:AMPLITUDE:PERIOD_S, csv:FILE)")
        }
    }

    static func loadCSV(_ path: String) throws(ConfigError) -> [ReplayPoint] {
        let text: String
        switch readTextFile(path, limit: 64 << 20) {
        case .success(let contents): text = contents
        case .failure(let problem): throw ConfigError(issues: [ConfigIssue(file: path, path: "", message: problem.message)])
        }
        var points: [ReplayPoint] = []
        for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: " \t") }
            if fields.first?.hasPrefix("#") ?? true { continue }
            guard fields.count == 2, let seconds = Double(fields[0]), let watts = Double(fields[1]),
                  seconds.isFinite, watts.isFinite, seconds >= (points.last?.seconds ?? 0) else {
                if number == 0 { continue }  // a header line
                throw ConfigError(issues: [ConfigIssue(file: path, path: "line \(number + 1)", message: "expected ascending seconds,watts")])
            }
            points.append(ReplayPoint(seconds: seconds, watts: watts))
        }
        guard points.count >= 2, points.last!.seconds > points.first!.seconds else {
            throw ConfigError(issues: [ConfigIssue(file: path, path: "", message: "needs at least two points spanning some time")])
        }
        return points
    }

    public func watts(at seconds: Double) -> Double {
        switch self {
        case .constant(let watts):
            return watts
        case .sine(let mean, let amplitude, let period):
            return mean + amplitude * sin(2 * Double.pi * seconds / period)
        case .replay(let points):
            let start = points.first!.seconds, span = points.last!.seconds - start
            let t = start + (seconds - start).truncatingRemainder(dividingBy: span)
            let upper = points.firstIndex { $0.seconds >= t } ?? points.count - 1
            guard upper > 0 else { return points[0].watts }
            let a = points[upper - 1], b = points[upper]
            let fraction = b.seconds == a.seconds ? 1 : (t - a.seconds) / (b.seconds - a.seconds)
            return a.watts + (b.watts - a.watts) * fraction
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
