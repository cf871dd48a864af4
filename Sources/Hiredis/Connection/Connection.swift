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
public final class Connection {
    private let context: UnsafeMutablePointer<redisContext>
    /// Where this connection goes.
    public let endpoint: Endpoint

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
            let reason = Connection.errorText(ctx)
            redisFree(ctx)
            throw .connect(endpoint: endpoint.description, reason: Connection.friendly(reason))
        }
        context = ctx
        if case .tcp = endpoint { _ = redisEnableKeepAlive(ctx) }
    }

    deinit { redisFree(context) }

    /// The socket, for poll(2).
    public var fileDescriptor: Int32 { context.pointee.fd }

    /// Sets how long a blocking read or write may wait; nil waits for ever.
    public func setTimeout(_ timeout: Duration?) throws(RedisError) {
        let tv = timeout.map(Connection.timeval) ?? Glibc.timeval(tv_sec: 0, tv_usec: 0)
        if redisSetTimeout(context, tv) != REDIS_OK { throw currentError() }
    }

    // MARK: Commands

    /// Sends one command and waits for its reply. Server errors come back as
    /// `.error` replies; only the link failing throws.
    public func command(_ args: [[UInt8]]) throws(RedisError) -> Reply {
        try append(args)
        return try readReply()
    }

    /// Sends one command made of text arguments and waits for its reply.
    public func command(_ args: String...) throws(RedisError) -> Reply {
        try command(args.map { Array($0.utf8) })
    }

    /// Queues one command in the output buffer (pipelining); nothing is sent yet.
    public func append(_ args: [[UInt8]]) throws(RedisError) {
        try appendArgv(args)
    }

    /// Queues every command of a batch in the output buffer, handed to
    /// hiredis whole (`redisAppendFormattedCommand`): the pipelining hot path
    /// makes no formatting call per argument.
    public func append(_ batch: CommandBatch) throws(RedisError) {
        guard !batch.bytes.isEmpty else { return }
        let status = batch.bytes.withUnsafeBufferPointer { buf in
            buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                redisAppendFormattedCommand(context, $0, buf.count)
            }
        }
        if status != REDIS_OK { throw currentError() }
    }

    /// Queues one command through hiredis' own `redisAppendCommandArgv`,
    /// every argument with its length (binary-safe).
    public func appendArgv(_ args: [[UInt8]]) throws(RedisError) {
        let status = Connection.withArgv(args) { argc, argv, lens in
            redisAppendCommandArgv(context, argc, argv, lens)
        }
        if status != REDIS_OK { throw currentError() }
    }

    /// What hiredis' own `redisFormatCommandArgv` makes of `args` (tests
    /// compare batches with it).
    static func hiredisFormat(_ args: [[UInt8]]) -> [UInt8] {
        var out: UnsafeMutablePointer<CChar>?
        let n = withArgv(args) { argc, argv, lens in redisFormatCommandArgv(&out, argc, argv, lens) }
        guard n > 0, let out else { return [] }
        defer { redisFreeCommand(out) }
        return out.withMemoryRebound(to: UInt8.self, capacity: Int(n)) { Array(UnsafeBufferPointer(start: $0, count: Int(n))) }
    }

    /// Calls `body` with the argc, argv and lengths arrays hiredis' Argv
    /// functions take, pointing into one flat copy of `args`.
    private static func withArgv<R>(
        _ args: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int>?) -> R
    ) -> R {
        var flat: [UInt8] = []
        for a in args { flat += a }
        return flat.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!)
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

    /// Writes everything queued by `append` to the socket.
    public func flush() throws(RedisError) {
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK { throw currentError() }
        }
    }

    /// Sends what is queued, then waits for the next reply.
    public func readReply() throws(RedisError) -> Reply {
        var raw: UnsafeMutableRawPointer?
        if redisGetReply(context, &raw) != REDIS_OK { throw currentError() }
        guard let raw else { throw RedisError.protocolError("no reply") }
        defer { freeReplyObject(raw) }
        return Reply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Reads the next reply without copying an array's elements: for an
    /// array, calls `body` with each element's bytes in order (nil for
    /// anything but a bulk string; the view lives only during the call)
    /// and returns nil; any other reply is returned as it is.
    public func readArray(_ body: (UnsafeRawBufferPointer?) -> Void) throws(RedisError) -> Reply? {
        var raw: UnsafeMutableRawPointer?
        if redisGetReply(context, &raw) != REDIS_OK { throw currentError() }
        guard let raw else { throw RedisError.protocolError("no reply") }
        defer { freeReplyObject(raw) }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        guard reply.pointee.type == REDIS_REPLY_ARRAY else { return Reply(copying: reply) }
        for i in 0..<reply.pointee.elements {
            guard let e = reply.pointee.element[i], e.pointee.type == REDIS_REPLY_STRING else { body(nil); continue }
            body(UnsafeRawBufferPointer(start: e.pointee.str, count: e.pointee.len))
        }
        return nil
    }

    /// Reads `count` replies of a pipeline, in order.
    public func readReplies(_ count: Int) throws(RedisError) -> [Reply] {
        var out: [Reply] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(try readReply()) }
        return out
    }

    // MARK: Subscribed mode

    /// What one wait for subscription traffic brought.
    public enum Received {
        /// This many bytes arrived and were decoded.
        case bytes(Int)
        /// Nothing arrived within the timeout.
        case idle
    }

    /// Waits up to `timeoutMilliseconds` for bytes, reads what is there (one
    /// large read) and hands each complete message to `body`, decoded by
    /// hiredis' own reader. Partial messages stay buffered for the next
    /// call. Throws when the server closes the link or it fails.
    public func receive(
        timeoutMilliseconds: Int32,
        buffer: UnsafeMutableRawBufferPointer,
        _ body: (SubscriptionEvent) -> Void
    ) throws(RedisError) -> Received {
        guard let n = try readAvailable(timeoutMilliseconds: timeoutMilliseconds, into: buffer) else { return .idle }
        let reader = context.pointee.reader
        let fed = buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: n) {
            redisReaderFeed(reader, $0, n)
        }
        if fed != REDIS_OK { throw currentError() }
        while true {
            var raw: UnsafeMutableRawPointer?
            if redisReaderGetReply(reader, &raw) != REDIS_OK {
                throw .protocolError(Connection.readerError(reader))
            }
            guard let raw else { break }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            body(SubscriptionEvent(decoding: reply))
            freeReplyObject(raw)
        }
        return .bytes(n)
    }

    /// One poll and one read of the socket: the byte count, or nil when
    /// nothing came in time.
    private func readAvailable(timeoutMilliseconds: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(RedisError) -> Int? {
        let fd = context.pointee.fd
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, timeoutMilliseconds)
        if ready < 0 {
            if errno == EINTR { return nil }
            throw .io(String(cString: strerror(errno)))
        }
        if ready == 0 { return nil }
        let n = read(fd, buffer.baseAddress, buffer.count)
        if n == 0 { throw .closed }
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return nil }
            throw .io(String(cString: strerror(errno)))
        }
        return n
    }

    /// The subscribe loop's read: waits up to `timeoutMilliseconds`, reads
    /// what is there into `buffer` (one large read) and decodes it with
    /// `decoder` into `batch` (messages) and `replies` (everything else).
    /// Reads the socket directly, past hiredis' own reader: call it only
    /// once every reply hiredis was waiting for has been read.
    public func receive(
        timeoutMilliseconds: Int32,
        buffer: UnsafeMutableRawBufferPointer,
        decoder: inout PushDecoder,
        into batch: inout MessageBatch,
        replies: (Reply) -> Void
    ) throws(RedisError) -> Received {
        guard let n = try readAvailable(timeoutMilliseconds: timeoutMilliseconds, into: buffer) else { return .idle }
        try decoder.decode(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), into: &batch, replies: replies)
        return .bytes(n)
    }

    // MARK: Errors

    private func currentError() -> RedisError {
        let err = context.pointee.err
        let text = Connection.errorText(context)
        switch err {
        case REDIS_ERR_EOF: return .closed
        case REDIS_ERR_PROTOCOL: return .protocolError(text)
        case REDIS_ERR_IO:
            if text.contains("temporarily unavailable") || text.contains("timed out") {
                return .timeout(text)
            }
            return .io(Connection.friendly(text))
        default: return .io(text)
        }
    }

    private static func errorText(_ ctx: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: &ctx.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func readerError(_ reader: UnsafeMutablePointer<redisReader>?) -> String {
        guard let reader else { return "reader gone" }
        return withUnsafeBytes(of: &reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// hiredis says "Resource temporarily unavailable" for a connect timeout.
    private static func friendly(_ reason: String) -> String {
        reason.contains("temporarily unavailable") ? "Connection timed out" : reason
    }

    private static func timeval(_ d: Duration) -> Glibc.timeval {
        let (seconds, attos) = d.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attos / 1_000_000_000_000))
    }
}

@available(*, unavailable)
extension Connection: Sendable {}
