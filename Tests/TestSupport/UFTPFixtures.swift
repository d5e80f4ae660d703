import Foundation
import Sodium

extension TemporaryDirectory {
    /// Writes `participants.toml` (docs/uftp.md): each participant's domain, role and key, its
    /// endpoint on loopback at `port`.
    public func writeParticipants(_ participants: [(domain: String, role: String, port: Int, key: PublicKey)]) throws {
        try participants.map { participant in
            """
            [[participant]]
            domain = "\(participant.domain)"
            role = "\(participant.role)"
            endpoint = "http://127.0.0.1:\(participant.port)/shapeshifter/api/v3/message"
            keys = ["\(participant.key.cs1)"]
            """
        }.joined(separator: "\n\n").write(toFile: file("participants.toml"), atomically: true, encoding: .utf8)
    }

    /// The base64 secret a key file here holds, as the reference implementation takes it.
    public func secret(_ name: String) throws -> String {
        try String(contentsOfFile: file(name), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
