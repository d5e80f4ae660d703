import GridCore
import Sodium

/// The export format (contract v1): JSON Lines, one header line
/// `{"node":…,"pod":…,"key":"<base64 public key>"}`, then one object per entry with exactly
/// the keys `seq`, `body` (the JSON text as a string), `prev`, `hash` (lower-case hex), `sig` (base64).
public enum LedgerExport {
    public static func headerLine(_ identity: NodeIdentity) -> [UInt8] {
        var writer = JSONObjectWriter(capacity: 128)
        writer.string("node", identity.node)
        writer.string("pod", identity.pod)
        writer.string("key", identity.publicKey.base64)
        return writer.finish() + [0x0A]
    }

    /// Appends one entry's line (with its newline) to `output`.
    public static func appendLine(_ entry: LedgerEntry, to output: inout [UInt8]) {
        appendObject(entry, to: &output)
        output.append(0x0A)
    }

    /// Appends one entry as a JSON object with exactly the keys seq, body, prev, hash, sig
    /// (the export line and the MQTT readings payload's `entries` items).
    public static func appendObject(_ entry: LedgerEntry, to output: inout [UInt8]) {
        output.append(contentsOf: #"{"seq":"#.utf8)
        output.append(contentsOf: String(entry.seq).utf8)
        output.append(contentsOf: #","body":"#.utf8)
        entry.body.withUnsafeBufferPointer { JSONText.appendQuoted(utf8: $0, to: &output) }
        output.append(contentsOf: #","prev":""#.utf8)
        Hex.append(entry.prev.bytes, to: &output)
        output.append(contentsOf: #"","hash":""#.utf8)
        Hex.append(entry.hash.bytes, to: &output)
        output.append(contentsOf: #"","sig":""#.utf8)
        Base64.append(entry.signature.bytes, to: &output)
        output.append(contentsOf: "\"}".utf8)
    }
}
