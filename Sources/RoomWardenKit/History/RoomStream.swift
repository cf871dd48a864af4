#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// One room's archive read page by page with a score cursor: the last
/// score seen and how many members at that score were already read.
final class RoomStream {
    let room: ArchivedRoom
    let seconds: Bool
    let newestFirst: Bool
    let pageSize: Int
    let fetcher: PageFetcher
    private var lower: [UInt8]
    private var upper: [UInt8]
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

    init(room: ArchivedRoom, seconds: Bool, options: HistoryOptions, newestFirst: Bool, pageSize: Int, fetcher: PageFetcher) {
        self.room = room
        self.seconds = seconds
        self.newestFirst = newestFirst
        self.pageSize = pageSize
        self.fetcher = fetcher
        lower = options.since.map { Array(ScoreUnit.score(forMilliseconds: $0, seconds: seconds).utf8) } ?? Array("-inf".utf8)
        upper = options.until.map { Array("(\(ScoreUnit.score(forMilliseconds: $0, seconds: seconds))".utf8) } ?? Array("+inf".utf8)
    }

    /// The unit raw members of this room are read in.
    func unit(_ asked: ScoreUnit) -> ScoreUnit {
        asked == .auto ? (seconds ? .seconds : .milliseconds) : asked
    }

    /// Asks for the next page (not waiting for it): from the last score
    /// seen (inclusive), skipping the members already read at that score.
    func request() throws(RoomWardenError) {
        guard !exhausted, !outstanding else { return }
        let from = lastScore.isEmpty ? (newestFirst ? upper : lower) : lastScore
        let to = newestFirst ? lower : upper
        var cmd: [[UInt8]] = [Array("ZRANGE".utf8), room.key, from, to, Array("BYSCORE".utf8)]
        if newestFirst { cmd.append(Array("REV".utf8)) }
        cmd += [Array("LIMIT".utf8), Array(String(skip).utf8), Array(String(pageSize).utf8), Array("WITHSCORES".utf8)]
        page.removeAll()
        pageArrived = false
        try fetcher.request(self, cmd)
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
        guard outstanding else { return false }
        try fetcher.await(self)
        outstanding = false
        if let line = pageError {
            let key = String(decoding: room.key, as: UTF8.self)
            if RedisError.server(line).serverCode == "WRONGTYPE" {
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
        if current.count < pageSize { exhausted = true }
        try request()  // the next page is on its way while this one prints
        return current.count > 0
    }

    /// The head's time in ms, for merging.
    var headOrder: Double {
        let s = current.score(index)
        return seconds ? s * 1000 : s
    }

    /// Calls `body` with the head member (a view into the page) and score.
    func withHead<R>(_ body: (UnsafeRawBufferPointer, Double) throws(RoomWardenError) -> R) throws(RoomWardenError) -> R {
        let score = current.score(index)
        return try current.withMember(index) { (m) throws(RoomWardenError) -> R in try body(m, score) }
    }

    func advance() { index += 1 }
}
