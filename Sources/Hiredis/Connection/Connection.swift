internal import CHiredis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One connection to Redis: the single owner of a hiredis context.
///
/// Commands go through the `*Argv` functions with every length given, so
/// arguments are binary-safe. Every reply is copied into a `Reply` and freed
/// at once.
///
/// Replies are read in the order the commands were queued, and each belongs
/// to whoever queued its command: `append` returns a `Ticket`, and only that
/// ticket reads those replies (`reply(to:)`, `replies(to:)`). Reading a
/// ticket's reply while an earlier reply is still owed to someone else is a
/// programming error that stops the program, never a silent mix-up; a
/// caller that no longer wants replies it asked for `abandon`s them, and
/// they are read and dropped when a later reply is wanted.
///
/// A command that puts the connection in subscribed mode (`SUBSCRIBE`,
/// `PSUBSCRIBE`, `SSUBSCRIBE`) gets no reply in that line: from then on
/// everything the server sends is subscription traffic, read with
/// `receive`.
public final class Connection {
    private let context: UnsafeMutablePointer<redisContext>
    /// Where this connection goes.
    public let endpoint: Endpoint
    /// The longest wait for the next byte of a reply, or for a write to
    /// make progress; nil waits for ever. See `setTimeout`.
    public private(set) var replyTimeout: Duration?
    /// Replies queued for (numbered from 0) and replies read.
    private var queued: UInt64 = 0
    private var taken: UInt64 = 0
    /// Replies whose callers gave them up, read and dropped in passing.
    private var abandoned: [Range<UInt64>] = []
    /// In subscribed mode: no reply is queued for any command.
    public private(set) var isSubscribed = false

    /// A caller's place in the line of replies: the replies to the commands
    /// it queued with one `append`.
    public struct Ticket: Sendable, Hashable {
        fileprivate let first: UInt64
        /// How many replies it stands for.
        public let count: Int
    }

    /// Connects, failing after `connectTimeout`.
    public init(endpoint: Endpoint, connectTimeout: Duration) throws(RedisError) {
        self.endpoint = endpoint
        // hiredis writes with write(2): a peer that went away must be an
        // error to handle, not a signal that kills the process.
        signal(SIGPIPE, SIG_IGN)
        let tv = Connection.timeval(connectTimeout)
        let made: UnsafeMutablePointer<redisContext>?
        switch endpoint {
        case .tcp(let host, let port): made = redisConnectWithTimeout(host, Int32(port), tv)
        case .unix(let path): made = redisConnectUnixWithTimeout(path, tv)
        }
        guard let ctx = made else {
            throw .connect(endpoint: endpoint.description, reason: "out of memory")
        }
        if ctx.pointee.err != 0 {
            let reason = ErrorText.of(ctx.pointee.errstr)
            redisFree(ctx)
            throw .connect(endpoint: endpoint.description, reason: Connection.friendly(reason))
        }
        context = ctx
        if case .tcp = endpoint { _ = redisEnableKeepAlive(ctx) }
    }

    deinit { redisFree(context) }

    /// The socket, for poll(2).
    public var fileDescriptor: Int32 { context.pointee.fd }

    /// How many replies are owed: queued and not yet read (abandoned ones
    /// included).
    public var pendingReplies: Int { Int(queued - taken) }

    /// Sets the longest wait for a reply: a reply whose next byte does not
    /// come within `timeout`, or a write that makes no progress for that
    /// long, fails with `RedisError.timeout`. nil waits for ever.
    public func setTimeout(_ timeout: Duration?) throws(RedisError) {
        // SO_SNDTIMEO bounds each write(2); reads wait in poll(2).
        let tv = timeout.map(Connection.timeval) ?? Glibc.timeval(tv_sec: 0, tv_usec: 0)
        if redisSetTimeout(context, tv) != REDIS_OK { throw currentError() }
        replyTimeout = timeout
    }

    // MARK: Queueing commands

    /// Queues one command in the output buffer (pipelining); nothing is
    /// sent until a reply is read or `flush` is called.
    @discardableResult
    public func append(_ command: Command) throws(RedisError) -> Ticket {
        try append(command.arguments)
    }

    /// Queues one command given as arguments, the name first.
    @discardableResult
    public func append(_ args: [[UInt8]]) throws(RedisError) -> Ticket {
        let status = Connection.withArgv(args) { argc, argv, lens in
            redisAppendCommandArgv(context, argc, argv, lens)
        }
        if status != REDIS_OK { throw currentError() }
        if let name = args.first, Command.entersSubscribedMode(name) { isSubscribed = true }
        return enqueue(isSubscribed ? 0 : 1)
    }

    /// Queues every command of a batch, handed to hiredis whole
    /// (`redisAppendFormattedCommand`): the pipelining hot path makes no
    /// formatting call per argument. One reply per command, up to a
    /// command that enters subscribed mode.
    @discardableResult
    public func append(_ batch: CommandBatch) throws(RedisError) -> Ticket {
        guard !batch.bytes.isEmpty else { return enqueue(0) }
        let status = batch.bytes.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        if status != REDIS_OK { throw currentError() }
        let answered = isSubscribed ? 0 : batch.firstSubscription ?? batch.count
        if batch.firstSubscription != nil { isSubscribed = true }
        return enqueue(answered)
    }

    private func enqueue(_ count: Int) -> Ticket {
        let ticket = Ticket(first: queued, count: count)
        queued += UInt64(count)
        return ticket
    }

    /// What hiredis' own `redisFormatCommandArgv` makes of `args` (tests
    /// compare batches with it).
    package static func hiredisFormat(_ args: [[UInt8]]) -> [UInt8] {
        var out: UnsafeMutablePointer<CChar>?
        let n = withArgv(args) { argc, argv, lens in redisFormatCommandArgv(&out, argc, argv, lens) }
        guard n > 0, let out else { return [] }
        defer { redisFreeCommand(out) }
        return out.withMemoryRebound(to: UInt8.self, capacity: Int(n)) { Array(UnsafeBufferPointer(start: $0, count: Int(n))) }
    }

    /// Calls `body` with the argc, argv and lengths arrays hiredis' Argv
    /// functions take, pointing into one flat copy of `args` that lives
    /// for the call.
    private static func withArgv<R>(
        _ args: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int>?) -> R
    ) -> R {
        var flat: [UInt8] = []
        for a in args { flat += a }
        if flat.isEmpty { flat = [0] }  // a valid base address even when every argument is empty
        return flat.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!)
            var argv: [UnsafePointer<CChar>?] = []
            var lens: [Int] = []
            var offset = 0
            for a in args {
                argv.append((base + offset).assumingMemoryBound(to: CChar.self))
                lens.append(a.count)
                offset += a.count
            }
            return argv.withUnsafeMutableBufferPointer { av in
                lens.withUnsafeBufferPointer { lv in body(Int32(args.count), av.baseAddress, lv.baseAddress) }
            }
        }
    }

    /// Writes everything queued to the socket. A write that makes no
    /// progress for the reply timeout fails with `.timeout`.
    public func flush() throws(RedisError) {
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK { throw currentError() }
        }
    }

    // MARK: Reading replies

    /// Sends one command and waits for its reply. Server errors come back as
    /// `.error` replies; only the link failing throws.
    public func command(_ command: Command) throws(RedisError) -> Reply {
        try self.command(command.arguments)
    }

    /// Sends one command given as arguments and waits for its reply. For a
    /// command that enters subscribed mode (or any command once subscribed),
    /// the reply is the next thing the server sends: for the first
    /// `SUBSCRIBE`, its confirmation or its error.
    public func command(_ args: [[UInt8]]) throws(RedisError) -> Reply {
        let ticket = try append(args)
        guard ticket.count == 0, isSubscribed else { return try reply(to: ticket) }
        try dropAbandoned(before: queued)
        precondition(taken == queued, "a subscribed command's reply would be read before \(queued - taken) owed replies")
        let raw = try nextRaw()
        defer { freeReplyObject(raw) }
        return Reply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Sends one command made of text arguments and waits for its reply.
    public func command(_ args: String...) throws(RedisError) -> Reply {
        try command(args.map { Array($0.utf8) })
    }

    /// The reply of a one-command ticket (sending what is queued first).
    public func reply(to ticket: Ticket) throws(RedisError) -> Reply {
        precondition(ticket.count == 1, "reply(to:) is for a ticket of one command; this one has \(ticket.count)")
        return try withRaw(ticket.first) { Reply(copying: $0) }
    }

    /// The replies of a ticket, in order.
    public func replies(to ticket: Ticket) throws(RedisError) -> [Reply] {
        var out: [Reply] = []
        out.reserveCapacity(ticket.count)
        for i in 0..<UInt64(ticket.count) { out.append(try withRaw(ticket.first + i) { Reply(copying: $0) }) }
        return out
    }

    /// Reads a one-command ticket's reply without copying an array's
    /// elements: for an array, calls `body` with each element's bytes in
    /// order (nil for anything but a bulk string) and returns nil; any
    /// other reply is returned as it is. Each view points into hiredis'
    /// reply, which is freed when this returns: `body` must copy what it
    /// keeps.
    public func readArray(for ticket: Ticket, _ body: (UnsafeRawBufferPointer?) -> Void) throws(RedisError) -> Reply? {
        precondition(ticket.count == 1, "readArray(for:) is for a ticket of one command; this one has \(ticket.count)")
        return try withRaw(ticket.first) { reply -> Reply? in
            guard reply.pointee.type == REDIS_REPLY_ARRAY else { return Reply(copying: reply) }
            for i in 0..<reply.pointee.elements {
                guard let e = reply.pointee.element[i], e.pointee.type == REDIS_REPLY_STRING else { body(nil); continue }
                body(UnsafeRawBufferPointer(start: e.pointee.str, count: e.pointee.len))
            }
            return nil
        }
    }

    /// Gives up the replies of `ticket`: they are read and dropped when a
    /// later reply is wanted.
    public func abandon(_ ticket: Ticket) {
        guard ticket.count > 0 else { return }
        let range = ticket.first..<(ticket.first + UInt64(ticket.count))
        guard range.upperBound > taken else { return }
        abandoned.append(max(range.lowerBound, taken)..<range.upperBound)
    }

    /// The next reply in line, for a connection with one user that reads
    /// its replies in the order it queued them. Callers that share a
    /// connection read with their tickets instead.
    public func readReply() throws(RedisError) -> Reply {
        try dropAbandoned(before: queued)
        precondition(taken < queued, "readReply() with no reply pending: it would wait for ever")
        return try withRaw(taken) { Reply(copying: $0) }
    }

    /// The next `count` replies in line (see `readReply`).
    public func readReplies(_ count: Int) throws(RedisError) -> [Reply] {
        var out: [Reply] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(try readReply()) }
        return out
    }

    /// Reads reply number `number` and hands it to `body`, then frees it.
    private func withRaw<R>(_ number: UInt64, _ body: (UnsafePointer<redisReply>) -> R) throws(RedisError) -> R {
        precondition(number >= taken, "reply \(number) was read already")
        precondition(number < queued, "reply \(number) was never asked for")
        try dropAbandoned(before: number)
        precondition(taken == number, "reply \(taken) belongs to another caller: it must be read (or abandoned) before reply \(number)")
        let raw = try nextRaw()
        taken += 1
        defer { freeReplyObject(raw) }
        return body(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Reads and drops abandoned replies while they come before `number`.
    private func dropAbandoned(before number: UInt64) throws(RedisError) {
        while taken < number, let i = abandoned.firstIndex(where: { $0.contains(taken) }) {
            freeReplyObject(try nextRaw())
            taken += 1
            if abandoned[i].upperBound <= taken { abandoned.remove(at: i) }
        }
    }

    /// The next whole reply: one hiredis already holds, else one read off
    /// the socket (after sending what is queued). Fails with `.timeout`
    /// when no byte comes for the reply timeout. The caller frees it.
    private func nextRaw() throws(RedisError) -> UnsafeMutableRawPointer {
        if let raw = try replyFromReader() { return raw }
        try flush()
        while true {
            try waitForBytes()
            if redisBufferRead(context) != REDIS_OK { throw currentError() }
            if let raw = try replyFromReader() { return raw }
        }
    }

    private func replyFromReader() throws(RedisError) -> UnsafeMutableRawPointer? {
        var raw: UnsafeMutableRawPointer?
        if redisGetReplyFromReader(context, &raw) != REDIS_OK { throw currentError() }
        return raw
    }

    /// Waits until the socket has bytes (or its end), for at most the
    /// reply timeout.
    private func waitForBytes() throws(RedisError) {
        let wait = replyTimeout.map { Int32(clamping: Connection.milliseconds($0)) } ?? -1
        let events: Int16
        do {
            events = try Syscall.poll(context.pointee.fd, events: Int16(POLLIN), timeoutMilliseconds: wait)
        } catch {
            throw .io(error.description)
        }
        if events == 0 { throw timeoutError() }
    }

    // MARK: Subscribed mode

    /// What one wait for subscription traffic brought.
    public enum Received {
        /// This many bytes arrived and were decoded.
        case bytes(Int)
        /// Nothing arrived within the timeout.
        case idle
    }

    /// Hands each complete message hiredis' reader already holds to `body`;
    /// if there was none, waits up to `timeoutMilliseconds` for bytes, reads
    /// what is there (one large read) and hands over each complete message,
    /// decoded by hiredis' own reader. Partial messages stay buffered for
    /// the next call. Throws when the server closes the link or it fails.
    public func receive(
        timeoutMilliseconds: Int32,
        buffer: UnsafeMutableRawBufferPointer,
        _ body: (SubscriptionEvent) -> Void
    ) throws(RedisError) -> Received {
        if try deliverBuffered(body) > 0 { return .bytes(0) }
        guard let n = try readAvailable(timeoutMilliseconds: timeoutMilliseconds, into: buffer),
              let base = buffer.baseAddress else { return .idle }
        let fed = base.withMemoryRebound(to: CChar.self, capacity: n) { redisReaderFeed(context.pointee.reader, $0, n) }
        if fed != REDIS_OK { throw currentError() }
        _ = try deliverBuffered(body)
        return .bytes(n)
    }

    /// Hands every complete reply in hiredis' reader to `body`; returns how many.
    private func deliverBuffered(_ body: (SubscriptionEvent) -> Void) throws(RedisError) -> Int {
        let reader = context.pointee.reader
        var count = 0
        while true {
            var raw: UnsafeMutableRawPointer?
            if redisReaderGetReply(reader, &raw) != REDIS_OK {
                throw .protocolError(reader.map { ErrorText.of($0.pointee.errstr) } ?? "reader gone")
            }
            guard let raw else { return count }
            defer { freeReplyObject(raw) }
            body(SubscriptionEvent(decoding: raw.assumingMemoryBound(to: redisReply.self)))
            count += 1
        }
    }

    /// The subscribe loop's read: waits up to `timeoutMilliseconds`, reads
    /// what is there into `buffer` (one large read) and decodes it with
    /// `decoder` into `batch` (messages) and `replies` (everything else).
    /// Reads the socket directly, past hiredis' reader: bytes that reader
    /// had already taken in (read along with the last reply) are decoded
    /// first, by the same call, before the socket is read again. Only for a
    /// connection that owes no reply.
    public func receive(
        timeoutMilliseconds: Int32,
        buffer: UnsafeMutableRawBufferPointer,
        decoder: inout PushDecoder,
        into batch: inout MessageBatch,
        replies: (Reply) -> Void
    ) throws(RedisError) -> Received {
        precondition(pendingReplies == 0, "receive(decoder:) would take \(pendingReplies) replies owed to other callers")
        if let reader = context.pointee.reader, reader.pointee.pos < reader.pointee.len, let buf = reader.pointee.buf {
            precondition(reader.pointee.ridx == -1, "hiredis is in the middle of a reply")
            let held = UnsafeRawBufferPointer(start: buf + reader.pointee.pos, count: reader.pointee.len - reader.pointee.pos)
            reader.pointee.pos = reader.pointee.len  // taken over: hiredis will not read these bytes again
            try decoder.decode(held, into: &batch, replies: replies)
            return .bytes(held.count)
        }
        guard let n = try readAvailable(timeoutMilliseconds: timeoutMilliseconds, into: buffer) else { return .idle }
        try decoder.decode(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), into: &batch, replies: replies)
        return .bytes(n)
    }

    /// One poll and one read of the socket: the byte count, or nil when
    /// nothing came in time.
    private func readAvailable(timeoutMilliseconds: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(RedisError) -> Int? {
        let fd = context.pointee.fd
        do {
            if try Syscall.poll(fd, events: Int16(POLLIN), timeoutMilliseconds: timeoutMilliseconds) == 0 { return nil }
            let n = try Syscall.read(fd, into: buffer)
            if n == 0 { throw RedisError.closed }
            return n
        } catch let error as SystemError {
            if error.code == EAGAIN || error.code == EWOULDBLOCK { return nil }
            throw .io(error.description)
        } catch let error as RedisError {
            throw error
        } catch {
            throw .io("\(error)")
        }
    }

    // MARK: Errors

    private func currentError() -> RedisError {
        let text = ErrorText.of(context.pointee.errstr)
        switch context.pointee.err {
        case REDIS_ERR_EOF: return .closed
        case REDIS_ERR_PROTOCOL: return .protocolError(text)
        case REDIS_ERR_IO:
            // EAGAIN from a blocking socket: SO_SNDTIMEO ran out.
            if text.contains("temporarily unavailable") || text.contains("timed out") { return timeoutError() }
            return .io(Connection.friendly(text))
        default: return .io(text)
        }
    }

    private func timeoutError() -> RedisError {
        .timeout("did not answer for \(replyTimeout.map(Connection.span) ?? "a long time")")
    }

    /// hiredis says "Resource temporarily unavailable" for a connect timeout.
    private static func friendly(_ reason: String) -> String {
        reason.contains("temporarily unavailable") ? "Connection timed out" : reason
    }

    private static func milliseconds(_ d: Duration) -> Int64 {
        let (seconds, attos) = d.components
        return seconds.multipliedReportingOverflow(by: 1000).overflow ? .max : seconds * 1000 + attos / 1_000_000_000_000_000
    }

    /// `30s`, `1.5s`, `500ms`: a duration as the user wrote it.
    static func span(_ d: Duration) -> String {
        let ms = milliseconds(d)
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        if ms > 1000 && ms % 100 == 0 { return "\(ms / 1000).\(ms % 1000 / 100)s" }
        return "\(ms)ms"
    }

    private static func timeval(_ d: Duration) -> Glibc.timeval {
        let (seconds, attos) = d.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attos / 1_000_000_000_000))
    }
}

@available(*, unavailable)
extension Connection: Sendable {}
