#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// What `history` reads and how (SPEC §7).
public struct HistoryOptions: Sendable {
    /// Channels and patterns (default `room:*`).
    public var targets: [String] = ["room:*"]
    public var template: ArchiveKeyTemplate = .standard
    /// Where a room's list backlog is looked up when it has no archive
    /// key; nil: nowhere.
    public var backlog: BacklogKeyTemplate? = .standard
    /// Rooms to leave out (`--ignore`, globs).
    public var ignore: [String] = []
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
/// What it prints: the sorted sets merged in time order, then the list
/// backlogs (no times), each oldest first, in channel order; `--reverse`
/// prints exactly that backwards. `--last N` keeps the last N of it (like
/// `tail -n N`), `--limit N` the first N printed. The filters (`--grep`,
/// `--from`) pick entries before either counts.
///
/// On a Redis Cluster each archive is read from the primary that owns it
/// (named rooms too, whichever node the user named), and removed from
/// there; patterns are SCANned on every primary; behind sentinels, from
/// the master.
public final class HistoryReader {
    private let topology: Topology
    private let options: HistoryOptions
    private let filter: MessageFilter
    private var formatter: MessageFormatter
    private let sink: OutputSink
    /// Called on the calling thread of `run()` for every message printed
    /// (history --follow remembers them). The view points into the page
    /// being printed and lives only during the call: keep a copy of what
    /// you need.
    public var printed: ((MessageView) -> Void)?
    /// Called, like `printed`, before an entry is printed: false leaves it
    /// out (watch replaying a gap skips what it printed live already).
    public var admit: ((MessageView) -> Bool)?
    private var scratch = EnvelopeScratch()
    /// Checked between pages (reading, and removing what a terminal
    /// confirmed): a reason to stop (an interrupt).
    public var shouldStop: (() -> RoomWardenError?)?
    /// Pipelined page requests, one queue per node.
    private var fetchers: [ObjectIdentifier: PageFetcher] = [:]

    /// What becomes of each entry the filters pick.
    private enum Mode {
        case print
        /// Removed, and printed once removed (`--delete`).
        case delete(ArchiveEraser)
        /// Held for a confirmation (`--delete` on a terminal).
        case hold(PendingDeletion)
    }
    private var mode = Mode.print
    /// Removing: entries stamped from this moment on (Unix ms) arrived
    /// while it runs and are left alone.
    private var startedAt: Int64?

    public init(topology: Topology, options: HistoryOptions, filter: MessageFilter? = nil,
                formatter: MessageFormatter, sink: OutputSink) {
        self.topology = topology
        self.options = options
        self.filter = filter ?? MessageFilter()
        self.formatter = formatter
        self.sink = sink
    }

    /// Prints the window.
    public func run() throws(RoomWardenError) {
        mode = .print
        try read()
        try sink.flush()
    }

    // MARK: Deleting

    /// `--delete --yes`: removes what `run()` would print, as it reads,
    /// and prints each entry once it is removed; then one line on stderr
    /// says how many entries were removed from how many rooms.
    public func delete() throws(RoomWardenError) {
        let eraser = eraser()
        mode = .delete(eraser)
        startedAt = WallClock.nowMilliseconds()
        try erasing(eraser) { () throws(RoomWardenError) in try read() }
    }

    /// `--delete` on a terminal, first step: reads what `delete()` would
    /// remove and holds it, removing nothing.
    public func pendingDeletion() throws(RoomWardenError) -> PendingDeletion {
        let pending = PendingDeletion()
        mode = .hold(pending)
        startedAt = WallClock.nowMilliseconds()
        try read()
        return pending
    }

    /// `--delete` on a terminal, once confirmed: removes exactly the
    /// entries held, printing each once removed, then the stderr line.
    public func remove(_ pending: PendingDeletion) throws(RoomWardenError) {
        let eraser = eraser()
        mode = .delete(eraser)
        try erasing(eraser) { () throws(RoomWardenError) in
            for (n, e) in pending.entries.enumerated() {
                if n % options.pageSize == 0, n > 0, let stop = shouldStop?() { throw stop }
                _ = try offer(e.member, score: e.score, unit: e.unit, room: e.room, listCount: e.listCount)
            }
        }
    }

    /// Every key's removals go through the connection to the node that
    /// holds it, the one it was read from.
    private func eraser() -> ArchiveEraser {
        let topology = self.topology
        return ArchiveEraser(connection: { (key) throws(RoomWardenError) in try topology.connection(forKey: key) }, sink: sink)
    }

    /// Runs `body`, sends what is left to remove and prints the closing
    /// line; a failure says what was removed before it.
    private func erasing(_ eraser: ArchiveEraser, _ body: () throws(RoomWardenError) -> Void) throws(RoomWardenError) {
        do {
            try body()
            try eraser.flush()
            try sink.flush()
        } catch {
            // stdout closed by its reader: stop, and still say what was done.
            if error.exitCode == 0 { printDiagnostic(eraser.summary) }
            throw eraser.failed(error)
        }
        printDiagnostic(eraser.summary)
    }

    // MARK: Choosing

    /// Finds the rooms and hands every entry the options pick to `offer`,
    /// in printing order.
    private func read() throws(RoomWardenError) {
        let rooms = try discover()
        let sets = rooms.filter { $0.kind == .sortedSet }
        let lists = rooms.filter { $0.kind == .list }
        var remaining = options.limit ?? .max
        if let last = options.last, !options.reverse {
            // The last N printed: lists print last, so theirs count first
            // (the last list's newest first), then the sorted sets' newest.
            var quota = last
            var picked: [(room: ArchivedRoom, members: [[UInt8]])] = []
            for list in lists.reversed() where quota > 0 {
                picked.append((list, try readList(list, fromHead: true, want: &quota, keep: true)))
            }
            if quota > 0, !sets.isEmpty { try merge(sets, newestFirst: true, keepingLast: quota, remaining: &remaining) }
            for (list, members) in picked.reversed() {
                for m in members.reversed() where remaining > 0 {
                    if try offer(m, score: nil, unit: options.scoreUnit, room: list, listCount: 1) { remaining -= 1 }
                }
            }
        } else if options.reverse {
            // Backwards: the lists first (the last one first), newest first.
            remaining = min(remaining, options.last ?? .max)
            for list in lists.reversed() where remaining > 0 { _ = try readList(list, fromHead: true, want: &remaining) }
            if remaining > 0, !sets.isEmpty { try merge(sets, newestFirst: true, keepingLast: nil, remaining: &remaining) }
        } else {
            if !sets.isEmpty { try merge(sets, newestFirst: false, keepingLast: nil, remaining: &remaining) }
            for list in lists where remaining > 0 { _ = try readList(list, fromHead: false, want: &remaining) }
        }
    }

    /// The rooms to read, with `--ignore` applied; a key of another type
    /// is an error, a window on a list backlog too when the channel was
    /// named (a pattern's backlogs are left out with a notice).
    private func discover() throws(RoomWardenError) -> [ArchivedRoom] {
        let ignore = options.ignore.map { Glob($0) }
        let found = try ArchiveDiscovery.rooms(topology, targets: options.targets, template: options.template, backlog: options.backlog)
        let named = Set(options.targets.filter { !ArchiveDiscovery.isPattern($0) }.map { Array($0.utf8) })
        let windowed = options.since != nil || options.until != nil
        var rooms: [ArchivedRoom] = []
        for room in found where !ignore.contains(where: { $0.matches(room.channel) }) {
            let what = room.isBacklogKey ? "backlog key" : "archive key"
            switch room.kind {
            case .other(let type):
                let expected = room.isBacklogKey ? "a list; check --backlog-key" : "a sorted set (or a list backlog); check --archive-key"
                throw .data("\(what) '\(name(room.key))' holds a \(type), not \(expected)")
            case .list where windowed:
                guard !named.contains(room.channel) else {
                    throw .usage("\(what) '\(name(room.key))' is a list (an LPUSH backlog) with no times: only --last N applies to it; drop --since/--until")
                }
                printDiagnostic("\(name(room.channel)) is left out of the window: its \(what) '\(name(room.key))' is a list (an LPUSH backlog) with no times (read it without --since/--until)")
                continue
            case .missing where named.contains(room.channel):
                let keys = options.backlog.map { "neither '\(name(room.key))' nor '\(name($0.key(for: room.channel)))' exists" }
                    ?? "key '\(name(room.key))' does not exist"
                printDiagnostic("no archive for \(name(room.channel)) (\(keys))")
            default: break
            }
            rooms.append(room)
        }
        return rooms
    }

    private func name(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// Decodes one member; if the filters pick it, prints it, removes it
    /// or holds it, by mode (`act` false only tells). True when picked.
    private func offer(_ member: UnsafeRawBufferPointer, score: Double?, unit: ScoreUnit, room: ArchivedRoom,
                       listCount: Int?, act: Bool = true) throws(RoomWardenError) -> Bool {
        var picked = false
        ArchiveMember.read(member, score: score, unit: unit, channel: room.channel, scratch: &scratch) { view in
            guard filter.selects(view) else { return }
            if act, case .print = mode, let admit, !admit(view) { return }
            picked = true
            guard act else { return }
            switch mode {
            case .print:
                formatter.append(view, to: &sink.buffer)
                printed?(view)
            case .delete(let eraser):
                formatter.append(view, to: &eraser.output)
            case .hold:
                break
            }
        }
        guard picked, act else { return picked }
        switch mode {
        case .print:
            try sink.flushIfFull()
        case .delete(let eraser):
            try eraser.add(key: room.key, channel: room.channel, member: member, listCount: listCount)
        case .hold(let pending):
            try pending.add(.init(room: room, member: Array(member), score: score, unit: unit, listCount: listCount))
        }
        return true
    }

    private func offer(_ member: [UInt8], score: Double?, unit: ScoreUnit, room: ArchivedRoom,
                       listCount: Int?, act: Bool = true) throws(RoomWardenError) -> Bool {
        let result = member.withUnsafeBytes { m in
            Result { () throws(RoomWardenError) -> Bool in try offer(m, score: score, unit: unit, room: room, listCount: listCount, act: act) }
        }
        return try result.get()
    }

    /// True while entries are removed as they are read.
    private var removingAsRead: Bool {
        if case .delete = mode { return true }
        return false
    }

    // MARK: Sorted sets

    /// Merges the rooms' streams by time. With `keepingLast` (--last
    /// printed oldest first) it reads newest first, keeps that many and
    /// then offers them oldest first; otherwise it offers entries as it
    /// reads them. `remaining` counts down what is offered (--limit).
    private func merge(_ rooms: [ArchivedRoom], newestFirst: Bool, keepingLast: Int?, remaining: inout Int) throws(RoomWardenError) {
        // Pages still on their way when the merge has enough are given up,
        // so that their replies are never read as anything else's.
        defer { cancelPages() }
        // Removing as it reads: each page is asked for once the entries
        // read before it are removed (no page is on its way meanwhile), so
        // that the cursor sees the removals.
        let removing = removingAsRead && keepingLast == nil
        if removing, case .delete(let eraser) = mode { try eraser.flush() }
        let want = keepingLast ?? remaining
        let perRoom = max(50, min(options.pageSize, 200_000 / max(rooms.count, 1)))
        // Filters may pass few entries: pages stay full size then.
        let pageSize = filter.keepsAll ? min(perRoom, want) : perRoom
        var window = options
        if let startedAt { window.until = min(window.until ?? .max, startedAt) }
        var streams: [RoomStream] = []
        for room in rooms {
            streams.append(RoomStream(room: room, unit: try unit(of: room.key), options: window, newestFirst: newestFirst,
                                      pageSize: pageSize, fetcher: try fetcher(for: room.key, removing: removing), prefetch: !removing,
                                      rooms: rooms.count))
        }
        for s in streams { try s.request() }
        var heap = StreamHeap(newestFirst: newestFirst)
        for (i, s) in streams.enumerated() where try s.fill() { heap.push(i, s.headOrder) }
        var kept: [(member: [UInt8], score: Double, stream: Int)] = []
        var taken = 0
        var seen = 0
        while taken < want, let i = heap.pop() {
            let s = streams[i]
            let picked = try s.withHead { (member, score) throws(RoomWardenError) -> Bool in
                guard keepingLast != nil else { return try offer(member, score: score, unit: s.unit, room: s.room, listCount: nil) }
                guard try offer(member, score: score, unit: s.unit, room: s.room, listCount: nil, act: false) else { return false }
                kept.append((Array(member), score, i))
                return true
            }
            if picked {
                taken += 1
                if removing { s.headRemoved() }
            }
            s.advance()
            seen += 1
            if seen % options.pageSize == 0, let stop = shouldStop?() { throw stop }
            if try s.fill() { heap.push(i, s.headOrder) }
        }
        guard keepingLast != nil else {
            remaining -= taken
            return
        }
        // The pages read ahead are given up before anything else uses the
        // connections (removals go through them).
        cancelPages()
        for entry in kept.reversed() where remaining > 0 {
            let s = streams[entry.stream]
            if try offer(entry.member, score: entry.score, unit: s.unit, room: s.room, listCount: nil) { remaining -= 1 }
        }
    }

    /// The page queue of the node holding `key`; when removing as it
    /// reads, it sends the removals queued so far before each page request.
    private func fetcher(for key: [UInt8], removing: Bool) throws(RoomWardenError) -> PageFetcher {
        let connection = try topology.connection(forKey: key)
        let fetcher = fetchers[ObjectIdentifier(connection)] ?? PageFetcher(connection: connection)
        fetchers[ObjectIdentifier(connection)] = fetcher
        if removing, case .delete(let eraser) = mode {
            fetcher.beforeRequest = { () throws(RoomWardenError) in try eraser.flush() }
        } else {
            fetcher.beforeRequest = nil
        }
        return fetcher
    }

    /// Gives up every page still on its way, on every node.
    private func cancelPages() {
        for fetcher in fetchers.values { fetcher.cancelAll() }
    }

    /// The unit of an archive's scores: `--score-unit`, or for `auto` the
    /// unit its newest timed entry says (ScoreUnit decides).
    private func unit(of key: [UInt8]) throws(RoomWardenError) -> ScoreUnit {
        guard options.scoreUnit == .auto else { return options.scoreUnit }
        let reply = try topology.connection(forKey: key).checked(.newestFiniteEntry(key: key), doing: "reading '\(name(key))'")
        guard let parts = reply.elements, parts.count == 2, let text = parts[1].string else { return options.scoreUnit.resolved(newestScore: nil) }
        return options.scoreUnit.resolved(newestScore: Double(text))
    }

    // MARK: Lists

    /// Reads a list backlog in pages: from the head (LPUSH puts the newest
    /// at index 0) newest first, or from the tail oldest first, until
    /// `want` entries were picked. Picked entries are offered, or with
    /// `keep` returned (newest first) for the caller to offer later.
    /// Removals (LREM of the entry, counted from the end reading started
    /// at, so that the entry removed is the one read) are sent before each
    /// page, and the page's indexes allow for them.
    private func readList(_ room: ArchivedRoom, fromHead: Bool, want: inout Int, keep: Bool = false) throws(RoomWardenError) -> [[UInt8]] {
        // Fewer entries a page when they are large (PageSizing).
        var page = PageSizing.first(options.pageSize)
        let listCount = fromHead ? 1 : -1
        let removing = removingAsRead && !keep
        var kept: [[UInt8]] = []
        // Entries read from this end that are still in the list.
        var passed = 0
        // Removing from the tail: what was pushed (at the head) since the
        // start is left alone.
        var budget = Int.max
        if startedAt != nil, !fromHead {
            let length = try topology.connection(forKey: room.key).checked(.llen(key: room.key), doing: "reading '\(name(room.key))'")
            budget = Int(length.integer ?? 0)
        }
        while want > 0, budget > 0 {
            if removing, case .delete(let eraser) = mode { try eraser.flush() }
            let members = fromHead ? try lrange(room.key, passed, passed + page - 1)
                : try lrange(room.key, -(passed + page), -(passed + 1)).reversed()
            for m in members where want > 0 && budget > 0 {
                budget -= 1
                let picked = try offer(m, score: nil, unit: options.scoreUnit, room: room, listCount: listCount, act: !keep)
                if picked {
                    want -= 1
                    if keep { kept.append(m) }
                }
                if !(picked && removing) { passed += 1 }
            }
            if members.count < page { break }
            page = PageSizing.next(asked: page, count: members.count, size: members.reduce(0) { $0 + $1.count }, ceiling: options.pageSize)
        }
        return kept
    }

    private func lrange(_ key: [UInt8], _ start: Int, _ stop: Int) throws(RoomWardenError) -> [[UInt8]] {
        let reply = try topology.connection(forKey: key).checked(.lrange(key: key, start: start, stop: stop), doing: "reading '\(name(key))'")
        return reply.elements?.compactMap { $0.bytes } ?? []
    }
}
