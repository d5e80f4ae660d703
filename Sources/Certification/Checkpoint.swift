import Sodium

/// A transparency-log checkpoint (c2sp.org/tlog-checkpoint): the body of a signed note
/// `<origin>\n<tree size>\n<base64 root hash>\n` followed by optional extension lines.
public struct Checkpoint: Sendable, Equatable {
    public let origin: String
    public let size: UInt64
    public let root: SHA256Digest
    public let extensions: [String]

    public init(origin: String, size: UInt64, root: SHA256Digest, extensions: [String] = []) {
        self.origin = origin
        self.size = size
        self.root = root
        self.extensions = extensions
    }

    public var text: String {
        ([origin, String(size), root.base64] + extensions).map { $0 + "\n" }.joined()
    }

    public init(parsing text: String) throws(CertificationError) {
        guard text.hasSuffix("\n") else { throw .malformed("a checkpoint ends with a newline") }
        let lines = text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.count >= 3, !lines[0].isEmpty else { throw .malformed("a checkpoint has an origin, a size and a root hash") }
        guard let size = UInt64(lines[1]), String(size) == lines[1] else {
            throw .malformed("checkpoint size \"\(lines[1].prefix(40))\" is not a decimal number")
        }
        guard let root = try? SHA256Digest(base64: lines[2]) else {
            throw .malformed("checkpoint root \"\(lines[2].prefix(60))\" is not a base64 SHA-256 hash")
        }
        guard lines.dropFirst(3).allSatisfy({ !$0.isEmpty }) else { throw .malformed("checkpoint extension lines may not be empty") }
        self.init(origin: lines[0], size: size, root: root, extensions: Array(lines.dropFirst(3)))
    }

    /// The checkpoint as a note signed by the log's key.
    public func signed(name: String, signer: SigningKey) throws(CertificationError) -> String {
        try SignedNote.note(text, name: name, signer: signer)
    }

    /// Opens a signed checkpoint: its signature by one of `verifiers` must check out.
    public static func open(_ note: String, verifiers: [SignedNote.Verifier]) throws(CertificationError) -> Checkpoint {
        try Checkpoint(parsing: try SignedNote.open(note, verifiers: verifiers))
    }
}
