import Hiredis

/// How `publish` archives, trims, batches and retries.
public struct PublishOptions: Sendable {
    /// Where sorted-set archives live; nil publishes only (`--no-archive`).
    public var archive: ArchiveKeyTemplate? = .standard
    /// Where the recipe's list backlogs live (`--backlog-key`).
    public var backlog: BacklogKeyTemplate = .standard
    /// Drop archive entries older than this (`--retain`), in ms.
    public var retainMilliseconds: Int64?
    /// Keep at most this many archive entries (`--max-len`).
    public var maxLength: Int?
    /// The publisher's name for the envelope (`--from`).
    public var from: String?
    /// Messages per transaction at most: past a few hundred the server's
    /// rate no longer grows while each EXEC holds it longer (BENCHMARKS.md).
    public var batchSize = 512
    /// Bytes per transaction at most (one message may be larger alone).
    public var batchBytes = 4 << 20
    /// How long a lost connection is retried (`--retry-for`).
    public var retry = RetryPolicy(budgetMilliseconds: 30_000)
    /// Which confirmed batches are checked again on a new server after a
    /// switch (sorted-set archives).
    public var recheckWindow = RecheckWindow.standard
    /// Whether `Published.id` is wanted (JSON output); making it costs a
    /// string per message.
    public var reportIDs = true

    public init() {}
}

/// What became of one published message.
public struct Published: Sendable {
    /// Its input line (record) number, from 1.
    public var line: Int
    /// Its envelope id (sorted-set archives, when `reportIDs`).
    public var id: String?
    /// Its time, ms.
    public var ts: Int64
    /// How many subscribers received it; nil when it was found published
    /// after a lost connection took its reply.
    public var receivers: Int64?
}

/// Where messages come from: the lines of stdin, or the one message given.
public protocol MessageSource {
    /// Calls `body` with the next message's bytes (valid during the call);
    /// nil at the end, or when an interrupt cut a wait short.
    func withNext<R>(_ body: (UnsafeRawBufferPointer) -> R) throws(RoomWardenError) -> R?
    /// True if the next message can be had without waiting.
    func ready() -> Bool
    /// Whether messages are numbered lines of an input (stdin), or the one
    /// message given.
    var numbered: Bool { get }
}

extension InputRecords: MessageSource {
    public var numbered: Bool { true }
}

/// The one message given on the command line.
public final class OneMessage: MessageSource {
    private var message: [UInt8]?
    public init(_ message: [UInt8]) { self.message = message }
    public func withNext<R>(_ body: (UnsafeRawBufferPointer) -> R) throws(RoomWardenError) -> R? {
        defer { message = nil }
        return message?.withUnsafeBytes(body)
    }
    public func ready() -> Bool { true }
    public var numbered: Bool { false }
}

/// Publishes and archives (SPEC §6): messages go in batches, each one
/// transaction, one in flight while the next is read and encoded; a batch
/// goes out as soon as the input pauses. Transactions go where the
/// archive key lives (`PublishRoute`: the server named, the Redis Cluster
/// primary of its slot, the sentinels' master, SPEC §10, §11). A lost
/// connection or a redirection is followed and what was in flight is
/// checked, so every message is archived exactly once and published at
/// most once; after a switch to another server, what it may have lost is
/// checked and sent again (published twice, at worst). When it stops
/// short, it throws `PublishStopped`, which says what was confirmed and
/// where to resume.
public final class Publisher {
    private let settings: ConnectionSettings
    private let options: PublishOptions
    private let interruption: Interruption?
    private var ids = MessageIDs()
    private let fromBytes: [UInt8]?
    /// The newest time given so far: times never go back within a run, so
    /// a batch's last envelope is its newest.
    private var lastTs: Int64 = 0

    /// How many times the last `publish` lost the connection and resumed.
    public private(set) var reconnects = 0
    /// How many lines the last `publish` sent again because a new server
    /// (after a failover or a restart) lacked them.
    public private(set) var resentLines = 0
    /// The server publish talked to last.
    public var endpoint: Endpoint { route?.current ?? settings.endpoint }
    /// Whether it follows a Redis Cluster or sentinels (not just the
    /// server named).
    public var followsTopology: Bool {
        if case .single? = route?.kind { return false }
        return route != nil
    }

    /// Largest argument Redis takes by default (`proto-max-bulk-len`).
    static let maxArgument = 512 << 20

    public init(settings: ConnectionSettings, options: PublishOptions, interruption: Interruption? = nil) {
        self.settings = settings
        self.options = options
        self.interruption = interruption
        fromBytes = options.from.map { Array($0.utf8) }
    }

    /// Connects and decides where `channel`'s messages are kept: one round
    /// trip on a single server, which also asks what the server is (`INFO
    /// server`: a Redis Cluster node, and the run id that tells a restarted
    /// server apart) and the link's `CLIENT ID`. On a cluster, the map is
    /// read next and the room's keys are looked at on their owners; behind
    /// sentinels, the master is found first. A list backlog with `--retain`
    /// is a usage error (exit 64); another type at the archive key is
    /// refused (exit 65): nothing is published either way.
    public func prepare(channel: [UInt8]) throws(RoomWardenError) -> ArchiveTarget {
        let name = String(decoding: channel, as: UTF8.self)
        var connection: Connection
        if var sentinels = settings.sentinel {
            sentinels.connectTimeout = settings.connectTimeout
            let topology = try SentinelTopology(resolver: SentinelResolver(settings: sentinels), connect: settings.connector,
                                                retryFor: retryDuration, retryFlag: "--retry-for")
            connection = try topology.connection()
            route = PublishRoute(.sentinel(topology), current: connection.endpoint)
        } else {
            connection = try settings.connect()
            route = PublishRoute(.single(settings), current: connection.endpoint)
        }
        // Publishing only: nothing to look at, and nothing a lost link
        // could be checked against (so no CLIENT ID either): no round trip.
        // On a cluster any node will do: classic pub/sub is cluster-wide.
        guard options.archive != nil else {
            link = TransactionLink(connection: connection, node: connection.endpoint.description, clientID: nil)
            return .none
        }
        var outageStarted: Int64?
        var attempt = 0
        while true {
            let looked: LookedUp
            do {
                looked = try lookUp(channel: channel, on: connection)
            } catch where error.isConnectionFailure {
                // Lost before anything was published: reconnect as publish does.
                let lost = error
                let started = outageStarted ?? Monotonic.milliseconds()
                outageStarted = started
                var unreachable: RoomWardenError?
                let again = { [self] () throws(RoomWardenError) -> Connection in
                    if case .sentinel(let topology)? = route?.kind {
                        var budget = RetryBudget(.zero)
                        return try topology.reresolve(budget: &budget)
                    }
                    return try settings.connect()
                }
                do {
                    connection = try options.retry.reconnect(
                        outageStarted: started, attempt: &attempt, interruption: interruption, lastFailure: &unreachable,
                        connect: again)
                } catch {
                    switch error {
                    case .interrupted(let sig): throw RoomWardenError(exitCode: 128 + sig, "interrupted; nothing was published")
                    case .refused(let refused): throw refused
                    case .budgetSpent:
                        let what = RoomWardenError.from(lost, doing: "looking at the archive before publishing to \(name)",
                                                        endpoint: connection.endpoint).message
                        let notBack = Ledger.notBack(options.retry, last: unreachable ?? .unreachable("\(lost)"), cause: lost)
                        throw .unreachable("\(what); \(notBack); nothing was published")
                    }
                }
                continue
            } catch {
                throw described(error, channel: channel, endpoint: connection.endpoint)
            }
            var (target, head) = looked.decided
            if looked.mode == "sentinel" {
                let seed = connection.endpoint
                throw .usage("\(seed) is a Redis Sentinel, not a data node: use --sentinel \(seed) --master NAME, or -u redis-sentinel://\(seed)#NAME")
            }
            var served = TransactionLink(connection: connection, node: looked.node, clientID: looked.clientID)
            if looked.mode == "cluster", case .single? = route?.kind {
                let cluster = try ClusterTopology(seed: connection, connect: settings.connector, retryFor: retryDuration, retryFlag: "--retry-for")
                route = PublishRoute(.cluster(cluster), current: connection.endpoint)
                if looked.redirected {
                    // The node named does not serve the room's keys: look on their owners.
                    (target, head) = try lookUp(channel: channel, in: cluster)
                    guard let key = target.key, let route else { preconditionFailure("a target with a key") }
                    route.key = key
                    served = try route.open(try cluster.connection(forKey: key))
                }
            }
            if let key = target.key { route?.key = key }
            if case .backlog(let key) = target, options.retainMilliseconds != nil {
                throw .usage("--retain keeps entries by time, but \(name)'s messages go to the list backlog '\(String(decoding: key, as: UTF8.self))', which has no times: use --max-len")
            }
            backlogHead = BacklogHead(entries: head, maxLength: options.maxLength)
            link = served
            return target
        }
    }

    /// What the first round trip found.
    private struct LookedUp {
        var decided: (ArchiveTarget, head: [[UInt8]])
        /// `redis_mode` of `INFO server`: standalone, cluster, sentinel (or
        /// empty when INFO was refused).
        var mode: String
        var node: String
        var clientID: Int64?
        /// A key look-up was redirected (a cluster node that does not own it).
        var redirected: Bool
    }

    /// One round trip: what the server is, the link's CLIENT ID, then the
    /// archive's keys.
    private func lookUp(channel: [UInt8], on connection: Connection) throws(RedisError) -> LookedUp {
        guard let archive = options.archive else { preconditionFailure("--no-archive looks nothing up") }
        try connection.append(.info("server"))
        try connection.append(.clientID)
        let lookups = ArchiveTarget.lookups(channel: channel, archive: archive, backlog: options.backlog)
        for command in lookups { try connection.append(command) }
        let replies = try connection.readReplies(2 + lookups.count)
        let info = ServerInfo(replies[0])
        let keyReplies = Array(replies.dropFirst(2))
        let redirected = keyReplies.contains { $0.errorMessage.flatMap { ServerErrorAction(errorLine: $0) } != nil }
        let decided: (ArchiveTarget, head: [[UInt8]])
        if redirected {
            decided = (.none, [])
        } else {
            decided = try ArchiveTarget.decide(keyReplies, channel: channel, archive: archive, backlog: options.backlog)
        }
        return LookedUp(decided: decided, mode: info.field("redis_mode") ?? "",
                        node: TransactionLink.node(infoServer: replies[0], endpoint: connection.endpoint),
                        clientID: replies[1].integer, redirected: redirected)
    }

    /// The archive's keys looked at on the cluster primaries that own them,
    /// following redirections and failovers (within `--retry-for`).
    private func lookUp(channel: [UInt8], in cluster: ClusterTopology) throws(RoomWardenError) -> (ArchiveTarget, head: [[UInt8]]) {
        guard let archive = options.archive else { preconditionFailure("--no-archive looks nothing up") }
        let name = String(decoding: channel, as: UTF8.self)
        var types: [Reply] = []
        var heads: [Reply] = []
        for key in [archive.key(for: channel), options.backlog.key(for: channel)] {
            let replies = try cluster.perform(slot: KeySlot.of(key), doing: "looking at the archive of \(name)") {
                (a: ClusterAttempt) throws(RedisError) -> [Reply] in
                let replies = try TransactionLink(connection: a.connection, node: "", clientID: nil, asking: a.asking)
                    .run([.type(key: key), .lrange(key: key, start: 0, stop: ArchiveTarget.headLength - 1)])
                for reply in replies {
                    if let line = reply.errorMessage, ServerErrorAction(errorLine: line) != nil { throw .server(line) }
                }
                return replies
            }
            types.append(replies[0])
            heads.append(replies[1])
        }
        do {
            return try ArchiveTarget.decide(types + heads, channel: channel, archive: archive, backlog: options.backlog)
        } catch {
            throw described(error, channel: channel, endpoint: cluster.owner(ofKey: archive.key(for: channel))?.endpoint ?? settings.endpoint)
        }
    }

    /// A look-up's failure in the user's words.
    private func described(_ error: RedisError, channel: [UInt8], endpoint: Endpoint) -> RoomWardenError {
        if case .server(let line) = error, let type = ArchiveTarget.wrongType(line), let archive = options.archive {
            let key = String(decoding: archive.key(for: channel), as: UTF8.self)
            return .data("archive key '\(key)' holds a \(type), not a sorted set or a list; nothing was published; use --archive-key or another channel")
        }
        return RoomWardenError.from(error, doing: "looking at the archive of \(String(decoding: channel, as: UTF8.self))", endpoint: endpoint)
    }

    /// `--retry-for` as a Duration, for the topologies.
    private var retryDuration: Duration { .milliseconds(options.retry.budgetMilliseconds) }

    private var route: PublishRoute?
    private var link: TransactionLink?
    private var backlogHead = BacklogHead(entries: [], maxLength: nil)

    /// Publishes every message of `input` to `channel`, calling `report` for
    /// each confirmed one, in order. When the input pauses, what was read
    /// goes out at once, every reply due is read, and `idle` is called.
    /// Call `prepare` first.
    public func publish<Source: MessageSource>(
        channel: [UInt8], target: ArchiveTarget, input: Source,
        idle: () throws(RoomWardenError) -> Void = {},
        report: (Published) -> Void
    ) throws(PublishStopped) {
        guard let link, let route else { preconditionFailure("prepare(channel:) first") }
        let plan = PublishPlan(channel: channel, target: target, retainMilliseconds: options.retainMilliseconds,
                               maxLength: options.maxLength)
        let channelName = String(decoding: channel, as: UTF8.self)
        var ledger = Ledger(target: target, channel: channelName, numbered: input.numbered)
        var window: RecheckWindow?
        if case .sortedSet = target { window = options.recheckWindow }
        let engine = ResumableTransactions<PublishBatch>(
            link: link, maxSize: options.batchBytes, policy: options.retry, interruption: interruption, window: window,
            reconnect: { (failure) throws(RoomWardenError) -> TransactionLink in try route.reconnect(after: failure) },
            check: { [self] (sent, fresh) throws(RedisError) -> Int? in
                switch target {
                case .sortedSet(let key): return try PublishBatch.executedPrefix(of: sent, key: key, on: fresh)
                case .backlog(let key): return try backlogHead.executedPrefix(of: sent, key: key, on: fresh)
                case .none: return nil
                }
            },
            recheck: { (batches, fresh) throws(RedisError) -> [Bool]? in
                guard case .sortedSet(let key) = target else { return nil }
                return try PublishBatch.missing(batches, key: key, plan: plan, on: fresh)
            },
            switched: { [self] moved in noteSwitch(moved, target: target) },
            describe: { error in
                error.isConnectionFailure ? .unreachable("\(error)")
                    : RoomWardenError.from(error, doing: "publishing to \(channelName)", endpoint: route.current)
            })
        self.link = nil
        let settle = { [self] (settled: ResumableTransactions<PublishBatch>.Settled) -> Bool in
            switch settled {
            case .confirmed(let batch, let outcome, let resent):
                return ledger.confirmed(batch, outcome, head: &backlogHead, reportIDs: options.reportIDs,
                                        report: resent ? { _ in } : report)
            case .foundExecuted(let batch, let resent):
                return ledger.foundExecuted(batch, head: &backlogHead, reportIDs: options.reportIDs,
                                            report: resent ? { _ in } : report)
            }
        }

        var nextLine = 1
        var ended = false
        defer { reconnects = engine.reconnects }
        do {
            while !ended && ledger.failure == nil && interruption?.signal == nil {
                var batch = PublishBatch(plan: plan, firstLine: nextLine)
                let byteLimit = min(options.batchBytes, engine.sizeLimit)
                while batch.count < options.batchSize && (batch.count == 0 || batch.size < byteLimit) {
                    if (batch.count > 0 || !engine.isIdle) && !input.ready() { break }
                    let added = try input.withNext { payload in add(payload, line: nextLine, to: &batch, ledger: &ledger) }
                    guard let added else {
                        if interruption?.signal == nil { ended = true }  // else a signal cut the wait short
                        break
                    }
                    if !added { break }
                    nextLine += 1
                }
                if interruption?.signal != nil { break }
                if batch.count > 0 { try engine.send(batch, settle: settle) }
                if ended || ledger.failure != nil || !input.ready() {
                    try engine.settleAll(settle)
                    if !ended && ledger.failure == nil { try idle() }
                }
            }
        } catch let gaveUp as ResumableTransactions<PublishBatch>.GaveUp {
            throw ledger.stopped(gaveUp: gaveUp, retry: options.retry, endpoint: route.current)
        } catch let error as RoomWardenError {
            let (inDoubt, unsent) = engine.abandon(settle)
            throw ledger.stopped(error, inDoubt: inDoubt, unsent: unsent)
        } catch {
            throw ledger.stopped(.failure("\(error)"), inDoubt: [], unsent: [])
        }
        if let failure = ledger.failure {
            let (inDoubt, unsent) = engine.abandon(settle)
            throw ledger.stopped(failure, inDoubt: inDoubt, unsent: unsent)
        }
        if let sig = interruption?.signal, !ended {
            let (inDoubt, unsent) = engine.abandon(settle)
            throw ledger.stopped(RoomWardenError(exitCode: 128 + sig, "interrupted"), inDoubt: inDoubt, unsent: unsent)
        }
    }

    /// Adds one message to the batch: false (and a failure noted) when it is
    /// too large for Redis to take.
    private func add(_ payload: UnsafeRawBufferPointer, line: Int, to batch: inout PublishBatch, ledger: inout Ledger) -> Bool {
        let tooLarge = { (what: String, bytes: Int) -> RoomWardenError in
            .data("line \(line)'s \(what) is \(bytes >> 20) MB, more than Redis takes in one argument (512 MB, proto-max-bulk-len)")
        }
        if payload.count > Publisher.maxArgument {
            ledger.failure = tooLarge("message", payload.count)
            return false
        }
        let ts = max(WallClock.nowMilliseconds(), lastTs)
        lastTs = ts
        let channel = batch.plan.channel
        batch.add(payload: payload, ts: ts) { members in
            idScratch.removeAll(keepingCapacity: true)
            ids.append(ts: ts, to: &idScratch)
            channel.withUnsafeBytes { c in
                Envelope.appendJSON(id: idScratch, ts: ts, channel: c, from: fromBytes, payload: payload, to: &members)
            }
        }
        if case .sortedSet = batch.plan.target, batch.member(batch.count - 1).count > Publisher.maxArgument {
            ledger.failure = tooLarge("archive envelope", batch.member(batch.count - 1).count)
            batch.removeLast()
            return false
        }
        return true
    }

    private var idScratch: [UInt8] = []

    /// Says on stderr what a switch to another server cost: the lines sent
    /// again (their receivers may see them twice), or, for a list backlog,
    /// that they could not be checked.
    private func noteSwitch(_ moved: ResumableTransactions<PublishBatch>.Switch, target: ArchiveTarget) {
        let change = "publishing moved from \(moved.from) to \(moved.to) (a failover, a slot migration or a restart)"
        guard let resent = moved.resent else {
            if case .backlog(let key) = target {
                printDiagnostic("\(change); the list backlog '\(String(decoding: key, as: UTF8.self))' has no ids, so the lines pushed just before cannot be checked there: after a crash, the last ones may be missing")
            }
            return
        }
        let lines = resent.reduce(0) { $0 + $1.count }
        guard lines > 0 else { return }
        resentLines += lines
        let span = Ledger.duration(options.recheckWindow.milliseconds)
        printDiagnostic("\(change); \(lines == 1 ? "1 line" : "\(lines) lines") confirmed in the last \(span) before, or in flight, \(lines == 1 ? "was" : "were") missing there (what a server had not yet replicated or saved is lost with it) and \(lines == 1 ? "was" : "were") sent again; \(lines == 1 ? "its" : "their") receivers may see \(lines == 1 ? "it" : "them") twice")
    }
}
