import Hiredis

/// What roomwarden is connected to: one server, a Redis Cluster, or a
/// master behind Redis Sentinel. Commands ask it who to talk to.
public enum Topology {
    /// One server (or a replica): everything on this connection.
    case single(Connection)
    /// A Redis Cluster: keys live on the primary of their slot.
    case cluster(ClusterTopology)
    /// A master found and followed through sentinels.
    case sentinel(SentinelTopology)

    /// Connects to `seed` and finds out what it is part of: a node that
    /// says `cluster_enabled:1` in `INFO cluster` makes a cluster (its map
    /// learnt through it), anything else a single server. A user whose
    /// ACL forbids INFO works on a single server as before: `NOPERM` on
    /// INFO means single.
    ///
    /// `connect` opens an authenticated connection to any address (the CLI
    /// passes `ConnectionSettings.connect` with the endpoint swapped); it
    /// is kept to reach the other nodes of a cluster.
    public static func discover(
        seed: Endpoint, connect: @escaping ClusterTopology.Connect, retryFor: Duration = .seconds(30),
        retryFlag: String = "--timeout"
    ) throws(RoomWardenError) -> Topology {
        let conn = try connect(seed)
        switch try mode(of: conn) {
        case .cluster: return .cluster(try ClusterTopology(seed: conn, connect: connect, retryFor: retryFor, retryFlag: retryFlag))
        case .standalone: return .single(conn)
        case .sentinel:
            throw .usage("\(seed) is a Redis Sentinel, not a data node: use --sentinel \(seed) --master NAME, or -u redis-sentinel://\(seed)#NAME")
        }
    }

    /// Asks the sentinels for the master and connects to it (see
    /// `SentinelTopology.init`).
    public static func discover(
        sentinels: SentinelSettings, connect: @escaping ClusterTopology.Connect, retryFor: Duration = .seconds(30),
        retryFlag: String = "--timeout"
    ) throws(RoomWardenError) -> Topology {
        .sentinel(try SentinelTopology(resolver: SentinelResolver(settings: sentinels), connect: connect, retryFor: retryFor,
                                       retryFlag: retryFlag))
    }

    /// What a server runs as.
    public enum Mode: Equatable, Sendable {
        case standalone, cluster, sentinel
    }

    /// Asks the server what it runs as: `cluster_enabled:1` in `INFO
    /// cluster` is a cluster node; a sentinel has no cluster section and
    /// says `redis_mode:sentinel` in `INFO server`. An error reply (an ACL
    /// without INFO, a renamed INFO) means standalone.
    public static func mode(of conn: Connection) throws(RoomWardenError) -> Mode {
        let cluster = try info(conn, "cluster")
        if cluster.contains("cluster_enabled:1") { return .cluster }
        if cluster.contains(where: { $0.hasPrefix("cluster_enabled:") }) { return .standalone }
        return try info(conn, "server").contains("redis_mode:sentinel") ? .sentinel : .standalone
    }

    /// The lines of one INFO section; none when INFO is refused.
    private static func info(_ conn: Connection, _ section: String) throws(RoomWardenError) -> [Substring] {
        let reply: Reply
        do {
            reply = try conn.command("INFO", section)
        } catch {
            throw RoomWardenError.from(error, doing: "asking what it runs as (INFO \(section))", endpoint: conn.endpoint)
        }
        guard let text = reply.string else { return [] }
        return text.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }).map { $0.trimmingSuffix() }
    }
}

extension Substring {
    fileprivate func trimmingSuffix() -> Substring {
        var s = self
        while let last = s.last, last == "\r" || last == " " { s = s.dropLast() }
        return s
    }
}
