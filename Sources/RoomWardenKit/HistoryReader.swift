#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// What `history` reads and how (SPEC §7).
public struct HistoryOptions: Sendable {
    /// Channels and patterns (default `room:*`).
    public var targets: [String] = ["room:*"]
    public var template: ArchiveKeyTemplate = .standard
    /// Inclusive start, Unix ms.
    public var since: Int64?
    /// Exclusive end, Unix ms.
    public var until: Int64?
    /// The newest N in the window, printed oldest first.
    public var last: Int?
    /// The first N (in printing order).
    public var limit: Int?
    /// Newest first.
    public var reverse = false
    public var scoreUnit: ScoreUnit = .auto
    /// Entries per ZRANGE page.
    public var pageSize = 1000

    public init() {}
}

/// Streams archives by time window, merged across rooms in time order,
/// page by page with a score cursor: constant memory, short server calls.
public final class HistoryReader {
    private let connection: Connection
    private let options: HistoryOptions
    private var formatter: MessageFormatter
    private let sink: OutputSink
    /// Called for every message printed (history --follow remembers them).
    public var printed: ((MessageView) -> Void)?
    private var scratch = EnvelopeScratch()
    /// Checked between pages: a reason to stop (an interrupt).
    public var shouldStop: (() -> RoomWardenError?)?

    public init(connection: Connection, options: HistoryOptions, formatter: MessageFormatter, sink: OutputSink) {
        self.connection = connection
        self.options = options
        self.formatter = formatter
        self.sink = sink
    }

    /// Prints the window.
    public func run() throws(RoomWardenError) {
        let rooms = try ArchiveDiscovery.rooms(connection, targets: options.targets, template: options.template)
        for room in rooms {
            switch room.kind {
            case .other(let type):
                throw .data("archive key '\(name(room.key))' holds a \(type), not a sorted set (or a list backlog); check --archive-key")
            case .list where options.since != nil || options.until != nil:
                throw .usage("archive key '\(name(room.key))' is a list (an LPUSH backlog) with no times: only --last N applies to it; drop --since/--until")
            case .missing where !ArchiveDiscovery.isPattern(String(decoding: room.channel, as: UTF8.self)):
                printDiagnostic("no archive for \(name(room.channel)) (key '\(name(room.key))' does not exist)")
            default: break
            }
        }
        let sets = rooms.filter { $0.kind == .sortedSet }
        let lists = rooms.filter { $0.kind == .list }
        var remaining = options.limit ?? .max
        if !sets.isEmpty { try merge(sets, remaining: &remaining) }
        for list in lists where remaining > 0 { try readList(list, remaining: &remaining) }
        try sink.flush()
    }

    private func name(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    // MARK: Sorted sets

    /// Merges the rooms' streams by time. `--last N` reads newest first and
    /// prints the N it kept oldest first (unless --reverse).
    private func merge(_ rooms: [ArchivedRoom], remaining: inout Int) throws(RoomWardenError) {
        let newestFirst = options.reverse || options.last != nil
        let fetcher = PageFetcher(connection: connection)
        let perRoom = max(50, min(options.pageSize, 200_000 / max(rooms.count, 1)))
        // --last without --reverse keeps the newest N and prints them
        // oldest first, then --limit applies to what it prints.
        let keepingLast = options.last != nil && !options.reverse
        let want = keepingLast ? options.last ?? .max : min(options.last ?? .max, remaining)
        var streams: [RoomStream] = []
        for room in rooms {
            let seconds = try scoresAreSeconds(room.key)
            streams.append(RoomStream(room: room, seconds: seconds, options: options, newestFirst: newestFirst,
                                      pageSize: min(perRoom, want), fetcher: fetcher))
        }
        for s in streams { try s.request() }
        var heap = StreamHeap(newestFirst: newestFirst)
        for (i, s) in streams.enumerated() where try s.fill() { heap.push(i, s.headOrder) }
        var kept: [(member: [UInt8], score: Double, unit: ScoreUnit, stream: Int)] = []
        var taken = 0
        while taken < want, let i = heap.pop() {
            let s = streams[i]
            taken += 1
            if keepingLast {
                try s.withHead { (member, score) throws(RoomWardenError) in kept.append((Array(member), score, s.unit(options.scoreUnit), i)) }
            } else {
                try s.withHead { (member, score) throws(RoomWardenError) in
                    try emit(member, score: score, unit: s.unit(options.scoreUnit), channel: s.room.channel)
                }
                remaining -= 1
            }
            s.advance()
            if taken % options.pageSize == 0, let stop = shouldStop?() { throw stop }
            if try s.fill() { heap.push(i, s.headOrder) }
        }
        for entry in kept.reversed() where remaining > 0 {
            try emit(entry.member, score: entry.score, unit: entry.unit, channel: streams[entry.stream].room.channel)
            remaining -= 1
        }
    }

    /// `--score-unit auto` decides per key: seconds if its newest score is
    /// below 1e11.
    private func scoresAreSeconds(_ key: [UInt8]) throws(RoomWardenError) -> Bool {
        switch options.scoreUnit {
        case .seconds: return true
        case .milliseconds: return false
        case .auto:
            let reply = try ArchiveDiscovery.pipelined(connection, [[Array("ZRANGE".utf8), key, Array("-1".utf8), Array("-1".utf8), Array("WITHSCORES".utf8)]], doing: "reading \(name(key))")[0]
            if let line = reply.errorMessage { throw RoomWardenError.from(.server(line), doing: "reading '\(name(key))'", endpoint: connection.endpoint) }
            guard let parts = reply.elements, parts.count == 2, let s = parts[1].string, let score = Double(s) else { return false }
            return score < 1e11
        }
    }

    /// Formats one member: an envelope's fields, or the raw member.
    private func emit(_ member: UnsafeRawBufferPointer, score: Double?, unit: ScoreUnit, channel: [UInt8]) throws(RoomWardenError) {
        ArchiveMember.read(member, score: score, unit: unit, channel: channel, scratch: &scratch) { view in
            formatter.append(view, to: &sink.buffer)
            printed?(view)
        }
        try sink.flushIfFull()
    }

    private func emit(_ member: [UInt8], score: Double?, unit: ScoreUnit? = nil, channel: [UInt8]) throws(RoomWardenError) {
        let unit = unit ?? options.scoreUnit
        let result = member.withUnsafeBytes { m in
            Result { () throws(RoomWardenError) in try emit(m, score: score, unit: unit, channel: channel) }
        }
        try result.get()
    }

    // MARK: Lists

    /// A list backlog (LPUSH: index 0 is the newest), read in pages from
    /// the oldest end, or only its newest N with --last.
    private func readList(_ room: ArchivedRoom, remaining: inout Int) throws(RoomWardenError) {
        let page = options.pageSize
        var want = min(options.last ?? .max, remaining)
        if let last = options.last {
            // Newest N: indexes 0...N-1, printed oldest first unless --reverse.
            var entries: [[UInt8]] = []
            var start = 0
            while start < last {
                let stop = min(start + page, last) - 1
                let members = try lrange(room.key, start, stop)
                entries += members
                if members.count < stop - start + 1 { break }
                start = stop + 1
            }
            for e in (options.reverse ? entries : entries.reversed()) where want > 0 {
                try emit(e, score: nil, channel: room.channel)
                want -= 1
                remaining -= 1
            }
            return
        }
        var offset = 0
        while want > 0 {
            // Oldest first: from the tail (-1) towards the head.
            let members: [[UInt8]]
            if options.reverse {
                members = try lrange(room.key, offset, offset + page - 1)
            } else {
                members = try lrange(room.key, -(offset + page), -(offset + 1)).reversed()
            }
            for m in members where want > 0 {
                try emit(m, score: nil, channel: room.channel)
                want -= 1
                remaining -= 1
            }
            if members.count < page { break }
            offset += page
        }
    }

    private func lrange(_ key: [UInt8], _ start: Int, _ stop: Int) throws(RoomWardenError) -> [[UInt8]] {
        let reply = try ArchiveDiscovery.pipelined(connection, [[Array("LRANGE".utf8), key, Array(String(start).utf8), Array(String(stop).utf8)]], doing: "reading \(name(key))")[0]
        if let line = reply.errorMessage { throw RoomWardenError.from(.server(line), doing: "reading '\(name(key))'", endpoint: connection.endpoint) }
        return reply.elements?.compactMap { $0.bytes } ?? []
    }
}

/// Keeps the order of pipelined page requests on one connection: a page
/// requested early is read when its stream needs it, after any reply sent
/// before it.
final class PageFetcher {
    let connection: Connection
    private var waiting: [RoomStream] = []

    init(connection: Connection) { self.connection = connection }

    func request(_ stream: RoomStream, _ command: [[UInt8]]) throws(RoomWardenError) {
        do {
            try connection.append(command)
            try connection.flush()
        } catch {
            throw RoomWardenError.from(error, doing: "reading archives", endpoint: connection.endpoint)
        }
        waiting.append(stream)
    }

    /// Reads replies until `stream`'s has come.
    func await(_ stream: RoomStream) throws(RoomWardenError) {
        while !stream.pageArrived, !waiting.isEmpty {
            let owner = waiting.removeFirst()
            do {
                owner.receive(try connection.readArray { owner.page.append($0) })
            } catch {
                throw RoomWardenError.from(error, doing: "reading archives", endpoint: connection.endpoint)
            }
        }
    }
}

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

/// A ZRANGE ... WITHSCORES page packed into one buffer: members and scores
/// back to back, one allocation per page instead of per entry.
struct PackedPage {
    private var bytes: [UInt8] = []
    /// Per entry: member start, member length, score start, score length.
    private var offsets: [Int] = []
    private var scores: [Double] = []
    private var pendingMember: (Int, Int)?

    var count: Int { scores.count }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        scores.removeAll(keepingCapacity: true)
        pendingMember = nil
    }

    /// Takes the reply's elements in order: member, score, member, score...
    mutating func append(_ element: UnsafeRawBufferPointer?) {
        guard let element else { return }
        let start = bytes.count
        bytes.append(contentsOf: element)
        if let (ms, ml) = pendingMember {
            offsets.append(ms); offsets.append(ml); offsets.append(start); offsets.append(element.count)
            scores.append(PackedPage.parseScore(element))
            pendingMember = nil
        } else {
            pendingMember = (start, element.count)
        }
    }

    func score(_ i: Int) -> Double { scores[i] }

    func withMember<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws(RoomWardenError) -> R) throws(RoomWardenError) -> R {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(RoomWardenError) -> R in
                try body(UnsafeRawBufferPointer(rebasing: raw[offsets[4 * i]..<(offsets[4 * i] + offsets[4 * i + 1])]))
            }
        }
        return try result.get()
    }

    func withScoreText(_ i: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeBytes { raw in
            body(UnsafeRawBufferPointer(rebasing: raw[offsets[4 * i + 2]..<(offsets[4 * i + 2] + offsets[4 * i + 3])]))
        }
    }

    /// Integers (the usual ms scores) directly; anything else by strtod.
    static func parseScore(_ text: UnsafeRawBufferPointer) -> Double {
        var v: Int64 = 0
        var i = 0
        let negative = text.first == UInt8(ascii: "-")
        if negative { i = 1 }
        var integral = text.count > i && text.count - i < 16
        while integral && i < text.count {
            let c = text[i]
            if c < 0x30 || c > 0x39 { integral = false; break }
            v = v * 10 + Int64(c - 0x30)
            i += 1
        }
        if integral { return Double(negative ? -v : v) }
        var buffer = Array(text)
        buffer.append(0)
        return buffer.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { strtod($0, nil) }
        }
    }
}

/// A binary heap of stream indexes by head time (ties: lower index first).
struct StreamHeap {
    let newestFirst: Bool
    private var items: [(order: Double, stream: Int)] = []

    init(newestFirst: Bool) { self.newestFirst = newestFirst }

    private func before(_ a: (order: Double, stream: Int), _ b: (order: Double, stream: Int)) -> Bool {
        if a.order != b.order { return newestFirst ? a.order > b.order : a.order < b.order }
        return a.stream < b.stream
    }

    mutating func push(_ stream: Int, _ order: Double) {
        items.append((order, stream))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if !before(items[i], items[parent]) { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Int? {
        guard !items.isEmpty else { return nil }
        let top = items[0].stream
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < items.count && before(items[l], items[best]) { best = l }
                if r < items.count && before(items[r], items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}
