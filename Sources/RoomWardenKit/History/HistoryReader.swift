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
///
/// On a Redis Cluster each archive is read from the primary that owns it
/// (named rooms too, whichever node the user named) and patterns are
/// SCANned on every primary; behind sentinels, from the master.
public final class HistoryReader {
    private let topology: Topology
    private let options: HistoryOptions
    private var formatter: MessageFormatter
    private let sink: OutputSink
    /// Called on the calling thread of `run()` for every message printed
    /// (history --follow remembers them). The view points into the page
    /// being printed and lives only during the call: keep a copy of what
    /// you need.
    public var printed: ((MessageView) -> Void)?
    private var scratch = EnvelopeScratch()
    /// Checked between pages: a reason to stop (an interrupt).
    public var shouldStop: (() -> RoomWardenError?)?

    /// Pipelined page requests, one queue per node.
    private var fetchers: [ObjectIdentifier: PageFetcher] = [:]

    public init(topology: Topology, options: HistoryOptions, formatter: MessageFormatter, sink: OutputSink) {
        self.topology = topology
        self.options = options
        self.formatter = formatter
        self.sink = sink
    }

    /// Prints the window.
    public func run() throws(RoomWardenError) {
        let rooms = try ArchiveDiscovery.rooms(topology, targets: options.targets, template: options.template)
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
        // Pages still on their way when the merge has enough are given up,
        // so that their replies are never read as anything else's.
        defer { for fetcher in fetchers.values { fetcher.cancelAll() } }
        let perRoom = max(50, min(options.pageSize, 200_000 / max(rooms.count, 1)))
        // --last without --reverse keeps the newest N and prints them
        // oldest first, then --limit applies to what it prints.
        let keepingLast = options.last != nil && !options.reverse
        let want = keepingLast ? options.last ?? .max : min(options.last ?? .max, remaining)
        var streams: [RoomStream] = []
        for room in rooms {
            streams.append(RoomStream(room: room, unit: try unit(of: room.key), options: options, newestFirst: newestFirst,
                                      pageSize: min(perRoom, want), fetcher: try fetcher(for: room.key)))
        }
        for s in streams { try s.request() }
        var heap = StreamHeap(newestFirst: newestFirst)
        for (i, s) in streams.enumerated() where try s.fill() { heap.push(i, s.headOrder) }
        var kept: [(member: [UInt8], score: Double, stream: Int)] = []
        var taken = 0
        while taken < want, let i = heap.pop() {
            let s = streams[i]
            taken += 1
            if keepingLast {
                try s.withHead { (member, score) throws(RoomWardenError) in kept.append((Array(member), score, i)) }
            } else {
                try s.withHead { (member, score) throws(RoomWardenError) in
                    try emit(member, score: score, unit: s.unit, channel: s.room.channel)
                }
                remaining -= 1
            }
            s.advance()
            if taken % options.pageSize == 0, let stop = shouldStop?() { throw stop }
            if try s.fill() { heap.push(i, s.headOrder) }
        }
        for entry in kept.reversed() where remaining > 0 {
            let s = streams[entry.stream]
            try emit(entry.member, score: entry.score, unit: s.unit, channel: s.room.channel)
            remaining -= 1
        }
    }

    /// The page queue of the node holding `key`.
    private func fetcher(for key: [UInt8]) throws(RoomWardenError) -> PageFetcher {
        let connection = try topology.connection(forKey: key)
        if let known = fetchers[ObjectIdentifier(connection)] { return known }
        let made = PageFetcher(connection: connection)
        fetchers[ObjectIdentifier(connection)] = made
        return made
    }

    /// The unit of an archive's scores: `--score-unit`, or for `auto` the
    /// unit its newest timed entry says (ScoreUnit decides).
    private func unit(of key: [UInt8]) throws(RoomWardenError) -> ScoreUnit {
        guard options.scoreUnit == .auto else { return options.scoreUnit }
        let reply = try topology.connection(forKey: key).checked(.newestFiniteEntry(key: key), doing: "reading '\(name(key))'")
        guard let parts = reply.elements, parts.count == 2, let text = parts[1].string else { return options.scoreUnit.resolved(newestScore: nil) }
        return options.scoreUnit.resolved(newestScore: Double(text))
    }

    /// Formats one member: an envelope's fields, or the raw member.
    private func emit(_ member: UnsafeRawBufferPointer, score: Double?, unit: ScoreUnit, channel: [UInt8]) throws(RoomWardenError) {
        ArchiveMember.read(member, score: score, unit: unit, channel: channel, scratch: &scratch) { view in
            formatter.append(view, to: &sink.buffer)
            printed?(view)
        }
        try sink.flushIfFull()
    }

    private func emit(_ member: [UInt8], score: Double?, unit: ScoreUnit, channel: [UInt8]) throws(RoomWardenError) {
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
                try emit(e, score: nil, unit: options.scoreUnit, channel: room.channel)
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
                try emit(m, score: nil, unit: options.scoreUnit, channel: room.channel)
                want -= 1
                remaining -= 1
            }
            if members.count < page { break }
            offset += page
        }
    }

    private func lrange(_ key: [UInt8], _ start: Int, _ stop: Int) throws(RoomWardenError) -> [[UInt8]] {
        let reply = try topology.connection(forKey: key).checked(.lrange(key: key, start: start, stop: stop), doing: "reading '\(name(key))'")
        return reply.elements?.compactMap { $0.bytes } ?? []
    }
}
