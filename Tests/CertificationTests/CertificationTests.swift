import Certification
import Foundation
import Sodium
import Testing
import TestSupport

private func vector(_ name: String) throws -> [String: Any] {
    let url = Paths.shared!.appendingPathComponent("anchors/tlog-vectors/\(name)")
    return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}

@Suite struct MerkleTreeTests {
    /// Leaves of sizes 0…n from the transparency-dev vectors, or 0x00…n−1 single bytes without them.
    static func leaves(_ count: Int) -> [SHA256Digest] {
        (0..<count).map { MerkleTree.leafHash([UInt8(truncatingIfNeeded: $0), 0x42]) }
    }

    @Test(.enabled(if: Paths.sharedAvailable, "needs ../shared/anchors"))
    func rootsMatchTheRFC6962Vectors() throws {
        let data = try vector("rfc6962-roots.json")
        let inputs = (data["leaf_inputs_hex"] as! [String]).map { try! Hex.decode($0) }
        let roots = data["root_hash_by_tree_size_hex"] as! [String]
        let hashes = inputs.map { MerkleTree.leafHash($0) }
        for size in 0...inputs.count {
            #expect(MerkleTree.root(Array(hashes.prefix(size))).hex == roots[size], "tree size \(size)")
        }
    }

    @Test func everyInclusionProofVerifiesAndNoOtherDoes() {
        for size in 1...33 {
            let leaves = Self.leaves(size)
            let root = MerkleTree.root(leaves)
            for index in 0..<size {
                let proof = MerkleTree.inclusionProof(index: index, leaves[...])
                #expect(MerkleTree.verifyInclusion(leafHash: leaves[index], index: UInt64(index), size: UInt64(size),
                                                   proof: proof, root: root))
                // Wrong index, wrong leaf, wrong size, a truncated path: all refused.
                if size > 1 {
                    #expect(!MerkleTree.verifyInclusion(leafHash: leaves[index], index: UInt64((index + 1) % size),
                                                        size: UInt64(size), proof: proof, root: root))
                    #expect(!MerkleTree.verifyInclusion(leafHash: leaves[(index + 1) % size], index: UInt64(index),
                                                        size: UInt64(size), proof: proof, root: root))
                    #expect(!MerkleTree.verifyInclusion(leafHash: leaves[index], index: UInt64(index),
                                                        size: UInt64(size), proof: Array(proof.dropLast()), root: root))
                }
                #expect(!MerkleTree.verifyInclusion(leafHash: leaves[index], index: UInt64(size), size: UInt64(size),
                                                    proof: proof, root: root), "an index outside the tree")
            }
        }
    }

    @Test func everyConsistencyProofVerifiesAndTamperingFails() {
        let all = Self.leaves(40)
        for second in 1...40 {
            let secondRoot = MerkleTree.root(all.prefix(second))
            for first in 1...second {
                let firstRoot = MerkleTree.root(all.prefix(first))
                let proof = MerkleTree.consistencyProof(from: first, all.prefix(second))
                #expect(MerkleTree.verifyConsistency(firstSize: UInt64(first), secondSize: UInt64(second),
                                                     firstRoot: firstRoot, secondRoot: secondRoot, proof: proof),
                        "\(first) → \(second)")
                guard first < second else { continue }
                let otherRoot = MerkleTree.root(Self.leaves(first + 100).suffix(first))
                #expect(!MerkleTree.verifyConsistency(firstSize: UInt64(first), secondSize: UInt64(second),
                                                      firstRoot: otherRoot, secondRoot: secondRoot, proof: proof))
                if let last = proof.last {
                    let tampered = proof.dropLast() + [MerkleTree.nodeHash(last, last)]
                    #expect(!MerkleTree.verifyConsistency(firstSize: UInt64(first), secondSize: UInt64(second),
                                                          firstRoot: firstRoot, secondRoot: secondRoot, proof: Array(tampered)))
                }
            }
        }
    }
}

@Suite struct SignedNoteTests {
    @Test(.enabled(if: Paths.sharedAvailable, "needs ../shared/anchors"))
    func theGoSumdbVectorVerifiesAndReSignsIdentically() throws {
        let data = try vector("signed-note-peterneumann.json")
        let verifier = try SignedNote.Verifier(parsing: data["verifier_key"] as! String)
        #expect(verifier.name == "PeterNeumann" && verifier.text == data["verifier_key"] as! String)
        let note = data["signed_note"] as! String
        #expect(try SignedNote.open(note, verifiers: [verifier]) == data["text"] as! String)

        // The signer key is PRIVATE+KEY+<name>+<id>+base64(0x01 ‖ seed): Ed25519 signing is
        // deterministic, so re-signing gives the very same note.
        // (the base64 may itself hold '+': everything after the fourth separator)
        let signerField = (data["signer_key"] as! String).split(separator: "+", maxSplits: 4)[4]
        let seed = Array(try Base64.decode(signerField).dropFirst())
        let signer = try SigningKey(seed: seed)
        #expect(try SignedNote.note(data["text"] as! String, name: "PeterNeumann", signer: signer) == note)
    }

    @Test func forgedAndForeignNotesAreRefused() throws {
        let key = SigningKey.generate()
        let verifier = try SignedNote.Verifier(name: "scd.dso.example/log", key: key.publicKey)
        let note = try SignedNote.note("hello\n", name: verifier.name, signer: key)
        #expect(try SignedNote.open(note, verifiers: [verifier]) == "hello\n")
        #expect(throws: CertificationError.self) { try SignedNote.open(note.replacingOccurrences(of: "hello", with: "hellO"), verifiers: [verifier]) }
        let stranger = try SignedNote.Verifier(name: "scd.dso.example/log", key: SigningKey.generate().publicKey)
        #expect(throws: CertificationError.badSignature("no signature by a known key")) { try SignedNote.open(note, verifiers: [stranger]) }
        #expect(throws: CertificationError.self) { try SignedNote.note("no newline", name: "x", signer: key) }
        #expect(throws: CertificationError.self) { try SignedNote.Verifier(name: "a b", key: key.publicKey) }
    }

    @Test func checkpointsRoundTripSigned() throws {
        let key = SigningKey.generate()
        let verifier = try SignedNote.Verifier(name: "scd.dso.example/log", key: key.publicKey)
        let checkpoint = Checkpoint(origin: "scd.dso.example/log", size: 42, root: MerkleTree.leafHash([1, 2, 3]),
                                    extensions: ["t 2026-11-24T10:00:00.000Z"])
        let note = try checkpoint.signed(name: verifier.name, signer: key)
        #expect(try Checkpoint.open(note, verifiers: [verifier]) == checkpoint)
        #expect(throws: CertificationError.self) { try Checkpoint(parsing: "origin\n042\n\(checkpoint.root.base64)\n") }
        #expect(throws: CertificationError.self) { try Checkpoint(parsing: "origin\n42\nnot-base64\n") }
    }
}

@Suite struct LogTilesTests {
    /// A stored tree: appends leaves in batches through `Appender`, keeping its tile writes.
    struct Store {
        var tiles: [LogTiles.TileID: [SHA256Digest]] = [:]
        var size: UInt64 = 0

        mutating func append(_ leaves: ArraySlice<SHA256Digest>) throws {
            let start = Dictionary(uniqueKeysWithValues: LogTiles.Appender.partialTiles(size: size).map { ($0, tiles[$0] ?? []) })
            var appender = try LogTiles.Appender(size: size, tiles: start)
            for leaf in leaves { appender.append(leaf) }
            tiles.merge(appender.writes) { $1 }
            size = appender.size
        }

        func read(_ id: LogTiles.TileID) -> [SHA256Digest] { tiles[id] ?? [] }
    }

    @Test func tiledRootsAndProofsEqualTheDirectOnes() throws {
        let leaves = MerkleTreeTests.leaves(70_000)
        var store = Store()
        // Uneven batches, crossing tile and stratum boundaries.
        var next = 0
        for batch in [1, 2, 253, 1, 256, 511, 3000, 65_536, 440] {
            try store.append(leaves[next..<(next + batch)])
            next += batch
        }
        #expect(store.size == 70_000)
        #expect(store.tiles[LogTiles.TileID(stratum: 2, index: 0)]?.count == 1, "one complete 65,536-leaf subtree")
        for size in [1, 2, 3, 255, 256, 257, 511, 512, 4_024, 65_536, 65_537, 70_000] {
            let tiled = LogTiles.rangeRoot(0..<UInt64(size), tile: store.read)
            #expect(tiled == MerkleTree.root(leaves.prefix(size)), "root of \(size)")
        }
        let small = Array(leaves.prefix(1_000))
        for (index, size) in [(0, 1), (5, 300), (299, 300), (256, 257), (999, 1_000), (512, 777)] {
            let tiled = MerkleTree.inclusionProof(index: UInt64(index), size: UInt64(size)) {
                LogTiles.rangeRoot($0, tile: store.read)
            }
            #expect(tiled == MerkleTree.inclusionProof(index: index, small.prefix(size)), "inclusion \(index) in \(size)")
        }
        for (first, second) in [(1, 2), (255, 256), (256, 1_000), (300, 777), (999, 1_000)] {
            let tiled = MerkleTree.consistencyProof(from: UInt64(first), to: UInt64(second)) {
                LogTiles.rangeRoot($0, tile: store.read)
            }
            #expect(tiled == MerkleTree.consistencyProof(from: first, small.prefix(second)), "consistency \(first)→\(second)")
        }
        // A proof in a 70,000-leaf tree reads a handful of tiles, not the leaves.
        let read = LogTiles.tilesRead { tile in
            _ = MerkleTree.inclusionProof(index: 12_345, size: 70_000) { LogTiles.rangeRoot($0, tile: tile) }
        }
        #expect(read.count <= 8, "\(read)")
    }

    @Test func anAppenderRefusesTilesThatDoNotFitTheSize() {
        #expect(throws: CertificationError.self) {
            _ = try LogTiles.Appender(size: 3, tiles: [LogTiles.TileID(stratum: 0, index: 0): MerkleTreeTests.leaves(2)])
        }
    }
}

@Suite struct VerifierKeyTests {
    @Test func aVerifierKeyWhoseBase64HoldsAPlusParsesBack() throws {
        var key = SigningKey.generate()
        while !Base64.encode([0x01] + key.publicKey.bytes).contains("+") { key = SigningKey.generate() }
        let verifier = try SignedNote.Verifier(name: "scd.example/log", key: key.publicKey)
        #expect(try SignedNote.Verifier(parsing: verifier.text) == verifier)
    }
}
