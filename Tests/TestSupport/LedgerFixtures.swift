import GridCore
import Ledger
import Sodium
import SQLite

/// Ledgers for tests: filled with readings, and tampered with behind the ledger's back.
public enum LedgerFixtures {
    public static let node = "ln-test"
    public static let pod = "IT001E00000042"

    /// The reading appended as entry number `index` (1-based): a fixed clock, 4 s apart.
    public static func reading(_ index: Int, meter: String = "main") -> EntryBody {
        EntryBody.reading(time: Timestamp(millisecondsSince1970: 1_795_514_400_000 + Int64(index) * 4000),
                          meter: meter,
                          values: [("active_power", Double(1000 + index % 500) + 0.5), ("voltage_l1", 230.1)])
    }

    /// A ledger in `folder` holding `count` readings, appended in batches.
    public static func filledLedger(in folder: String, count: Int, key: SigningKey = .generate()) throws -> Ledger {
        let ledger = try Ledger(dataDirectory: folder, node: node, pod: pod, signer: key)
        var index = 1
        while index <= count {
            let end = min(index + 999, count)
            try ledger.append(contentsOf: (index...end).map { reading($0) })
            index = end + 1
        }
        return ledger
    }

    /// Opens the SQLite file directly with the append-only triggers dropped, as an attacker with
    /// file access would, and runs `change` on it.
    public static func tamper(_ path: String, _ change: (Connection) throws -> Void) throws {
        let connection = try Connection(path: path, mode: .readWrite)
        let triggers = try connection.prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
        var names: [String] = []
        while try triggers.step() { names.append(triggers.text(0)) }
        triggers.reset()
        for name in names { try connection.execute("DROP TRIGGER \(name)") }
        try change(connection)
    }
}
