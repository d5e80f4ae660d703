import Foundation
import Logging
import MarketOperations
import SCD
import SCDPostgres
import SCDSQLite
import UFTPGateway

/// Opens the SCD named by the configuration: to serve (one process a SQLite file), or for the
/// administration subcommands, which may run beside the serving process.
public func openStore(_ config: CoordinatorConfig, logger: Logger, administration: Bool = false) async throws -> any SCDStore {
    switch config.store {
    case .sqlite(let path):
        return try SQLiteStore(path: path, purpose: administration ? .administration : .service)
    case .postgres(let url):
        // The MQTT client id names this instance's chain state when several share the database.
        return try await PostgresStore(url: url, instance: config.mqtt.clientID, logger: logger)
    }
}

extension UFTPAction {
    /// Queues the draft (JSON) through the configured SCD and returns the receipt (JSON):
    /// `coordinator uftp send`, beside a serving instance.
    public func queue(draft: [UInt8], config: CoordinatorConfig, logger: Logger) async throws -> String {
        guard let participant = config.uftp, participant.roles.contains(role) else {
            throw UFTPActions.Refusal.notPlayed(role)
        }
        let store = try await openStore(config, logger: logger, administration: true)
        let actions = UFTPActions(responder: try UFTPExchange.responder(config: participant, store: store, logger: logger))
        let receipt = try await actions.perform(self, draft: draft)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(receipt), as: UTF8.self)
    }
}

extension MarketService {
    /// The market service as `[market]`, `[mqtt]` and `[ingest]` configure it: its own broker
    /// session beside the ingest's.
    public init(config: CoordinatorConfig, store: any SCDStore, uftp: UFTPActions? = nil, logger: Logger) throws {
        try self.init(config: config.market, broker: config.mqtt.broker, clientID: config.mqtt.clientID + "-market",
                      topicPrefix: config.mqtt.topicPrefix, readingIntervalMs: config.ingest.intervalMs, store: store, uftp: uftp, logger: logger)
    }
}
