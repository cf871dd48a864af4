import Hiredis

/// A master found through Redis Sentinel, followed through failovers: the
/// connection to the current master, re-resolved when the link is lost or
/// the node answers `READONLY` (it was demoted), `MASTERDOWN` or `LOADING`.
///
/// Not thread-safe: one thread uses it. watch's `+switch-master` listener
/// (`SentinelSwitchListener`) runs apart and has its own connections.
public final class SentinelTopology {
    /// Where the sentinels are and which master they watch.
    public let resolver: SentinelResolver
    /// The master in use now.
    public private(set) var master: Endpoint
    /// How long an operation is retried through a failover.
    public var retryFor: Duration
    /// The option that sets `retryFor`, named when it runs out.
    public var retryFlag: String
    /// Told (one line, for stderr) when the master changes.
    public var notice: ((String) -> Void)?

    private let connect: ClusterTopology.Connect
    private var current: Connection?

    /// Asks the sentinels for the master and connects to it with `connect`
    /// (the data node's credentials). Unreachable sentinels end it at once
    /// (69, naming each one tried); a master the sentinels name but that
    /// is not (yet) confirmed by `ROLE` is waited for up to `retryFor`.
    public init(
        resolver: SentinelResolver, connect: @escaping ClusterTopology.Connect, retryFor: Duration = .seconds(30),
        retryFlag: String = "--timeout"
    ) throws(RoomWardenError) {
        self.resolver = resolver
        self.connect = connect
        self.retryFor = retryFor
        self.retryFlag = retryFlag
        var budget = RetryBudget(retryFor, flag: retryFlag)
        let found = try resolver.resolveMaster(connect: connect, budget: &budget)
        master = found.master
        current = found.connection
    }

    /// The connection to the current master, resolving it again if it was dropped.
    public func connection() throws(RoomWardenError) -> Connection {
        if let current { return current }
        var budget = RetryBudget(retryFor, flag: retryFlag)
        return try reresolve(budget: &budget)
    }

    /// Drops the connection and asks the sentinels again (with backoff,
    /// within `budget`, sentinels that do not answer included).
    @discardableResult
    public func reresolve(budget: inout RetryBudget) throws(RoomWardenError) -> Connection {
        current = nil
        let found = try resolver.resolveMaster(connect: connect, budget: &budget, retrySentinels: true)
        if found.master != master {
            notice?("Redis Sentinel master '\(resolver.settings.masterName)' is now \(found.master) (was \(master))")
        }
        master = found.master
        current = found.connection
        return found.connection
    }

    /// Runs `body` on the master and returns what it returns, following
    /// the master through a failover: a lost link, `READONLY`,
    /// `MASTERDOWN` or `LOADING` (see `ServerErrorAction`) re-resolve the
    /// master and run `body` again, with backoff, for up to `retryFor`;
    /// any other server error ends it as `RoomWardenError.from` maps it.
    ///
    /// `body` may run more than once, including after a try that reached
    /// the server but whose reply was lost: it must be idempotent or check
    /// first whether its earlier try took effect (publish's exactly-once
    /// check). `master`, read inside `body`, says which node it runs on, so
    /// a body can tell that the master changed since its last success.
    public func perform<T>(doing: String, _ body: (Connection) throws(RedisError) -> T) throws(RoomWardenError) -> T {
        var budget = RetryBudget(retryFor, flag: retryFlag)
        while true {
            let conn: Connection
            if let current { conn = current } else { conn = try reresolve(budget: &budget) }
            let error: RedisError
            do {
                return try body(conn)
            } catch let e {
                error = e
            }
            if !error.isConnectionFailure {
                guard let action = ServerErrorAction(error, repliedBy: master) else {
                    throw RoomWardenError.from(error, doing: doing, endpoint: master)
                }
                switch action {
                case .readOnly, .masterDown, .loading, .tryAgain, .clusterDown: break
                case .moved, .ask:
                    throw RoomWardenError.from(error, doing: doing, endpoint: master)
                }
            }
            current = nil
            guard budget.wait() else {
                throw RoomWardenError.unreachable(
                    "gave up \(doing): the master '\(resolver.settings.masterName)' at \(master) failed (\(error)) and no other master was found within \(budget.totalDescription); check the sentinels (redis-cli -p 26379 sentinel master \(resolver.settings.masterName))")
            }
            _ = try reresolve(budget: &budget)
        }
    }
}

@available(*, unavailable)
extension SentinelTopology: Sendable {}
