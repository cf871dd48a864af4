import Hiredis

/// How `publish` archives and trims.
public struct PublishOptions: Sendable {
    /// Where archives live; nil publishes only (`--no-archive`).
    public var archive: ArchiveKeyTemplate? = .standard
    /// Drop archive entries older than this (`--retain`), in ms.
    public var retainMilliseconds: Int64?
    /// Keep at most this many archive entries (`--max-len`).
    public var maxLength: Int?
    /// The publisher's name for the envelope (`--from`).
    public var from: String?
    /// Messages per pipelined batch.
    public var batchSize = 512
    /// Whether `Published.id` is wanted (JSON output); making it costs a
    /// string per message.
    public var reportIDs = true

    public init() {}
}

/// What became of one published message.
public struct Published: Sendable {
    public var id: String?
    public var ts: Int64
    public var receivers: Int64
}

/// Publishes and archives: one `MULTI; ZADD; [trim]; PUBLISH; EXEC` per
/// message, pipelined in batches, every EXEC element checked.
public final class Publisher {
    private let connection: Connection
    private let options: PublishOptions
    private var ids = MessageIDs()
    private var batch = CommandBatch()
    private var envelope: [UInt8] = []
    private var idBytes: [UInt8] = []
    private let fromBytes: [UInt8]?
    private static let multiName = Array("MULTI".utf8), zaddName = Array("ZADD".utf8)
    private static let publishName = Array("PUBLISH".utf8), execName = Array("EXEC".utf8)

    /// One message of a batch awaiting its replies.
    private struct Pending {
        var id: String?
        var ts: Int64
    }

    public init(connection: Connection, options: PublishOptions) {
        self.connection = connection
        self.options = options
        fromBytes = options.from.map { Array($0.utf8) }
    }

    /// Commands queued inside MULTI per message: ZADD, trims, PUBLISH.
    private var queuedPerMessage: Int {
        guard options.archive != nil else { return 1 }
        return 2 + (options.retainMilliseconds == nil ? 0 : 1) + (options.maxLength == nil ? 0 : 1)
    }

    /// Publishes every record `next` yields to `channel`, calling `report`
    /// for each in order. While input keeps coming (`ready` says more is
    /// waiting), messages go out in batches, one batch on the wire while the
    /// replies of the previous one are read; when input pauses, what was read
    /// goes out at once and `idle` is called. Stops after the batch in which
    /// a command failed and throws what failed (exit 65 or 77), with a count
    /// of what was published all the same.
    public func publish(
        channel: [UInt8],
        next: () throws(RoomWardenError) -> [UInt8]?,
        ready: () -> Bool = { true },
        idle: () throws(RoomWardenError) -> Void = {},
        report: (Published) throws(RoomWardenError) -> Void
    ) throws(RoomWardenError) {
        let channelName = String(decoding: channel, as: UTF8.self)
        let key = options.archive?.key(for: channel)
        var inFlight: [Pending] = []
        var upcoming: [Pending] = []
        var failure = FailureTally(channel: channelName, key: key.map { String(decoding: $0, as: UTF8.self) })
        var done = false
        while true {
            batch.removeAll()
            while !done, failure.first == nil, upcoming.count < options.batchSize {
                if !(upcoming.isEmpty && inFlight.isEmpty) && !ready() { break }
                guard let payload = try next() else { done = true; break }
                upcoming.append(add(payload, channel: channel, key: key))
            }
            do {
                if !upcoming.isEmpty {
                    try connection.append(batch)
                    try connection.flush()
                }
                for pending in inFlight {
                    if let receivers = try readResult(failure: &failure) {
                        try report(Published(id: pending.id, ts: pending.ts, receivers: receivers))
                    }
                }
            } catch let error as RedisError {
                throw RoomWardenError.from(error, doing: "publishing to \(channelName)", endpoint: connection.endpoint)
            } catch let error as RoomWardenError {
                throw error
            } catch {
                throw .failure("\(error)")
            }
            if !done && !ready() { try idle() }  // input paused: let reports out now
            swap(&inFlight, &upcoming)
            upcoming.removeAll(keepingCapacity: true)
            if inFlight.isEmpty && (done || failure.first != nil) { break }
        }
        if let error = failure.error() { throw error }
    }

    /// Queues one message's commands in the batch.
    private func add(_ payload: [UInt8], channel: [UInt8], key: [UInt8]?) -> Pending {
        let ts = WallClock.nowMilliseconds()
        guard let key else {
            batch.begin(3); batch.argument(Publisher.publishName); batch.argument(channel); batch.argument(payload)
            return Pending(id: nil, ts: ts)
        }
        idBytes.removeAll(keepingCapacity: true)
        ids.append(ts: ts, to: &idBytes)
        envelope.removeAll(keepingCapacity: true)
        Envelope.appendJSON(id: idBytes, ts: ts, channel: channel, from: fromBytes, payload: payload, to: &envelope)
        batch.begin(1); batch.argument(Publisher.multiName)
        batch.begin(4); batch.argument(Publisher.zaddName); batch.argument(key); batch.argument(ts); batch.argument(envelope)
        if let retain = options.retainMilliseconds {
            batch.begin(4); batch.argument("ZREMRANGEBYSCORE"); batch.argument(key); batch.argument("-inf")
            batch.argument("(\(ts - retain)")
        }
        if let max = options.maxLength {
            batch.begin(4); batch.argument("ZREMRANGEBYRANK"); batch.argument(key); batch.argument("0")
            batch.argument(Int64(-(max + 1)))
        }
        batch.begin(3); batch.argument(Publisher.publishName); batch.argument(channel); batch.argument(payload)
        batch.begin(1); batch.argument(Publisher.execName)
        return Pending(id: options.reportIDs ? String(decoding: idBytes, as: UTF8.self) : nil, ts: ts)
    }

    /// Reads one message's replies; returns its receivers, or nil if it was
    /// not published (the failure is tallied).
    private func readResult(failure: inout FailureTally) throws -> Int64? {
        guard options.archive != nil else {
            let reply = try connection.readReply()
            if let line = reply.errorMessage { failure.note(line, published: false, archived: false); return nil }
            return reply.integer ?? 0
        }
        var queueError: String?
        for _ in 0...queuedPerMessage {  // MULTI's OK and each QUEUED
            let reply = try connection.readReply()
            if let line = reply.errorMessage, queueError == nil { queueError = line }
        }
        let exec = try connection.readReply()
        if let queueError {  // EXECABORT: nothing ran
            failure.note(queueError, published: false, archived: false)
            return nil
        }
        guard let results = exec.elements else {
            failure.note(exec.errorMessage ?? "EXEC did not run", published: false, archived: false)
            return nil
        }
        let publish = results.last ?? .error("no PUBLISH result")
        let zadd = results.first ?? .error("no ZADD result")
        let trimError = results.dropFirst().dropLast().first { $0.errorMessage != nil }?.errorMessage
        if let line = zadd.errorMessage ?? trimError {
            failure.note(line, published: publish.integer != nil, archived: zadd.errorMessage == nil)
        } else if let line = publish.errorMessage {
            failure.note(line, published: false, archived: true)
        }
        return publish.integer
    }
}

/// The first failure of a publish run and how many messages it touched.
private struct FailureTally {
    let channel: String
    let key: String?
    var first: String?
    var firstPublished = false
    var firstArchived = false
    var publishedNotArchived = 0
    var notPublished = 0

    mutating func note(_ line: String, published: Bool, archived: Bool) {
        if !published { notPublished += 1 } else if !archived { publishedNotArchived += 1 }
        if first == nil {
            first = line
            firstPublished = published
            firstArchived = archived
        }
    }

    func error() -> RoomWardenError? {
        guard let line = first else { return nil }
        var what: String
        if firstPublished && !firstArchived {
            what = "the message was published to \(channel) but not archived"
        } else if !firstPublished {
            what = "the message was not published"
        } else {
            what = "the message was published and archived but not trimmed"
        }
        if publishedNotArchived + notPublished > 1 {
            what += " (\(publishedNotArchived) published without archive, \(notPublished) not published; stopped there)"
        }
        let code = RedisError.server(line).serverCode ?? ""
        if code == "WRONGTYPE", let key {
            return .data("archive key '\(key)' holds another type (\(line)); \(what); use --archive-key or another channel")
        }
        if code == "NOPERM" {
            return .denied("Redis denied publishing to \(channel): \(line); \(what) (the ACL user lacks this permission)")
        }
        if code == "NOAUTH" || code == "WRONGPASS" {
            return .denied("Redis requires a password (\(line)); \(what); give it with --askpass, REDISCLI_AUTH, -a or the URL")
        }
        return .data("Redis refused publishing to \(channel): \(line); \(what)")
    }
}
