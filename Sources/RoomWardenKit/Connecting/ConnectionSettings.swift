import Hiredis

/// Everything needed to open an authenticated connection to the right
/// database. Built from flags and the environment by the CLI.
public struct ConnectionSettings: Sendable {
    /// Where the server listens.
    public var endpoint: Endpoint = .tcp(host: "127.0.0.1", port: 6379)
    /// The ACL user, if any.
    public var user: String?
    /// The password; never printed.
    public var password: String?
    /// The database number SELECTed after connecting.
    public var db: Int = 0
    /// How long connecting (and the AUTH/SELECT handshake) may take.
    public var connectTimeout: Duration = .seconds(5)
    /// The longest wait for a reply, or for a write to drain, once
    /// connected (`--timeout`); nil waits for ever. A subscribed link reads
    /// past it (watch has its heartbeat).
    public var replyTimeout: Duration? = .seconds(30)
    /// The sentinels to ask for the master (`--sentinel`/`--master`, or a
    /// `redis-sentinel://` URL); nil connects to `endpoint`.
    public var sentinel: SentinelSettings?

    public init() {}

    /// How long history and stats wait out a failover (a cluster primary
    /// or a sentinel master being replaced) before giving up with 69: the
    /// `--timeout`, or 30 s when that is 0 (for ever).
    public var failoverWait: Duration { replyTimeout ?? .seconds(30) }

    /// Opens an authenticated connection to any address with these
    /// settings (the endpoint swapped), for the topology's other nodes.
    /// The "password given but none configured" warning prints once for
    /// all the connections it opens.
    public var connector: ClusterTopology.Connect {
        let base = self
        let warned = WarnedOnce()
        return { (endpoint: Endpoint) throws(RoomWardenError) -> Connection in
            var settings = base
            settings.endpoint = endpoint
            return try settings.connect(warned: warned)
        }
    }

    /// What these settings reach: the sentinels' master, or the server at
    /// `endpoint` (a single server or any node of a Redis Cluster). A
    /// failover met on the way is waited out for up to `retryFor`, which
    /// the option `retryFlag` sets (named when it runs out).
    public func topology(retryFor: Duration, retryFlag: String = "--timeout") throws(RoomWardenError) -> Topology {
        if var sentinel {
            sentinel.connectTimeout = connectTimeout
            return try Topology.discover(sentinels: sentinel, connect: connector, retryFor: retryFor, retryFlag: retryFlag)
        }
        return try Topology.discover(seed: endpoint, connect: connector, retryFor: retryFor, retryFlag: retryFlag)
    }

    /// Connects, authenticates and selects the database. Failures come back
    /// as the contract's exit codes: 69 unreachable, 77 auth, 64 bad --db.
    public func connect() throws(RoomWardenError) -> Connection {
        try connect(warned: nil)
    }

    private func connect(warned: WarnedOnce?) throws(RoomWardenError) -> Connection {
        let connection: Connection
        do {
            connection = try Connection(endpoint: endpoint, connectTimeout: connectTimeout)
        } catch {
            throw RoomWardenError.from(error, doing: "connecting", endpoint: endpoint)
        }
        do {
            try connection.setTimeout(connectTimeout)
            if let password {
                let reply = try connection.command(.auth(user: user, password: password))
                if let line = reply.errorMessage, line.contains("without any password configured") {
                    // As redis-cli does: a password the server does not ask for is not fatal.
                    if warned?.first() ?? true {
                        printDiagnostic("warning: a password was given but \(endpoint) has none configured; going on without")
                    }
                } else if let line = reply.errorMessage {
                    let who = user.map { "user '\($0)'" } ?? "the default user"
                    throw RoomWardenError.denied(
                        "authentication failed for \(who) at \(endpoint): \(line); check --user and the password")
                }
            } else if let user {
                throw RoomWardenError.usage("--user \(user) needs a password: give --askpass, REDISCLI_AUTH, -a or put it in the URL")
            }
            if db != 0 {
                let reply = try connection.command(.select(db: db))
                if let line = reply.errorMessage {
                    if RoomWardenError.exitCode(forServerError: line) == 77 {
                        throw RoomWardenError.from(.server(line), doing: "SELECT \(db)", endpoint: endpoint)
                    }
                    throw RoomWardenError.usage("cannot use --db \(db) at \(endpoint): \(line)")
                }
            }
            try connection.setTimeout(replyTimeout)
        } catch let error as RoomWardenError {
            throw error
        } catch let error as RedisError {
            throw RoomWardenError.from(error, doing: "connecting", endpoint: endpoint)
        } catch {
            throw RoomWardenError.failure("\(error)")
        }
        return connection
    }

    /// Applies a `redis://`, `unix://` or `redis-sentinel://` URL. A
    /// password in it is taken but never repeated in an error.
    public mutating func apply(url: String) throws(RoomWardenError) {
        if SentinelURL.matches(url) {
            let parsed = try SentinelURL(parsing: url)
            sentinel = parsed.settings(connectTimeout: connectTimeout)
            if let u = parsed.user { user = u }
            if let p = parsed.password { password = p }
            if let d = parsed.db { db = d }
            return
        }
        sentinel = nil
        let parsed = try RedisURL(parsing: url)
        endpoint = parsed.endpoint
        if let u = parsed.user { user = u }
        if let p = parsed.password { password = p }
        if let d = parsed.db { db = d }
    }
}

/// Remembers that a warning was printed, for the connections one
/// `ConnectionSettings.connector` opens (one thread uses it).
private final class WarnedOnce {
    private var printed = false

    /// True the first time only.
    func first() -> Bool {
        defer { printed = true }
        return !printed
    }
}
