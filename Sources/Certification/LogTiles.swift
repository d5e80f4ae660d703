import Sodium

/// The certification log's Merkle tree kept as tiles, so a tree of billions of leaves is stored
/// at 32 bytes a leaf and any root or proof needs a handful of rows (the layout of Go's
/// `golang.org/x/mod/sumdb/tlog`, with tiles of height 8).
///
/// Stratum 0 holds the leaf hashes; entry `j` of stratum `s` is the root of the complete subtree
/// of leaves `[j·256^s, (j+1)·256^s)`. Each stratum is cut into tiles of 256 entries; only the
/// last tile of a stratum is ever partial, and a full tile never changes.
public enum LogTiles {
    public static let width: UInt64 = 256
    static let height = 8

    public struct TileID: Hashable, Sendable, CustomStringConvertible {
        public let stratum: Int
        public let index: UInt64
        public init(stratum: Int, index: UInt64) {
            self.stratum = stratum
            self.index = index
        }
        public var description: String { "tile \(stratum)/\(index)" }
    }

    /// The hashes of one tile as stored (each 32 bytes, in order).
    public typealias TileReader = (TileID) -> [SHA256Digest]

    /// MTH of leaves `range` of a tree that covers it completely, from its tiles.
    public static func rangeRoot(_ range: Range<UInt64>, tile: TileReader) -> SHA256Digest {
        guard !range.isEmpty else { return SHA256.hash([UInt8]()) }
        let count = UInt64(range.count)
        if count & (count - 1) == 0 && range.lowerBound % count == 0 {
            return subtree(height: count.trailingZeroBitCount, index: range.lowerBound / count, tile: tile)
        }
        let middle = range.lowerBound + UInt64(MerkleTree.splitPoint(range.count))
        return MerkleTree.nodeHash(rangeRoot(range.lowerBound..<middle, tile: tile), rangeRoot(middle..<range.upperBound, tile: tile))
    }

    /// The root of the complete subtree of `2^height` leaves number `index`: 2^(height mod 8)
    /// entries of one tile folded up.
    static func subtree(height: Int, index: UInt64, tile: TileReader) -> SHA256Digest {
        let stratum = height / Self.height
        let rise = height % Self.height
        let first = index << UInt64(rise)
        let hashes = tile(TileID(stratum: stratum, index: first / width))
        let offset = Int(first % width)
        guard offset + (1 << rise) <= hashes.count else { return SHA256Digest.zero }  // the caller's tiles are short
        return fold(hashes[offset..<(offset + (1 << rise))])
    }

    /// The root of a complete subtree from its 2^k hashes one level below.
    static func fold(_ hashes: ArraySlice<SHA256Digest>) -> SHA256Digest {
        var level = Array(hashes)
        while level.count > 1 {
            level = stride(from: 0, to: level.count, by: 2).map { MerkleTree.nodeHash(level[$0], level[$0 + 1]) }
        }
        return level[0]
    }

    /// The tiles a computation reads: it is run once with empty tiles to learn them (which tiles
    /// a root or proof reads depends on sizes and indices only, never on hash values).
    public static func tilesRead(by computation: (@escaping TileReader) -> Void) -> Set<TileID> {
        var read: Set<TileID> = []
        computation { id in
            read.insert(id)
            return []
        }
        return read
    }

    /// Appends leaf hashes to a stored tree: holds the last, partial tile of every stratum and
    /// collects the tiles to write.
    public struct Appender: Sendable {
        public private(set) var size: UInt64
        /// The last tile of each stratum, entries so far.
        private var partial: [Int: [SHA256Digest]] = [:]
        /// Every tile changed since the appender was made, with its contents now.
        public private(set) var writes: [TileID: [SHA256Digest]] = [:]

        /// The tiles an appender for a tree of `size` leaves starts from.
        public static func partialTiles(size: UInt64) -> [TileID] {
            var tiles: [TileID] = []
            var entries = size
            var stratum = 0
            while entries > 0 {
                if entries % width != 0 { tiles.append(TileID(stratum: stratum, index: entries / width)) }
                entries /= width
                stratum += 1
            }
            return tiles
        }

        /// `tiles`: the contents of `partialTiles(size:)`.
        public init(size: UInt64, tiles: [TileID: [SHA256Digest]]) throws(CertificationError) {
            self.size = size
            var entries = size
            var stratum = 0
            while entries > 0 {
                let id = TileID(stratum: stratum, index: entries / width)
                let expected = Int(entries % width)
                let held = expected == 0 ? [] : (tiles[id] ?? [])
                guard held.count == expected else {
                    throw .malformed("\(id) holds \(held.count) hashes; a tree of \(size) leaves needs \(expected)")
                }
                partial[stratum] = held
                entries /= width
                stratum += 1
            }
        }

        public mutating func append(_ leafHash: SHA256Digest) {
            var hash = leafHash
            var stratum = 0
            var entries = size
            while true {
                partial[stratum, default: []].append(hash)
                writes[TileID(stratum: stratum, index: entries / width)] = partial[stratum]!
                guard partial[stratum]!.count == Int(width) else { break }
                // A full tile: its root is the next entry of the stratum above.
                hash = LogTiles.fold(partial[stratum]![...])
                partial[stratum] = []
                entries /= width
                stratum += 1
            }
            size += 1
        }
    }
}

/// A leaf of the certification log: one node checkpoint, the tip of a sealed block of its chain,
/// as the UTF-8 line `<node> <seq> <hash hex>\n`. The tip's signature (kept with the block) and
/// the hash chain below it certify every earlier reading of the block.
public enum LogLeaf {
    public static func data(node: String, seq: UInt64, hash: SHA256Digest) -> [UInt8] {
        Array("\(node) \(seq) \(Hex.encode(hash.bytes))\n".utf8)
    }
}
