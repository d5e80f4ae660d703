import Prometheus
import Wire

/// The ingest's Prometheus series (served at `/metrics`).
public final class IngestMetrics: Sendable {
    package let messages: Counter
    package let stored: Counter
    package let committed: Counter
    package let duplicates: Counter
    package let verifications: Counter
    let logLeaves: Counter
    package let quarantined: Gauge
    let uncertifiedNodes: Gauge
    let certificationLag: Gauge
    let lastReadingAge: Gauge
    let queueDepth: Gauge
    private let drops: [DropReason: Counter]

    public init(registry: PrometheusCollectorRegistry) {
        messages = registry.makeCounter(descriptor: .init(namespace: "coordinator", subsystem: "ingest", metricName: "messages", unitName: "total", helpText: "Readings messages received"))
        stored = registry.makeCounter(descriptor: .init(namespace: "coordinator", subsystem: "ingest", metricName: "entries", unitName: "total", helpText: "Ledger entries accepted"))
        committed = registry.makeCounter(descriptor: .init(namespace: "coordinator", subsystem: "ingest", metricName: "committed", unitName: "total", helpText: "Ledger entries written to the SCD"))
        duplicates = registry.makeCounter(descriptor: .init(namespace: "coordinator", subsystem: "ingest", metricName: "duplicates", unitName: "total", helpText: "Entries already held (at-least-once delivery, replays)"))
        verifications = registry.makeCounter(descriptor: .init(namespace: "coordinator", subsystem: "certification", metricName: "signatures", unitName: "total", helpText: "Signatures verified to certify runs of entries"))
        logLeaves = registry.makeCounter(descriptor: .init(namespace: "coordinator", subsystem: "certification", metricName: "log_leaves", unitName: "total", helpText: "Node checkpoints appended to the certification log"))
        quarantined = registry.makeGauge(descriptor: .init(namespace: "coordinator", metricName: "quarantined", unitName: "nodes", helpText: "Nodes quarantined after a fork or a bad signature"))
        uncertifiedNodes = registry.makeGauge(descriptor: .init(namespace: "coordinator", metricName: "uncertified", unitName: "nodes", helpText: "Nodes holding entries not yet certified"))
        certificationLag = registry.makeGauge(descriptor: .init(namespace: "coordinator", subsystem: "certification", metricName: "lag", unitName: "seconds", helpText: "Age of the oldest uncertified entry"))
        lastReadingAge = registry.makeGauge(descriptor: .init(namespace: "coordinator", subsystem: "ingest", metricName: "lag", unitName: "seconds", helpText: "Age of the newest entry of the last message when it was received"))
        queueDepth = registry.makeGauge(descriptor: .init(namespace: "coordinator", subsystem: "ingest", metricName: "queue", unitName: "messages", helpText: "Messages received and waiting for ingest"))
        var drops: [DropReason: Counter] = [:]
        for reason in DropReason.allCases {
            drops[reason] = registry.makeCounter(
                descriptor: .init(namespace: "coordinator", subsystem: "ingest", metricName: "dropped", unitName: "total",
                                  helpText: "Entries dropped, by reason"),
                labels: [("reason", reason.rawValue)])
        }
        self.drops = drops
    }

    package func dropped(_ reason: DropReason, count: Int) {
        drops[reason]?.increment(by: Int64(count))
    }
}
