// Clearing at scale (issue 7): 20,000 offers and 1,000 requests over a day of 96 ISPs, in 200
// congestion points under 20 TSO nodes; DSO requests (800) each for one congestion point, TSO
// requests (200) for a node's ten. Deterministic books (SplitMix64). Target: ≤ 1 s.
// `wide`: every request's area is every congestion point (each request sees all offers).
// Run: swift run -c release market-bench [OFFERS] [REQUESTS] [wide]
import Foundation
import GridCore
import Market
import TestSupport


let offerCount = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 20_000 : 20_000
let requestCount = CommandLine.arguments.count > 2 ? Int(CommandLine.arguments[2]) ?? 1_000 : 1_000
let wide = CommandLine.arguments.contains("wide")
var random = SplitMix64(seed: 7)
let points = (0..<200).map { "cp-\($0)" }
let offers = (0..<offerCount).map { index in
    // Most offers cover a few hours, some the whole day.
    let start = 1 + random.below(96)
    let duration = random.below(10) == 0 ? 97 - start : min(1 + random.below(16), 97 - start)
    return FlexibilityOffer(id: "o\(index)", aggregator: "agr-\(random.below(50))", location: points[random.below(points.count)],
                            isps: [ISPSpan(start: start, duration: duration, value: -(100 + random.below(20_000)))],
                            price: Money(cents: Int64(1 + random.below(500)) * 100), minimumFactor: [1, 25, 50, 100][random.below(4)], sequence: index)
}
let requests = (0..<requestCount).map { index in
    let tso = index % 5 == 4
    let node = random.below(20)
    let area: Set<String> = wide ? Set(points) : tso ? Set((0..<10).map { points[node * 10 + $0] }) : [points[random.below(points.count)]]
    let start = 1 + random.below(96), duration = min(4 + random.below(32), 97 - start)
    let high = 10_000 + random.below(200_000)
    return FlexibilityRequest(id: "r\(index)", buyer: tso ? .tso : .dso, area: area,
                              isps: [ISPSpan(start: start, duration: duration, value: PowerRange(minPower: -high, maxPower: -high / 10)!)],
                              priceLimitPerMWh: random.below(4) == 0 ? nil : Money(cents: Int64(50_000 + random.below(400_000)) * 100), sequence: index)
}
let machine = "\(ProcessInfo.processInfo.activeProcessorCount)-core \((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?")"
var best = Double.infinity
var outcome: ClearingOutcome?
for _ in 0..<5 {
    let start = DispatchTime.now().uptimeNanoseconds
    outcome = Clearing.clear(requests: requests, offers: offers, rules: ClearingRules(ispMinutes: 15, reliabilityMargin: 0.1))
    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}
let result = outcome!
let energy = result.awards.reduce(0) { $0 + $1.energyWh }
print("Machine: \(machine). \(offerCount) offers × \(requestCount) requests × 96 ISPs (15 min), reliability margin 10 %\(wide ? ", every request over all 200 congestion points" : "").")
print("clearing: best of 5 \(String(format: "%.3f", best)) s; \(result.awards.count) awards, \(result.requests.filter(\.satisfied).count) requests satisfied, \(energy / 1000) kWh awarded")
