/// A long table shown a page at a time (`?page=N`), or whole (`?page=all`, to print); a page
/// past either end shows the nearest.
struct Pager {
    /// The links between pages, as the `pager` partial shows them.
    struct Navigation {
        let shown: String
        let previous: String?
        let next: String?
        let every: String?
    }

    let count: Int
    let size: Int
    /// nil: every row.
    let page: Int?

    init(count: Int, size: Int, asked: String?) {
        self.count = count
        self.size = size
        page = asked == "all" ? nil : min(max(1, asked.flatMap { Int($0) } ?? 1), Self.pages(count, size))
    }

    var pages: Int { Self.pages(count, size) }

    private static func pages(_ count: Int, _ size: Int) -> Int { max(1, (count + size - 1) / size) }

    /// The rows of the page shown.
    var rows: Range<Int> { page.map { ($0 - 1) * size..<min(count, $0 * size) } ?? 0..<count }

    /// Nil when one page holds every row; `link` makes a page's URL from its `page` value.
    func navigation(_ link: (String) -> String) -> Navigation? {
        guard pages > 1 else { return nil }
        guard let page else { return Navigation(shown: "every row, \(count)", previous: nil, next: nil, every: nil) }
        return Navigation(shown: "rows \(rows.lowerBound + 1)–\(rows.upperBound) of \(count)",
                          previous: page > 1 ? link("\(page - 1)") : nil, next: page < pages ? link("\(page + 1)") : nil,
                          every: link("all"))
    }
}
