#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// One room's archive read page by page with a score cursor: the last
/// score seen and how many members at that score were already read (and
/// are still there: `headRemoved`).
final class RoomStream {
    let room: ArchivedRoom
    /// The unit of this archive's scores (never `auto`).
    let unit: ScoreUnit
    let newestFirst: Bool
    /// The most entries a page asks for.
    let pageSize: Int
    /// About the most bytes a page holds (`PageSizing`).
    let pageBytes: Int
    /// What the next page asks for: fewer than `pageSize` for large
    /// entries (`PageSizing`).
    private var nextCount: Int
    /// What the page in flight asked for: fewer came when the range ended.
    private var askedCount = 0
    let fetcher: PageFetcher
    /// Asks for the next page as soon as one arrives (not while entries
    /// are removed as they are read: the cursor must see the removals).
    private let prefetch: Bool
    private let lower: ScoreBound
    private let upper: ScoreBound
    private var skip = 0
    private var lastScore: [UInt8] = []
    private var exhausted = false
    private var outstanding = false
    /// The page in flight, packed as it is read off the wire.
    var page = PackedPage()
    private(set) var pageArrived = false
    private var pageError: String?
    /// The page being merged.
    private var current = PackedPage()
    private var index = 0

    init(room: ArchivedRoom, unit: ScoreUnit, options: HistoryOptions, newestFirst: Bool, pageSize: Int, fetcher: PageFetcher,
         prefetch: Bool = true, rooms: Int = 1) {
        self.room = room
        self.unit = unit
        self.newestFirst = newestFirst
        self.pageSize = pageSize
        pageBytes = PageSizing.bytes(rooms: rooms)
        nextCount = PageSizing.first(pageSize, rooms: rooms)
        self.fetcher = fetcher
        self.prefetch = prefetch
        lower = options.since.map { .inclusive(unit.score(forMilliseconds: $0)) } ?? .negativeInfinity
        upper = options.until.map { .exclusive(unit.score(forMilliseconds: $0)) } ?? .positiveInfinity
    }

    /// Asks for the next page (not waiting for it): from the last score
    /// seen (inclusive), skipping the members already read at that score.
    func request() throws(RoomWardenError) {
        guard !exhausted, !outstanding else { return }
        let from = lastScore.isEmpty ? (newestFirst ? upper : lower) : .inclusive(Score(exactly: lastScore))
        let to = newestFirst ? lower : upper
        page.removeAll()
        pageArrived = false
        askedCount = nextCount
        try fetcher.request(self, .zrangeByScore(key: room.key, from: from, to: to, reverse: newestFirst,
                                                 limit: (skip, askedCount), withScores: true))
        outstanding = true
    }

    /// The page's reply came: its elements are in `page` already, or it was
    /// something else (an error).
    func receive(_ other: Reply?) {
        pageArrived = true
        pageError = other.map { $0.errorMessage ?? "unexpected reply to ZRANGE" }
    }

    /// Makes sure a head entry is there; false when the stream is done.
    func fill() throws(RoomWardenError) -> Bool {
        if index < current.count { return true }
        if !prefetch { try request() }
        guard outstanding else { return false }
        try fetcher.await(self)
        outstanding = false
        if let line = pageError {
            let key = String(decoding: room.key, as: UTF8.self)
            if RedisError.server(line).serverCode == "WRONGTYPE" {  // changed type since discovery
                throw .data("archive key '\(key)' holds another type (\(line))")
            }
            throw RoomWardenError.from(.server(line), doing: "reading '\(key)'", endpoint: fetcher.connection.endpoint)
        }
        swap(&current, &page)
        index = 0
        for i in 0..<current.count {
            current.withScoreText(i) { text in
                if text.elementsEqual(lastScore) {
                    skip += 1
                } else {
                    lastScore.removeAll(keepingCapacity: true)
                    lastScore.append(contentsOf: text)
                    skip = 1
                }
            }
        }
        if current.count < askedCount { exhausted = true }
        nextCount = PageSizing.next(asked: askedCount, count: current.count, size: current.byteCount, ceiling: pageSize, bytes: pageBytes)
        if prefetch { try request() }  // the next page is on its way while this one prints
        return current.count > 0
    }

    /// The head's time in ms, for merging.
    var headOrder: Double { unit.order(current.score(index)) }

    /// Calls `body` with the head member (a view into the page) and score.
    func withHead<R>(_ body: (UnsafeRawBufferPointer, Double) throws(RoomWardenError) -> R) throws(RoomWardenError) -> R {
        let score = current.score(index)
        return try current.withMember(index) { (m) throws(RoomWardenError) -> R in try body(m, score) }
    }

    func advance() { index += 1 }

    /// The head entry is being removed (history --delete): the next page,
    /// asked for once the removal is done, skips one member fewer at the
    /// cursor's score when the head is at that score.
    func headRemoved() {
        current.withScoreText(index) { text in
            if text.elementsEqual(lastScore) { skip -= 1 }
        }
    }
}
