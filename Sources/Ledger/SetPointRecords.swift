import GridCore
import SQLite

/// Where a set-point stands on this node.
public enum SetPointState: String, Sendable {
    /// Recorded; its window has not begun (or it has not been applied yet).
    case scheduled
    /// Applied to the BMS/HMS targets.
    case active
    /// Ended (window over, or superseded) and reported.
    case done
}

public enum SetPointMode: String, Sendable, CaseIterable {
    /// Hold the site's active power at `w`.
    case target
    /// Keep the site's active power at or below `w`.
    case max
    /// Keep the site's active power at or above `w`.
    case min
    /// No constraint over the window (MQTT contract v1.1): the targets hold their idle value; a
    /// cancellation of what an older set-point asked there. It carries no `w`.
    case release
}

/// An accepted set-point as the node keeps it: its window, its instruction, and its state.
public struct SetPointRecord: Sendable, Equatable {
    public let id: String
    /// The ledger entry (kind `setpoint`) that recorded it.
    public var seq: UInt64
    public let issued: Timestamp
    public let from: Timestamp
    public let until: Timestamp
    /// When it stops being in force: `until`, or a newer set-point's `from` once superseded.
    public var end: Timestamp
    public let mode: SetPointMode
    public let w: Int64
    public var state: SetPointState

    public init(id: String, seq: UInt64 = 0, issued: Timestamp, from: Timestamp, until: Timestamp, end: Timestamp? = nil,
                mode: SetPointMode, w: Int64, state: SetPointState = .scheduled) {
        self.id = id
        self.seq = seq
        self.issued = issued
        self.from = from
        self.until = until
        self.end = end ?? until
        self.mode = mode
        self.w = w
        self.state = state
    }

    /// In force at `time`: within [from, end) and not yet done.
    public func isInForce(at time: Timestamp) -> Bool {
        state != .done && from <= time && time < end
    }
}

/// A change to the set-point records, made in the same transaction as the entries telling of it.
public enum SetPointChange: Sendable {
    /// A newly accepted set-point, recorded by the first entry of the batch (its `seq`).
    case insert(SetPointRecord)
    case state(id: String, SetPointState)
    /// Cuts a set-point short (superseded by a newer one).
    case end(id: String, Timestamp)
}

extension Ledger {
    /// Appends `bodies` and applies `changes` in one transaction. Inserting an id that is
    /// already recorded fails as a whole (`LedgerError.storage`, a constraint violation).
    @discardableResult
    public func append(contentsOf bodies: [EntryBody], changing changes: [SetPointChange]) throws(LedgerError) -> [LedgerEntry] {
        try append(contentsOf: bodies) { connection, appended in
            for change in changes {
                switch change {
                case .insert(let record):
                    let insert = try connection.prepare("""
                        INSERT INTO setpoints (id, seq, issued_ms, from_ms, until_ms, end_ms, mode, w, state)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """)
                    insert.bind(1, record.id).bind(2, Int64(appended.first?.seq ?? record.seq))
                        .bind(3, record.issued.millisecondsSince1970).bind(4, record.from.millisecondsSince1970)
                        .bind(5, record.until.millisecondsSince1970).bind(6, record.end.millisecondsSince1970)
                        .bind(7, record.mode.rawValue).bind(8, record.w).bind(9, record.state.rawValue)
                    try insert.run()
                case .state(let id, let state):
                    let update = try connection.prepare("UPDATE setpoints SET state = ? WHERE id = ?")
                    update.bind(1, state.rawValue).bind(2, id)
                    try update.run()
                case .end(let id, let end):
                    let update = try connection.prepare("UPDATE setpoints SET end_ms = ? WHERE id = ?")
                    update.bind(1, end.millisecondsSince1970).bind(2, id)
                    try update.run()
                }
            }
        }
    }

    /// The record of `id`, if that id was ever accepted (whatever its state).
    public func setPoint(id: String) throws(LedgerError) -> SetPointRecord? {
        try setPoints(where: "id = ?", id).first
    }

    /// Set-points not yet done, by `from`.
    public func openSetPoints() throws(LedgerError) -> [SetPointRecord] {
        try setPoints(where: "state <> 'done'", nil)
    }

    private func setPoints(where condition: String, _ argument: String?) throws(LedgerError) -> [SetPointRecord] {
        try withStore { store in
            let query = try store.connection.prepare("""
                SELECT id, seq, issued_ms, from_ms, until_ms, end_ms, mode, w, state FROM setpoints
                WHERE \(condition) ORDER BY from_ms, issued_ms
                """)
            if let argument { query.bind(1, argument) }
            var records: [SetPointRecord] = []
            while try query.step() {
                guard let mode = SetPointMode(rawValue: query.text(6)), let state = SetPointState(rawValue: query.text(8)) else {
                    throw LedgerError.notALedger(path: path, reason: "set-point record \(query.text(0)) has an unknown mode or state")
                }
                records.append(SetPointRecord(
                    id: query.text(0), seq: UInt64(query.int64(1)),
                    issued: Timestamp(millisecondsSince1970: query.int64(2)), from: Timestamp(millisecondsSince1970: query.int64(3)),
                    until: Timestamp(millisecondsSince1970: query.int64(4)), end: Timestamp(millisecondsSince1970: query.int64(5)),
                    mode: mode, w: query.int64(7), state: state))
            }
            return records
        }
    }
}
