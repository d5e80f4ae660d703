/// Where each staged entry of the SQLite backend lives: `(node, seq)` → rowid of
/// `staged_entries`, kept in memory.
///
/// Why: staged rows are written in arrival order (a commit appends to the end of one table)
/// instead of clustered by node, where each commit rewrote a page per node that published
/// (25,000 a second at 100,000 nodes). An index on `(node, seq)` in the file would have the same
/// scattered writes, so the index lives here and is rebuilt from the table at start. Sealed rows
/// are not deleted one by one (that too would touch a page per block): the table is cut a range
/// at a time below the oldest row still staged, and the few entries that stay staged for long
/// (a node that went quiet with a part block) are copied forward so they do not hold the cut back.
package struct StagingIndex: Sendable {
    package struct Entry: Sendable {
        package var seq: UInt64
        package var row: Int64
    }

    /// Each node's staged entries, ascending by seq.
    package private(set) var nodes: [String: [Entry]] = [:]
    package private(set) var count = 0

    package func row(node: String, seq: UInt64) -> Int64? {
        guard let entries = nodes[node], let index = Self.position(of: seq, in: entries) else { return nil }
        return entries[index].row
    }

    /// The node's entries with seq in `range`, ascending by seq.
    package func entries(node: String, seqs range: ClosedRange<UInt64> = 0...UInt64.max) -> ArraySlice<Entry> {
        guard let entries = nodes[node] else { return [] }
        return entries[Self.positions(of: range, in: entries)]
    }

    /// Records a row; a second row for a held `(node, seq)` is ignored (the first one stays).
    package mutating func insert(node: String, seq: UInt64, row: Int64) {
        var entries = nodes.removeValue(forKey: node) ?? []
        // Arrivals come in seq order: the usual place is the end.
        let index = entries.last.map { $0.seq < seq } ?? true ? entries.endIndex : entries.partitionPoint { $0.seq < seq }
        if index == entries.endIndex || entries[index].seq != seq {
            entries.insert(Entry(seq: seq, row: row), at: index)
            count += 1
        }
        nodes[node] = entries
    }

    /// Forgets the node's entries with seq in `range` (a sealed block's at once).
    package mutating func remove(node: String, seqs range: ClosedRange<UInt64>) {
        guard var entries = nodes.removeValue(forKey: node) else { return }
        let positions = Self.positions(of: range, in: entries)
        entries.removeSubrange(positions)
        count -= positions.count
        if !entries.isEmpty { nodes[node] = entries }
    }

    package mutating func move(node: String, seq: UInt64, to row: Int64) {
        guard var entries = nodes.removeValue(forKey: node) else { return }
        if let index = Self.position(of: seq, in: entries) { entries[index].row = row }
        nodes[node] = entries
    }

    private static func position(of seq: UInt64, in entries: [Entry]) -> Int? {
        let positions = positions(of: seq...seq, in: entries)
        return positions.isEmpty ? nil : positions.lowerBound
    }

    private static func positions(of range: ClosedRange<UInt64>, in entries: [Entry]) -> Range<Int> {
        let start = entries.partitionPoint { $0.seq < range.lowerBound }
        return start..<max(start, entries.partitionPoint { $0.seq <= range.upperBound })
    }

    /// The lowest row still staged: every row below it may be deleted.
    package var lowestRow: Int64? {
        var lowest: Int64?
        for entries in nodes.values {
            for entry in entries where entry.row < lowest ?? .max { lowest = entry.row }
        }
        return lowest
    }

    /// Staged entries in rows below `row`, the ones to copy forward.
    package func entries(below row: Int64) -> [(node: String, entry: Entry)] {
        var found: [(node: String, entry: Entry)] = []
        for (node, entries) in nodes {
            for entry in entries where entry.row < row { found.append((node, entry)) }
        }
        return found
    }

    package init(nodes: [String: [Entry]] = [:]) {
        self.nodes = nodes
    }
}

/// A staged entry's name.
package struct StagedKey: Hashable, Sendable {
    package var node: String
    package var seq: UInt64

    package init(node: String, seq: UInt64) {
        self.node = node
        self.seq = seq
    }
}

extension RandomAccessCollection {
    /// The first index whose element does not satisfy `belongsBefore` (which must hold for a
    /// prefix of the collection): a binary search.
    func partitionPoint(where belongsBefore: (Element) -> Bool) -> Index {
        var low = startIndex, length = count
        while length > 0 {
            let half = length / 2, middle = index(low, offsetBy: half)
            if belongsBefore(self[middle]) {
                low = index(after: middle)
                length -= half + 1
            } else {
                length = half
            }
        }
        return low
    }
}
