import Dispatch
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

    public init() {}
}

/// The all-rooms observer. One thread drains the socket into a bounded
/// queue as fast as Redis sends; the calling thread formats and writes.
public final class Watcher {
    private let settings: ConnectionSettings
    private let options: WatchOptions
    private var formatter: MessageFormatter
    private let sink: OutputSink
    private let grep: GrepFilter?
    private let ignore: [Glob]
    private let subscriptions: [Glob]
    private let channelSubscriptions: [[UInt8]]
    private let mayRepeat: Bool
    private var channelInfo: [[UInt8]: (copies: Int, ignored: Bool)] = [:]
    private var skip = 0
    private var lastChannel: [UInt8] = []
    private var lastPayload: [UInt8] = []
    private var printed = 0
    private let archive: ArchiveWriter?

    public init(settings: ConnectionSettings, options: WatchOptions, formatter: MessageFormatter, sink: OutputSink) throws(RoomWardenError) {
        self.settings = settings
        self.options = options
        self.formatter = formatter
        self.sink = sink
        grep = try options.grep.map { (g: String) throws(RoomWardenError) in try GrepFilter(g, ignoreCase: options.grepIgnoresCase) }
        ignore = options.ignore.map { Glob($0) }
        subscriptions = options.patterns.map { Glob($0) }
        channelSubscriptions = options.channels.map { Array($0.utf8) }
        mayRepeat = options.patterns.count + options.channels.count > 1
        archive = options.archive.map { ArchiveWriter(settings: settings, template: $0) }
    }

    private var queue: WatchQueue?
    private var signalSources: [DispatchSourceSignal] = []
    /// Decides, for a live message, whether to print it (history --follow
    /// drops the ones it already printed from the archive).
    public var admit: ((_ channel: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) -> Bool)?

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
        signalSources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { queue.finish(.signal(sig)) }
            source.resume()
            return source
        }
        StdoutWatch.start(queue: queue)
        let settings = self.settings, options = self.options
        Threads.start(stackSize: 1 << 20) { SubscriptionReader(settings: settings, options: options, queue: queue).run() }
    }

    /// Waits until the server confirmed every subscription; throws if the
    /// watch ended first (unreachable, refused, interrupted).
    public func waitUntilSubscribed() throws(RoomWardenError) {
        guard let queue else { return }
        if let end = queue.waitUntilSubscribed() { throw Watcher.error(for: end) ?? .stdoutClosed }
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
        case .stdoutClosed: return nil
        case .failed(let error): return error
        }
    }

    /// Prints what the reader thread queues, until a stop condition.
    public func consume() throws(RoomWardenError) {
        guard let queue else { return }
        defer { signalSources.forEach { $0.cancel() } }
        let started = Monotonic.milliseconds()
        var lastMessage = started
        while true {
            var deadline: Int64? = nil
            if let d = options.durationMilliseconds { deadline = started + d }
            if let w = options.waitMilliseconds { deadline = min(deadline ?? .max, lastMessage + w) }
            let (items, end) = queue.take(until: deadline)
            var released = 0
            let before = printed
            for item in items {
                switch item {
                case .messages(let batch):
                    released += batch.footprint
                    if printed < options.count ?? .max { try process(batch) }
                case .dropped(let n, let from, let to):
                    try sink.flush()
                    printDiagnostic("buffer full (--buffer \(options.bufferBytes >> 20)MB): dropped \(n) messages received between \(Watcher.clock(from)) and \(Watcher.clock(to)): stdout was not read fast enough")
                case .notice(let text):
                    try sink.flush()
                    printDiagnostic(text)
                }
            }
            queue.release(released)
            try archive?.commit()
            if printed > before { lastMessage = Monotonic.milliseconds() }
            if let count = options.count, printed >= count {
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

    /// Formats one batch: drops repeated deliveries of one PUBLISH,
    /// ignored channels and non-matching messages.
    private func process(_ batch: MessageBatch) throws(RoomWardenError) {
        let limit = options.count ?? .max
        let ts = batch.receivedAt
        var writeFailure: RoomWardenError?
        batch.forEach { (pattern, channel, payload) -> Bool in
            if mayRepeat || !ignore.isEmpty {
                if skip > 0 {
                    skip -= 1
                    if channel.elementsEqual(lastChannel) && payload.elementsEqual(lastPayload) { return true }
                    skip = 0
                }
                let info = lookup(channel)
                if info.copies > 1 {
                    skip = info.copies - 1
                    lastChannel = Array(channel)
                    lastPayload = Array(payload)
                }
                if info.ignored { return true }
            }
            if let admit, !admit(channel, payload) { return true }
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

    /// How many copies of one PUBLISH to `channel` Redis sends us, and
    /// whether it is ignored.
    private func lookup(_ channel: UnsafeRawBufferPointer) -> (copies: Int, ignored: Bool) {
        let key = Array(channel)
        if let known = channelInfo[key] { return known }
        var copies = subscriptions.filter { $0.matches(channel) }.count
        copies += channelSubscriptions.filter { $0 == key }.count
        let info = (copies: max(copies, 1), ignored: ignore.contains { $0.matches(channel) })
        if channelInfo.count > 100_000 { channelInfo.removeAll() }
        channelInfo[key] = info
        return info
    }

    static func clock(_ ms: Int64) -> String {
        var stamper = TimeStamper(local: false)
        var out: [UInt8] = []
        stamper.append(ms, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func span(_ ms: Int64) -> String {
        ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }
}
