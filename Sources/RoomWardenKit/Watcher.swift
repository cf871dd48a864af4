import Foundation
import Hiredis

/// What `watch` listens to and when it stops (SPEC §5).
public struct WatchOptions: Sendable {
    /// PSUBSCRIBE patterns.
    public var patterns: [String] = ["room:*"]
    /// SUBSCRIBE channels (`-c`).
    public var channels: [String] = []
    /// Channels to leave out (`--ignore`).
    public var ignore: [String] = []
    /// Keep only messages matching this regular expression (`--grep`).
    public var grep: String?
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
    private let grep: NSRegularExpression?
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
        if let g = options.grep {
            do { grep = try NSRegularExpression(pattern: g) } catch {
                throw .usage("--grep '\(g)' is not a regular expression: \(error.localizedDescription)")
            }
        } else {
            grep = nil
        }
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
        let reader = Thread { SubscriptionReader(settings: settings, options: options, queue: queue).run() }
        reader.stackSize = 1 << 20
        reader.start()
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
            if let grep {
                let text = String(decoding: payload, as: UTF8.self)
                if grep.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil { return true }
            }
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

/// The socket side of watch: subscribes, drains, heartbeats, reconnects.
/// Lives on its own thread and talks to the writer only through the queue.
private final class SubscriptionReader {
    let settings: ConnectionSettings
    let options: WatchOptions
    let queue: WatchQueue

    init(settings: ConnectionSettings, options: WatchOptions, queue: WatchQueue) {
        self.settings = settings
        self.options = options
        self.queue = queue
    }

    func run() {
        var connection: Connection
        do {
            connection = try subscribe()
        } catch {
            queue.finish(.failed(error))
            return
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var decoder = PushDecoder()
        var batch = MessageBatch()
        var lastHeard = Monotonic.milliseconds()
        var pingSent: Int64? = nil
        let heartbeat = max(options.heartbeatMilliseconds, 100)
        var confirmed = 0
        let expected = options.patterns.count + options.channels.count
        while true {
            do {
                var refused: String?
                let waitFor = Int32(clamping: min(heartbeat, 1000))
                let got = try connection.receive(timeoutMilliseconds: waitFor, buffer: buffer, decoder: &decoder, into: &batch) { reply in
                    if let line = reply.errorMessage, refused == nil { refused = line }
                    if let kind = reply.elements?.first?.bytes, kind == Array("psubscribe".utf8) || kind == Array("subscribe".utf8) {
                        confirmed += 1
                    }
                }
                if confirmed >= expected { queue.markSubscribed() }
                let now = Monotonic.milliseconds()
                if case .bytes = got {
                    lastHeard = now
                    pingSent = nil
                    if batch.count > 0 {
                        batch.receivedAt = Clock.nowMilliseconds()
                        queue.push(batch)
                        batch = MessageBatch()
                    }
                }
                if let refused {
                    queue.finish(.failed(RoomWardenError.from(.server(refused), doing: "subscribing", endpoint: settings.endpoint)))
                    return
                }
                if let sent = pingSent, now - sent >= heartbeat {
                    throw RedisError.timeout("no answer to PING within \(Watcher.span(heartbeat))")
                }
                if pingSent == nil, now - lastHeard >= heartbeat {
                    try connection.append([Array("PING".utf8)])
                    try connection.flush()
                    pingSent = now
                }
            } catch {
                guard options.reconnect else {
                    queue.finish(.failed(.unreachable("lost the connection to Redis at \(settings.endpoint): \(error); not reconnecting (--no-reconnect)")))
                    return
                }
                let lostAt = Clock.nowMilliseconds()
                let lostMono = Monotonic.milliseconds()
                queue.notice("lost the connection to Redis at \(settings.endpoint): \(error); reconnecting")
                decoder.reset()
                batch.removeAll()
                guard let again = reconnect() else { return }
                connection = again
                let back = Clock.nowMilliseconds()
                let took = Double(Monotonic.milliseconds() - lostMono) / 1000
                queue.notice("reconnected to Redis at \(settings.endpoint) after \(String(format: "%.1f", took))s; messages published between \(Watcher.clock(lostAt)) and \(Watcher.clock(back)) were not received")
                lastHeard = Monotonic.milliseconds()
                pingSent = nil
            }
        }
    }

    /// Tries again with capped exponential backoff and jitter until it
    /// works; nil (with the queue finished) if it never can: a password
    /// or ACL that the server now refuses.
    private func reconnect() -> Connection? {
        var attempt = 0
        while true {
            let cap = 5000.0
            let base = min(cap, 100 * pow(2, Double(attempt)))
            let delay = base * Double.random(in: 0.5...1.0)
            usleep(UInt32(delay * 1000))
            do {
                return try subscribe()
            } catch {
                if error.exitCode == 77 || error.exitCode == 64 {
                    queue.finish(.failed(error))
                    return nil
                }
                attempt += 1
                if attempt % 20 == 0 {
                    queue.notice("still trying to reach Redis at \(settings.endpoint): \(error.message)")
                }
            }
        }
    }

    private func subscribe() throws(RoomWardenError) -> Connection {
        let c = try settings.connect()
        do {
            if !options.patterns.isEmpty {
                try c.append([Array("PSUBSCRIBE".utf8)] + options.patterns.map { Array($0.utf8) })
            }
            if !options.channels.isEmpty {
                try c.append([Array("SUBSCRIBE".utf8)] + options.channels.map { Array($0.utf8) })
            }
            try c.flush()
        } catch {
            throw RoomWardenError.from(error, doing: "subscribing", endpoint: settings.endpoint)
        }
        return c
    }
}

/// Notices a reader that closed its end of a pipe even when no message
/// comes to be written (`watch | head -1` on a quiet server).
enum StdoutWatch {
    static func start(queue: WatchQueue) {
        var st = stat()
        guard fstat(1, &st) == 0, (st.st_mode & S_IFMT) == S_IFIFO || (st.st_mode & S_IFMT) == S_IFSOCK else { return }
        let thread = Thread {
            var pfd = pollfd(fd: 1, events: 0, revents: 0)
            while true {
                let r = poll(&pfd, 1, -1)
                if r > 0 && pfd.revents & Int16(POLLERR | POLLHUP) != 0 {
                    queue.finish(.stdoutClosed)
                    return
                }
                if r < 0 && errno != EINTR { return }
            }
        }
        thread.stackSize = 64 * 1024
        thread.start()
    }
}
