/// How many entries the next page asks for: the page size, fewer when
/// entries are large, so that no reply (nor the memory holding it and the
/// page read ahead) grows with the size of the members: a page of 1000
/// members of 1 MB each would be a 1 GB reply.
enum PageSizing {
    /// About this many bytes per page at most (one member larger than that
    /// is a page of its own).
    static let bytes = 8 << 20

    /// The first page of a room asks for at most this many: the entries'
    /// size is not known yet.
    static func first(_ pageSize: Int) -> Int { min(pageSize, 16) }

    /// The count for the next page, after a page of `count` entries and
    /// `size` bytes was read with `asked`; at most `ceiling`, at least 1.
    static func next(asked: Int, count: Int, size: Int, ceiling: Int) -> Int {
        guard count > 0 else { return asked }
        let perEntry = max(1, size / count)
        return max(1, min(ceiling, bytes / perEntry))
    }
}
