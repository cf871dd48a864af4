/// How many entries the next page asks for: the page size, fewer when
/// entries are large, so that no reply (nor the memory holding it and the
/// page read ahead) grows with the size of the members: a page of 1000
/// members of 1 MB each would be a 1 GB reply. Rooms merged together share
/// one budget: each holds a page and the page read ahead, so 20 rooms of
/// 200 KB members at 8 MB a page took 252 MB.
enum PageSizing {
    /// About this many bytes per page at most, for one room (one member
    /// larger than that is a page of its own).
    static let bytes = 8 << 20

    /// The pages of all rooms read together: about this many bytes.
    static let sharedBytes = 16 << 20

    /// The least a room's page may hold, however many rooms share.
    static let leastBytes = 64 << 10

    /// A room's page bytes when `rooms` are merged together.
    static func bytes(rooms: Int) -> Int {
        min(bytes, max(leastBytes, sharedBytes / max(rooms, 1)))
    }

    /// The first page of a room asks for at most this many: the entries'
    /// size is not known yet, so fewer when many rooms ask at once.
    static func first(_ pageSize: Int, rooms: Int = 1) -> Int {
        min(pageSize, 16, max(1, 128 / max(rooms, 1)))
    }

    /// The count for the next page, after a page of `count` entries and
    /// `size` bytes was read with `asked`; at most `ceiling`, at least 1,
    /// about `bytes` bytes.
    static func next(asked: Int, count: Int, size: Int, ceiling: Int, bytes: Int = PageSizing.bytes) -> Int {
        guard count > 0 else { return asked }
        let perEntry = max(1, size / count)
        return max(1, min(ceiling, bytes / perEntry))
    }
}
