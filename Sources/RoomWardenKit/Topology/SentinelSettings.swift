import Hiredis

/// How to reach the sentinels that watch one master: their addresses, the
/// master's name, and the sentinels' own credentials (separate from the
/// data node's: `sentinel_user`, `sentinel_password`).
public struct SentinelSettings: Sendable, Equatable {
    /// The sentinels, asked in this order.
    public var sentinels: [Endpoint]
    /// The name the sentinels know the master by.
    public var masterName: String
    /// The sentinels' ACL user, if any.
    public var user: String?
    /// The sentinels' password, if any; never printed.
    public var password: String?
    /// How long connecting to a sentinel, and each of its answers, may take.
    public var connectTimeout: Duration

    /// Settings for these sentinels.
    public init(sentinels: [Endpoint], masterName: String, user: String? = nil, password: String? = nil,
                connectTimeout: Duration = .seconds(5)) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.user = user
        self.password = password
        self.connectTimeout = connectTimeout
    }

    /// A `--sentinel` value: `host`, `host:port` or `[v6]:port`, port 26379
    /// unless given. A bad one is a usage error (64).
    public static func address(_ text: String) throws(RoomWardenError) -> Endpoint {
        do {
            return try SentinelURL.endpoint(Substring(text), safe: text)
        } catch {
            throw .usage("bad --sentinel '\(text)': use HOST or HOST:PORT (port \(SentinelURL.defaultPort) by default)")
        }
    }

    /// Opens an authenticated connection to one sentinel, its replies
    /// bounded by `connectTimeout`. 69 when it cannot be reached, 77 when
    /// it refuses the credentials.
    public func connect(to sentinel: Endpoint) throws(RoomWardenError) -> Connection {
        let conn: Connection
        do {
            conn = try Connection(endpoint: sentinel, connectTimeout: connectTimeout)
            try conn.setTimeout(connectTimeout)
        } catch {
            throw RoomWardenError.unreachable("could not reach the sentinel at \(sentinel): \(SentinelSettings.reason(error))")
        }
        guard let password else { return conn }
        var args = ["AUTH"]
        if let user { args.append(user) }
        args.append(password)
        let reply: Reply
        do {
            reply = try conn.command(args.map { Array($0.utf8) })
        } catch {
            throw RoomWardenError.unreachable("could not reach the sentinel at \(sentinel): \(SentinelSettings.reason(error))")
        }
        if let line = reply.errorMessage {
            if line.contains("without any password configured") { return conn }
            let who = user.map { "user '\($0)'" } ?? "the default user"
            throw RoomWardenError.denied(
                "the sentinel at \(sentinel) refused authentication for \(who): \(line); check sentinel_user and sentinel_password")
        }
        return conn
    }

    /// Why a link failed, without the "could not connect to Redis at"
    /// preamble that names no sentinel.
    static func reason(_ error: RedisError) -> String {
        if case .connect(_, let reason) = error { return reason }
        return error.description
    }
}
