import ConfigFile
import MQTT

/// `[mqtt]`: the platform's broker connection, and the shared subscription through which
/// several instances split the nodes' readings.
public struct ReadingsSubscription: Sendable {
    public let broker: BrokerConfig
    public let topicPrefix: String
    public let shareGroup: String
    public let clientID: String

    public init(broker: BrokerConfig, topicPrefix: String, shareGroup: String, clientID: String) {
        self.broker = broker
        self.topicPrefix = topicPrefix
        self.shareGroup = shareGroup
        self.clientID = clientID
    }

    /// `$share/{group}/{prefix}/+/readings`: several instances split the nodes' readings.
    public var readingsSubscription: String { "$share/\(shareGroup)/\(topicPrefix)/+/readings" }

    /// The section read, or nil with its problems recorded.
    public static func load(_ section: ConfigSection?, resolve: (String) -> String) -> ReadingsSubscription? {
        let prefix = section?.string("topic_prefix", required: false) ?? "lightnode/v1"
        section?.checkTopic("topic_prefix", prefix)
        let group = section?.identifier("share_group")
        let clientID = section?.string("client_id", required: false) ?? "coordinator-\(group ?? "")"
        let broker = section.flatMap { BrokerConfig.load($0, resolve: resolve) }
        section?.rejectUnknownKeys()
        guard let broker, let group else { return nil }
        return ReadingsSubscription(broker: broker, topicPrefix: prefix, shareGroup: group, clientID: clientID)
    }
}

/// `[ingest]`: how readings are taken in and how soon they are certified.
public struct IngestSettings: Sendable {
    /// A reading stays uncertified at most this long.
    public let certifyWithinSeconds: Int
    /// The Light Nodes' acquisition interval: the samples a quarter hour should hold.
    public let intervalMs: Int
    public let maxPayloadBytes: Int
    public let commitIntervalMs: Int

    public init(certifyWithinSeconds: Int, intervalMs: Int, maxPayloadBytes: Int, commitIntervalMs: Int) {
        self.certifyWithinSeconds = certifyWithinSeconds
        self.intervalMs = intervalMs
        self.maxPayloadBytes = maxPayloadBytes
        self.commitIntervalMs = commitIntervalMs
    }

    /// A run of entries is verified once its oldest has waited this long: late, so that a node
    /// costs about one Ed25519 verification per bound (at half the bound it cost two, 13% of
    /// the ingest's CPU at 25,000 readings/s), yet with a quarter of the bound (at least 2 s)
    /// left for the 1-s scheduler and a burst of due verifications (100,000 take about 5 s).
    public var certifyAfterMs: Int64 {
        let bound = Int64(certifyWithinSeconds) * 1000
        return bound - max(bound / 4, 2000)
    }

    /// The section read (every key has a default).
    public static func load(_ section: ConfigSection?) -> IngestSettings {
        let certifyWithin = section?.int("certify_within_s", in: 2...3600, default: 60) ?? 60
        let intervalMs = section?.int("interval_ms", in: 100...3_600_000, default: 4000) ?? 4000
        let maxPayload = section?.int("max_payload_bytes", in: 1024...(16 << 20), default: 256 << 10) ?? (256 << 10)
        let commitMs = section?.int("commit_interval_ms", in: 10...10_000, default: 250) ?? 250
        section?.rejectUnknownKeys()
        return IngestSettings(certifyWithinSeconds: certifyWithin, intervalMs: intervalMs, maxPayloadBytes: maxPayload,
                              commitIntervalMs: commitMs)
    }
}

/// `[certification]`: the certification log's key, name and checkpoint rhythm.
public struct CertificationSettings: Sendable {
    /// The log's Ed25519 key (made on first start when missing).
    public let signingKeyFile: String
    /// The checkpoint origin and signed-note key name.
    public let origin: String
    public let checkpointIntervalSeconds: Int

    /// The section read (every key has a default).
    public static func load(_ section: ConfigSection?, resolve: (String) -> String) -> CertificationSettings {
        let keyFile = resolve(section?.string("signing_key_file", required: false) ?? "certification.key")
        let origin = section?.string("origin", required: false) ?? "scd.coordinator.local/log"
        if origin.isEmpty || origin.contains(where: { $0 == " " || $0 == "+" || $0 == "\n" }) {
            section?.problem("origin", "must be non-empty without spaces or +")
        }
        let checkpointInterval = section?.int("checkpoint_interval_s", in: 1...86_400, default: 60) ?? 60
        section?.rejectUnknownKeys()
        return CertificationSettings(signingKeyFile: keyFile, origin: origin, checkpointIntervalSeconds: checkpointInterval)
    }
}
