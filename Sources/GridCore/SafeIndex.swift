extension Array {
    /// The element at `index`, or nil outside the array (per-ISP lists of another day's length).
    public subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
