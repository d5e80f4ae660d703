import Certification
import Foundation
import GridCore
import Ledger
import Logging
import SCD
import Sodium

/// The platform's certification log ("blockchain access layer"): an RFC 6962 Merkle tree over
/// node checkpoints (the tips of sealed blocks, appended by the SCD as it seals), signed tree
/// heads as c2sp.org/tlog-checkpoint notes, and inclusion and consistency proofs (docs/certification-log.md).
public struct CertificationLog: Sendable {
    package let store: any CertificationLogStore & RawEntryStore
    package let signer: SigningKey
    public let origin: String
    public let verifier: SignedNote.Verifier

    public init(store: any SCDStore, signer: SigningKey, origin: String) throws(CertificationError) {
        self.store = store
        self.signer = signer
        self.origin = origin
        verifier = try SignedNote.Verifier(name: origin, key: signer.publicKey)
    }

    /// Signs and stores a checkpoint when the tree grew since the newest one.
    @discardableResult
    public func checkpointIfGrown(now: Timestamp) async throws -> StoredCheckpoint? {
        let size = try await store.logSize()
        let latest = try await store.checkpoint(size: nil)
        guard size > latest?.size ?? 0 else { return nil }
        let root = try await rangeRoot(0..<size)
        let note = try Checkpoint(origin: origin, size: size, root: root).signed(name: origin, signer: signer)
        let checkpoint = StoredCheckpoint(size: size, note: note, time: now)
        try await store.addCheckpoint(checkpoint)
        return checkpoint
    }

    /// Runs a Merkle computation over the stored tiles: learns which it reads, fetches them, runs it.
    private func withTiles<Result>(_ computation: (@escaping LogTiles.TileReader) -> Result) async throws -> Result {
        let needed = LogTiles.tilesRead { tile in _ = computation(tile) }
        let tiles = try await store.logTiles(needed)
        return computation { tiles[$0] ?? [] }
    }

    package func rangeRoot(_ range: Range<UInt64>) async throws -> SHA256Digest {
        try await withTiles { tile in LogTiles.rangeRoot(range, tile: tile) }
    }

    public func inclusionProof(index: UInt64, size: UInt64) async throws -> [SHA256Digest] {
        try await withTiles { tile in
            MerkleTree.inclusionProof(index: index, size: size) { LogTiles.rangeRoot($0, tile: tile) }
        }
    }

    public func consistencyProof(from first: UInt64, to second: UInt64) async throws -> [SHA256Digest] {
        try await withTiles { tile in
            MerkleTree.consistencyProof(from: first, to: second) { LogTiles.rangeRoot($0, tile: tile) }
        }
    }

    /// Why a reading cannot be proven yet.
    public enum ProofUnavailable: Error, Sendable {
        case notSealed
        case notCheckpointed
    }

    /// What proves one reading to a stranger: its chain up to a checkpointed tip, the tip's
    /// signature, the Merkle path to a signed tree head, and that head.
    public struct ReadingProof: Sendable {
        public let entries: [LedgerEntry]
        public let key: PublicKey?
        public let leafIndex: UInt64
        public let inclusion: [SHA256Digest]
        public let checkpoint: StoredCheckpoint
    }

    public func proof(node: NodeRecord, seq: UInt64) async throws -> ReadingProof {
        guard let sealed = try await store.sealedBlock(node: node.id, seq: seq) else { throw ProofUnavailable.notSealed }
        guard let checkpoint = try await store.checkpoint(size: nil), checkpoint.size > sealed.logIndex else {
            throw ProofUnavailable.notCheckpointed
        }
        let entries = try sealed.block.entries().filter { $0.seq >= seq }
        let tip = entries[entries.count - 1]
        let key = node.keys.first { $0.verify(tip.signature, of: tip.hash.bytes) }
        let inclusion = try await inclusionProof(index: sealed.logIndex, size: checkpoint.size)
        return ReadingProof(entries: entries, key: key, leafIndex: sealed.logIndex, inclusion: inclusion, checkpoint: checkpoint)
    }
}
