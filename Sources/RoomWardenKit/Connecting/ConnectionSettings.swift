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

    public init() {}

    /// Connects, authenticates and selects the database. Failures come back
    /// as the contract's exit codes: 69 unreachable, 77 auth, 64 bad --db.
    public func connect() throws(RoomWardenError) -> Connection {
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
                    printDiagnostic("warning: a password was given but \(endpoint) has none configured; going on without")
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

    /// Applies a `redis://` or `unix://` URL. A password in it is taken but
    /// never repeated in an error.
    public mutating func apply(url: String) throws(RoomWardenError) {
        let parsed = try RedisURL(parsing: url)
        endpoint = parsed.endpoint
        if let u = parsed.user { user = u }
        if let p = parsed.password { password = p }
        if let d = parsed.db { db = d }
    }
}
