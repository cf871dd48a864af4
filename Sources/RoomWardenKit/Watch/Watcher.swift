#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// What `watch` listens to and when it stops (SPEC §5).
public struct WatchOptions: Sendable {
    /// PSUBSCRIBE patterns.
    public var patterns: [String] = ["room:*"]
    /// SUBSCRIBE channels (`-c`).
    public var channels: [String] = []
    /// Channels to leave out (`--ignore`).
    public var ignore: [String] = []
    /// Keep only messages matching this extended regular expression (`--grep`).
    public var grep: String?
    /// `--grep` ignores case (`-i`).
    public var grepIgnoresCase = false
    /// Stop after this many messages (`-n`).
    public var count: Int?
    /// Stop when no message came for this long (`--wait`), ms.
    public var waitMilliseconds: Int64?
    /// Stop after this long (`--duration`), ms.
    public var durationMilliseconds: Int64?
    /// The most the in-memory queue holds (`--buffer`).
    public var bufferBytes = 256 << 20
    /// PING when the link was quiet this long (`--heartbeat`), ms.
    public var heartbeatMilliseconds: Int64 = 15_000
    /// Reconnect on loss; false exits 69 (`--no-reconnect`).
    public var reconnect = true
    /// Archive every observed message here (`--archive`).
    public var archive: ArchiveKeyTemplate?
    /// Also SUBSCRIBE to this private channel, for a `Handoff`'s marker; a
    /// refusal by the ACL is no error. Set by `replayGaps`.
    public var markerChannel: String?
    /// After a lost link, replay what it missed from the rooms' archives
    /// (SPEC §5).
    public var replayGaps = false
    /// Where the rooms' archives are, for replays.
    public var archiveTemplate: ArchiveKeyTemplate = .standard
    /// Where the recipe's list backlogs are (`--backlog-key`): replays say
    /// they cannot replay them, `--archive` pushes to them.
    public var backlogTemplate: BacklogKeyTemplate? = .standard
    /// Start with a replay of the archives from this time (`--since`),
    /// Unix ms.
    public var since: Int64?
    /// Also follow Redis 7 sharded pub/sub (`--sharded`): SSUBSCRIBE to
    /// the shard channels the patterns match, on each shard's primary.
    public var sharded = false

    public init() {}
}

/// The all-rooms observer. One thread drains the socket into a bounded
/// queue as fast as Redis sends; the calling thread formats and writes.
/// When the watch ends, every thread it started returns.
public final class Watcher {
    private let settings: ConnectionSettings
    private let options: WatchOptions
    private var formatter: MessageFormatter
    private let sink: OutputSink
    private let grep: GrepFilter?
    private let ignore: [Glob]
    private let mayRepeat: Bool
    private var ignored: [[UInt8]: Bool] = [:]
    private var copies = CopyFilter()
    private var printed = 0
    private let archive: ArchiveWriter?
    private var queue: WatchQueue?
    private var interrupts: Interrupts?
    /// Decides, for a live message, whether to print it: the marker and
    /// what was already printed from an archive (`history --follow`, a
    /// replayed gap) are not. Made by `init` when gaps are replayed.
    public private(set) var handoff: Handoff?
    private let replay: GapReplay?
    private var recent: RecentLive
    /// Entries printed by replays, by identity (room and id, or room,
    /// payload and time), with their times: the next replay starts a
    /// little before its gap and must not print them again.
    private var replayedEntries: [Int: Int64] = [:]
    /// Live batches held back while a replay is due (from a new link's
    /// opening to its confirmation, and while a span waits to be
    /// replayed): printed after it, so each room stays in time order.
    /// Their bytes stay counted in the queue until then, so `--buffer`
    /// bounds them too; when the queue drops, they are dropped with it,
    /// as part of the span to replay.
    private var holding: [MessageBatch]?
    private var heldBytes = 0
    /// What the archives still owe: a span whose replay failed (its link
    /// was lost) is retried, alone or with the next gap.
    private var pending: PendingSpan?
    /// Entries printed by replays that were cut off, until one succeeds.
    private var cutOff = Set<Int>()
    private var linksOpened = 0
    /// A new link is open and its confirmation (and the replay of its
    /// gap) is due.
    private var awaiting = false
    /// When the last link was confirmed (monotonic ms): told to the
    /// handoff once what it brought before is printed.
    private var confirmedAt: Int64?

    /// A span not yet replayed, and how often its replay failed.
    private struct PendingSpan {
        /// Received (or missed) from `from` to `to`, Unix ms.
        var from: Int64
        var to: Int64
        /// When the live link's subscriptions were confirmed, for the
        /// handoff (the earliest of the spans merged).
        var subscribedAt: Int64
        /// What the stderr line starts with: each gap or drop merged.
        var reporting: [String]
        var failures = 0
        var firstFailure: Int64?
        /// Monotonic ms of the next try.
        var retryAt: Int64 = 0
        var lastError = ""

        mutating func merge(from: Int64, to: Int64, subscribedAt: Int64, reporting: String?) {
            self.from = min(self.from, from)
            self.to = max(self.to, to)
            self.subscribedAt = min(self.subscribedAt, subscribedAt)
            if let reporting, self.reporting.count < 3 { self.reporting.append(reporting) }
            retryAt = 0
        }
    }

    /// How long the archives may stay unreadable before what a span
    /// missed is reported lost.
    private var retryBudget: Int64 { max(Watcher.milliseconds(settings.failoverWait), 5_000) }

    public init(settings: ConnectionSettings, options: WatchOptions, formatter: MessageFormatter, sink: OutputSink) throws(RoomWardenError) {
        var options = options
        // Redis holds a repeated subscription once.
        options.patterns = Watcher.unique(options.patterns)
        options.channels = Watcher.unique(options.channels)
        if options.replayGaps || options.since != nil {
            let handoff = Handoff()
            options.markerChannel = handoff.markerChannel
            self.handoff = handoff
            replay = GapReplay(settings: settings, targets: options.patterns + options.channels.map { Glob.escaping(Array($0.utf8)) },
                               template: options.archiveTemplate, backlog: options.backlogTemplate)
        } else {
            replay = nil
        }
        if options.since != nil {
            holding = []
            awaiting = true
        }
        self.settings = settings
        self.options = options
        self.formatter = formatter
        self.sink = sink
        grep = try options.grep.map { (g: String) throws(RoomWardenError) in try GrepFilter(g, ignoreCase: options.grepIgnoresCase) }
        ignore = options.ignore.map { Glob($0) }
        // The marker channel brings copies only where a pattern matches it.
        let markerCopies = options.markerChannel.map { m in options.patterns.contains { Glob($0).matches(Array(m.utf8)) } } ?? false
        mayRepeat = options.patterns.count + options.channels.count > 1 || markerCopies
        recent = RecentLive(marker: options.markerChannel, mayRepeat: mayRepeat)
        archive = options.archive.map {
            ArchiveWriter(settings: settings, template: $0, backlog: options.backlogTemplate, capacity: min(options.bufferBytes, 64 << 20))
        }
    }

    /// Watches until a stop condition. Returns for exit 0; throws the
    /// failure (its exit code) otherwise.
    public func run() throws(RoomWardenError) {
        start()
        try consume()
    }

    /// Takes over SIGINT/SIGTERM and starts the thread that subscribes and
    /// drains the socket.
    public func start() {
        let queue = WatchQueue(capacity: options.bufferBytes)
        self.queue = queue
        interrupts = Interrupts { queue.finish(.signal($0)) }
        StdoutWatch.start(queue: queue)
        let settings = self.settings, options = self.options
        queue.readerRunning(true)
        Threads.start(stackSize: 1 << 20) { SubscriptionReader(settings: settings, options: options, queue: queue).run() }
    }

    /// Waits until the server confirmed every subscription; throws if the
    /// watch ended first (unreachable, refused, interrupted). Returns why
    /// the server refused the marker channel, if it did.
    @discardableResult
    public func waitUntilSubscribed() throws(RoomWardenError) -> String? {
        guard let queue else { return nil }
        switch queue.waitUntilSubscribed() {
        case .success(let state): return state.markerRefused
        case .failure(let e): throw Watcher.error(for: e.end) ?? .stdoutClosed
        }
    }

    /// The exit for an interrupt, if one came (history --follow checks it
    /// between pages of the archive).
    public var interruption: RoomWardenError? {
        guard let end = queue?.ended else { return nil }
        return Watcher.error(for: end) ?? .stdoutClosed
    }

    private static func error(for end: WatchQueue.End) -> RoomWardenError? {
        switch end {
        case .signal(let sig): return RoomWardenError(exitCode: 128 + sig, "")
        case .stdoutClosed, .done: return nil
        case .failed(let error): return error
        }
    }

    /// Prints what the reader thread queues, until a stop condition. Then
    /// stops the reader, and writes or reports what `--archive` still
    /// holds. A signal decides the exit code, whatever else happened
    /// after it.
    public func consume() throws(RoomWardenError) {
        guard let queue else { return }
        let outcome = Result { () throws(RoomWardenError) in try printUntilEnd(queue) }
        queue.finish(.done)
        let interrupted: Int32?
        if case .signal(let sig)? = queue.ended { interrupted = sig } else { interrupted = nil }
        archive?.finish(waitingUpTo: interrupted == nil ? settings.replyTimeout.map(Watcher.milliseconds) ?? .max : 300)
        _ = queue.waitForReader(milliseconds: interrupted == nil ? 2_000 : 100)
        if let interrupted { throw RoomWardenError(exitCode: 128 + interrupted, "") }
        interrupts?.cancel()
        try outcome.get()
    }

    private func printUntilEnd(_ queue: WatchQueue) throws(RoomWardenError) {
        let started = Monotonic.milliseconds()
        var lastMessage = started
        let limit = options.count ?? .max
        while true {
            var deadline: Int64? = nil
            if let d = options.durationMilliseconds { deadline = started + d }
            if let w = options.waitMilliseconds { deadline = min(deadline ?? .max, lastMessage + w) }
            if let retry = pending?.retryAt, !awaiting { deadline = min(deadline ?? .max, retry) }
            let (items, end) = queue.take(until: deadline)
            if case .signal? = end {
                // Print what was already received, then go.
                for batch in holding ?? [] where printed < limit { try process(batch) }
                for case .messages(let batch) in items where printed < limit { try process(batch) }
                try sink.flush()
                return
            }
            var released = 0
            let before = printed
            for item in items {
                switch item {
                case .messages(let batch):
                    if holding != nil {
                        holding?.append(batch)
                        heldBytes += batch.footprint
                    } else {
                        released += batch.footprint
                        if printed < limit { try process(batch) }
                    }
                case .dropped(let n, let from, let to):
                    copies.reset()
                    recent.reset()
                    try sink.flush()
                    let dropped = "buffer full (--buffer \(options.bufferBytes >> 20)MB): dropped \(n) messages received between \(Watcher.clock(from)) and \(Watcher.clock(to))"
                    if replay == nil {
                        printDiagnostic("\(dropped): stdout was not read fast enough")
                    } else if let held = holding {
                        // Queued behind a replay due: what is held goes
                        // with them, and that replay covers it all.
                        let spanFrom = min(from, held.first?.receivedAt ?? from)
                        released += heldBytes
                        holding = []
                        heldBytes = 0
                        owe(from: spanFrom, to: to, subscribedAt: spanFrom, reporting: nil)
                        printDiagnostic("\(dropped); the replay due covers them")
                    } else {
                        // Refilled from the archives: those messages were
                        // received at `from` at the earliest.
                        owe(from: from, to: to, subscribedAt: from, reporting: dropped)
                        released += try replayPending()
                    }
                case .notice(let text):
                    try sink.flush()
                    printDiagnostic(text)
                case .linkOpened:
                    copies.reset()
                    recent.reset()
                    linksOpened += 1
                    if replay != nil && linksOpened > 1 {
                        awaiting = true
                        if holding == nil { holding = [] }
                    }
                case .subscribed(let at, let gap):
                    awaiting = false
                    // Only after what the new link brought before its
                    // confirmation (held until then): that may still be a
                    // live copy of what an older read printed.
                    confirmedAt = at
                    released += try caughtUp(gap)
                }
            }
            if let retry = pending?.retryAt, !awaiting, Monotonic.milliseconds() >= retry {
                released += try replayPending()
            }
            queue.release(released)
            archive?.commit()
            if printed > before { lastMessage = Monotonic.milliseconds() }
            if printed >= limit {
                try sink.flush()
                return
            }
            if let end {
                try sink.flush()
                if let error = Watcher.error(for: end) { throw error }
                return
            }
            if queue.isEmpty { try sink.flush() }
            let now = Monotonic.milliseconds()
            if let d = options.durationMilliseconds, now - started >= d { return }
            if let w = options.waitMilliseconds, now - lastMessage >= w {
                if let count = options.count {
                    throw .failure("no message for \(Watcher.span(w)) (--wait): got \(printed) of --count \(count)")
                }
                return
            }
        }
    }

    /// The live link is subscribed: fills what it missed from the archives
    /// (or only reports it), then prints what came meanwhile. Returns the
    /// queue bytes of the held batches it printed.
    private func caughtUp(_ gap: WatchQueue.Gap?) throws(RoomWardenError) -> Int {
        if let gap {
            try sink.flush()
            guard replay != nil else {
                printDiagnostic("\(gap.regained); messages published between \(Watcher.clock(gap.from)) and \(Watcher.clock(gap.to)) were not received")
                return try releaseHeld()
            }
            owe(from: gap.from, to: gap.to, subscribedAt: gap.to, reporting: gap.regained)
        } else if let since = options.since, linksOpened == 1 {
            _ = try fill(from: since, until: nil, lostSince: nil, subscribedAt: WallClock.nowMilliseconds())
        } else if linksOpened == 1 {
            replay?.prepare()
        }
        if pending != nil { return try replayPending() }
        return try releaseHeld()
    }

    /// Adds a span to replay: merged with the one still owed, if any (its
    /// replay runs from the earliest start).
    private func owe(from: Int64, to: Int64, subscribedAt: Int64, reporting: String?) {
        if pending == nil {
            pending = PendingSpan(from: from, to: to, subscribedAt: subscribedAt, reporting: reporting.map { [$0] } ?? [])
        } else {
            pending?.merge(from: from, to: to, subscribedAt: subscribedAt, reporting: reporting)
        }
        if holding == nil { holding = [] }
    }

    /// Prints the live batches held behind a replay, once none is due any
    /// more; returns their queue bytes.
    private func releaseHeld() throws(RoomWardenError) -> Int {
        guard !awaiting, pending == nil else { return 0 }
        let held = holding ?? []
        holding = nil
        let bytes = heldBytes
        heldBytes = 0
        for batch in held where printed < options.count ?? .max { try process(batch) }
        if let at = confirmedAt {
            handoff?.linkConfirmed(atMonotonic: at)
            confirmedAt = nil
        }
        return bytes
    }

    /// Replays the span owed (what a gap or a full buffer lost, from
    /// `from` to `to`) and reports it: what happened and what was
    /// replayed, then what rooms heard without an archive lost. A replay
    /// cut off by a lost link is not a loss: the span stays owed and is
    /// tried again (with the next gap, or after a pause), with the live
    /// batches held behind it; only archives unreadable for longer than
    /// the retry budget (or refused) make it a loss, reported with its
    /// span. Returns the queue bytes of the held batches it printed.
    ///
    /// The replay reads the archives from `margin` before the gap to
    /// `margin` after it, not to their end: what was published later came
    /// live (it waits in the queue, or a later drop replays it), and the
    /// handoff drops the live copies of what both brought. So a replay's
    /// work and memory follow the gap, not the traffic since.
    private func replayPending() throws(RoomWardenError) -> Int {
        guard var span = pending else { return 0 }
        try sink.flush()
        let lost = "messages published between \(Watcher.clock(span.from)) and \(Watcher.clock(span.to))"
        // A span tried before was reported then: its retry says only that.
        let reporting = span.reporting.isEmpty ? "the replay of \(lost), tried again" : span.reporting.joined(separator: "; ")
        do {
            let done = try fill(from: span.from - GapReplay.margin, until: span.to + GapReplay.margin, lostSince: span.from, subscribedAt: span.subscribedAt)
            pending = nil
            cutOff.removeAll()
            try sink.flush()
            let rooms = done.rooms.count
            var line = "\(reporting); replayed \(done.replayed) message\(done.replayed == 1 ? "" : "s") from the archives of \(rooms) room\(rooms == 1 ? "" : "s")"
            let unarchived = recent.rooms.subtracting(done.rooms).sorted { $0.lexicographicallyPrecedes($1) }
            if !unarchived.isEmpty {
                let named = unarchived.prefix(5).map { room in
                    String(decoding: room, as: UTF8.self) + (done.backlogs.contains(room) ? " (list backlog, no times)" : " (no archive)")
                }.joined(separator: ", ") + (unarchived.count > 5 ? " and \(unarchived.count - 5) more" : "")
                line += "; \(lost) to \(named) were not received"
            }
            printDiagnostic(line)
        } catch {
            if let stop = interruption { throw stop }
            let now = Monotonic.milliseconds()
            span.failures += 1
            let first = span.firstFailure ?? now
            span.firstFailure = first
            if error.isPermanent || error.exitCode != 69 || now - first >= retryBudget {
                pending = nil
                printDiagnostic("\(reporting); \(lost) were not received; they could not be replayed from the archives (\(error.message))")
            } else {
                if !span.reporting.isEmpty || span.failures == 1 {
                    let head = span.reporting.isEmpty ? "" : span.reporting.joined(separator: "; ") + "; "
                    printDiagnostic("\(head)the replay of \(lost) was cut off (\(error.message)); trying again")
                    span.reporting = []
                }
                span.retryAt = now + min(2_000, 100 << min(span.failures, 5))
                pending = span
                return 0
            }
        }
        return try releaseHeld()
    }

    /// Replays the rooms' archives from `from` (skipping what was received
    /// live up to `lostSince`), then hands over to the live link.
    private func fill(from: Int64, until: Int64?, lostSince: Int64?, subscribedAt: Int64) throws(RoomWardenError) -> GapReplay.Outcome {
        guard let replay, let handoff, let queue else { return GapReplay.Outcome() }
        var receivedLive = lostSince == nil ? [:] : recent.received(since: from)
        replayedEntries = replayedEntries.filter { $0.value >= from }
        let limit = options.count ?? .max
        var thisReplay: [Int] = []
        defer { if pending != nil { cutOff.formUnion(thisReplay) } }
        return try replay.run(
            from: from, until: until, subscribedAt: subscribedAt, handoff: handoff, markerRefused: queue.subscription?.markerRefused,
            formatter: formatter, sink: sink,
            admit: { [unowned self] view in
                if printed >= limit { return false }
                if let lostSince, let ts = view.ts, ts <= lostSince, !receivedLive.isEmpty {
                    let key = Handoff.key(view.channel, view.payload)
                    if let n = receivedLive[key] {
                        receivedLive[key] = n > 1 ? n - 1 : nil
                        return false
                    }
                }
                let identity = Watcher.identity(view)
                if replayedEntries[identity] != nil {
                    // Printed by a replay cut off before its marker: its
                    // live copy may still be held, so this read expects it.
                    if cutOff.contains(identity) { handoff.archived(view) }
                    return false
                }
                if !ignore.isEmpty && isIgnored(view.channel) { return false }
                if let grep, !grep.matches(view.payload) { return false }
                if replayedEntries.count < 1_000_000 { replayedEntries[identity] = view.ts ?? from }
                thisReplay.append(identity)
                printed += 1
                return true
            },
            shouldStop: { [unowned self] in interruption })
    }

    /// An archive entry's identity: its room and id, or for an entry
    /// without one, its room, payload and time.
    private static func identity(_ view: MessageView) -> Int {
        var h = Hasher()
        h.combine(bytes: view.channel)
        if let id = view.id {
            h.combine(bytes: id)
        } else {
            h.combine(bytes: view.payload)
            h.combine(view.ts)
        }
        return h.finalize()
    }

    /// Formats one batch: drops repeated deliveries of one PUBLISH,
    /// the handoff's marker and duplicates, ignored channels and
    /// non-matching messages.
    private func process(_ batch: MessageBatch) throws(RoomWardenError) {
        let limit = options.count ?? .max
        let ts = batch.receivedAt
        var writeFailure: RoomWardenError?
        if replay != nil { recent.add(batch) }
        batch.forEach { (pattern, channel, payload) -> Bool in
            if mayRepeat && copies.isCopy(pattern: pattern, channel: channel, payload: payload) { return true }
            if let handoff, !handoff.admit(channel: channel, payload: payload) { return true }
            if !ignore.isEmpty && isIgnored(channel) { return true }
            if let grep, !grep.matches(payload) { return true }
            formatter.append(MessageView(ts: ts, channel: channel, pattern: pattern, payload: payload), to: &sink.buffer)
            archive?.add(channel: channel, payload: payload, ts: ts)
            printed += 1
            if printed >= limit { return false }
            if sink.buffer.count >= 256 * 1024 {
                do { try sink.flush() } catch {
                    writeFailure = error as? RoomWardenError ?? .failure("\(error)")
                    return false
                }
            }
            return true
        }
        if let writeFailure { throw writeFailure }
        try sink.flushIfFull()
    }

    private func isIgnored(_ channel: UnsafeRawBufferPointer) -> Bool {
        let key = Array(channel)
        if let known = ignored[key] { return known }
        let answer = ignore.contains { $0.matches(channel) }
        if ignored.count > 100_000 { ignored.removeAll() }
        ignored[key] = answer
        return answer
    }

    private static func unique(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    static func clock(_ ms: Int64) -> String {
        var stamper = TimeStamper(local: false)
        var out: [UInt8] = []
        stamper.append(ms, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        let (seconds, attoseconds) = d.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// `6.2s`: a span in seconds, to a tenth.
    static func seconds(_ ms: Int64) -> String {
        let tenths = (max(0, ms) + 50) / 100
        return "\(tenths / 10).\(tenths % 10)s"
    }

    static func span(_ ms: Int64) -> String {
        ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }
}

/// Tells the copies of one PUBLISH that overlapping subscriptions bring
/// from a new message, exactly, without matching any pattern: Redis sends
/// the copies back to back, the channel subscription's first, then one
/// per matching pattern (`pubsubPublishMessage`), and never two copies of
/// one PUBLISH through one subscription. So a message is a copy of the one
/// before it when it has the same channel and payload and comes through a
/// pattern that message has not come through yet.
struct CopyFilter {
    private var channel: [UInt8] = []
    private var payload: [UInt8] = []
    private var patterns: [[UInt8]] = []
    private var active = false

    /// True if this delivery is another copy of the message before it.
    mutating func isCopy(pattern: UnsafeRawBufferPointer?, channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> Bool {
        if active, let pattern, channel.elementsEqual(self.channel), payload.elementsEqual(self.payload),
           !patterns.contains(where: { pattern.elementsEqual($0) }) {
            patterns.append(Array(pattern))
            return true
        }
        active = true
        self.channel.removeAll(keepingCapacity: true)
        self.channel.append(contentsOf: channel)
        self.payload.removeAll(keepingCapacity: true)
        self.payload.append(contentsOf: payload)
        patterns.removeAll(keepingCapacity: true)
        if let pattern { patterns.append(Array(pattern)) }
        return false
    }

    /// Forgets the last message: what comes next is new (a new link, or
    /// messages dropped in between).
    mutating func reset() { active = false }
}
