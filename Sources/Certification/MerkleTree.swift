import Sodium

/// RFC 6962 / RFC 9162 Merkle tree hashing and proofs over SHA-256: pure functions, no storage.
/// Leaves are hashed `SHA-256(0x00 ‖ data)`, interior nodes `SHA-256(0x01 ‖ left ‖ right)`, and a
/// tree of n leaves splits at the largest power of two below n.
public enum MerkleTree {
    public static func leafHash(_ data: some Collection<UInt8>) -> SHA256Digest {
        SHA256.hash([0x00] + Array(data))
    }

    public static func nodeHash(_ left: SHA256Digest, _ right: SHA256Digest) -> SHA256Digest {
        var input = [UInt8]()
        input.reserveCapacity(65)
        input.append(0x01)
        input += left.bytes
        input += right.bytes
        return SHA256.hash(input)
    }

    /// MTH(D[n]): the root over leaf hashes; SHA-256 of nothing for the empty tree.
    public static func root(_ leaves: ArraySlice<SHA256Digest>) -> SHA256Digest {
        switch leaves.count {
        case 0: return SHA256.hash([UInt8]())
        case 1: return leaves[leaves.startIndex]
        default:
            let k = splitPoint(leaves.count)
            return nodeHash(root(leaves.prefix(k)), root(leaves.dropFirst(k)))
        }
    }

    public static func root(_ leaves: [SHA256Digest]) -> SHA256Digest { root(leaves[...]) }

    /// The audit path of leaf `index` in the tree of `leaves` (RFC 6962 §2.1.1), leaf to root.
    public static func inclusionProof(index: Int, _ leaves: ArraySlice<SHA256Digest>) -> [SHA256Digest] {
        precondition(index >= 0 && index < leaves.count, "leaf \(index) is not in a tree of \(leaves.count)")
        return inclusionProof(index: UInt64(index), size: UInt64(leaves.count), rangeRoot: arrayRangeRoot(leaves))
    }

    /// The proof that the tree of the first `size` leaves is a prefix of the tree of `leaves`
    /// (RFC 6962 §2.1.2).
    public static func consistencyProof(from size: Int, _ leaves: ArraySlice<SHA256Digest>) -> [SHA256Digest] {
        precondition(size >= 0 && size <= leaves.count, "tree size \(size) is not within \(leaves.count)")
        return consistencyProof(from: UInt64(size), to: UInt64(leaves.count), rangeRoot: arrayRangeRoot(leaves))
    }

    /// MTH over the leaves `range` of a tree too large to hold: the storage answers.
    public typealias RangeRoot = (Range<UInt64>) -> SHA256Digest

    /// The audit path of leaf `index` in a tree of `size` leaves whose subtree roots `rangeRoot` gives.
    public static func inclusionProof(index: UInt64, size: UInt64, rangeRoot: RangeRoot) -> [SHA256Digest] {
        precondition(index < size, "leaf \(index) is not in a tree of \(size)")
        var proof: [SHA256Digest] = []
        var range = 0..<size
        // Root to leaf, then reversed: each step keeps the half holding the leaf.
        while range.count > 1 {
            let k = UInt64(splitPoint(range.count))
            let middle = range.lowerBound + k
            if index < middle {
                proof.append(rangeRoot(middle..<range.upperBound))
                range = range.lowerBound..<middle
            } else {
                proof.append(rangeRoot(range.lowerBound..<middle))
                range = middle..<range.upperBound
            }
        }
        return proof.reversed()
    }

    /// The RFC 6962 §2.1.2 consistency proof between sizes `first` and `second`.
    public static func consistencyProof(from first: UInt64, to second: UInt64, rangeRoot: RangeRoot) -> [SHA256Digest] {
        precondition(first <= second, "tree size \(first) is not within \(second)")
        guard first > 0 && first < second else { return [] }
        var proof: [SHA256Digest] = []
        var range = 0..<second
        var m = first
        var complete = true
        while m != UInt64(range.count) {
            let k = UInt64(splitPoint(range.count))
            let middle = range.lowerBound + k
            if m <= k {
                proof.append(rangeRoot(middle..<range.upperBound))
                range = range.lowerBound..<middle
            } else {
                proof.append(rangeRoot(range.lowerBound..<middle))
                range = middle..<range.upperBound
                m -= k
                complete = false
            }
        }
        if !complete { proof.append(rangeRoot(range)) }
        return proof.reversed()
    }

    private static func arrayRangeRoot(_ leaves: ArraySlice<SHA256Digest>) -> RangeRoot {
        { range in root(leaves[(leaves.startIndex + Int(range.lowerBound))..<(leaves.startIndex + Int(range.upperBound))]) }
    }

    /// Whether `proof` shows the leaf with hash `leafHash` at `index` in the tree of `size`
    /// leaves with root `root` (RFC 9162 §2.1.3.2).
    public static func verifyInclusion(leafHash: SHA256Digest, index: UInt64, size: UInt64,
                                       proof: [SHA256Digest], root: SHA256Digest) -> Bool {
        guard index < size else { return false }
        var fn = index, sn = size - 1
        var r = leafHash
        for p in proof {
            guard sn > 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 { climbToRightChild(&fn, &sn) }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Whether `proof` shows the tree of `firstSize` leaves (root `firstRoot`) to be a prefix of
    /// the tree of `secondSize` leaves (root `secondRoot`) (RFC 9162 §2.1.4.2).
    public static func verifyConsistency(firstSize: UInt64, secondSize: UInt64, firstRoot: SHA256Digest,
                                         secondRoot: SHA256Digest, proof: [SHA256Digest]) -> Bool {
        guard firstSize <= secondSize else { return false }
        if firstSize == secondSize { return proof.isEmpty && firstRoot == secondRoot }
        if firstSize == 0 { return proof.isEmpty }
        var path = proof
        if firstSize & (firstSize - 1) == 0 { path.insert(firstRoot, at: 0) }  // an exact power of two
        guard let first = path.first else { return false }
        var fn = firstSize - 1, sn = secondSize - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = first, sr = first
        for c in path.dropFirst() {
            guard sn > 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 { climbToRightChild(&fn, &sn) }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == firstRoot && sr == secondRoot && sn == 0
    }

    /// After hashing in a left sibling at a right edge (fn even): climb while fn is a left child.
    private static func climbToRightChild(_ fn: inout UInt64, _ sn: inout UInt64) {
        repeat { fn >>= 1; sn >>= 1 } while fn & 1 == 0 && fn != 0
    }

    /// The largest power of two strictly below `n` (n ≥ 2).
    public static func splitPoint(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }
}
