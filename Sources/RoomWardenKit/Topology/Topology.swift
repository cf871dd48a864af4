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
        seed: Endpoint, connect: @escaping ClusterTopology.Connect, retryFor: Duration = .seconds(30)
    ) throws(RoomWardenError) -> Topology {
        let conn = try connect(seed)
        guard try isClusterNode(conn) else { return .single(conn) }
        return .cluster(try ClusterTopology(seed: conn, connect: connect, retryFor: retryFor))
    }

    /// Asks the sentinels for the master and connects to it (see
    /// `SentinelTopology.init`).
    public static func discover(
        sentinels: SentinelSettings, connect: @escaping ClusterTopology.Connect, retryFor: Duration = .seconds(30)
    ) throws(RoomWardenError) -> Topology {
        .sentinel(try SentinelTopology(resolver: SentinelResolver(settings: sentinels), connect: connect, retryFor: retryFor))
    }

    /// True when `INFO cluster` says `cluster_enabled:1`. An error reply
    /// (an ACL without INFO, a renamed INFO) means not a cluster.
    public static func isClusterNode(_ conn: Connection) throws(RoomWardenError) -> Bool {
        let reply: Reply
        do {
            reply = try conn.command("INFO", "cluster")
        } catch {
            throw RoomWardenError.from(error, doing: "asking whether it is a cluster node (INFO cluster)", endpoint: conn.endpoint)
        }
        guard let text = reply.string else { return false }
        return text.split(whereSeparator: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" })
            .contains { $0.trimmingSuffix() == "cluster_enabled:1" }
    }
}

extension Substring {
    fileprivate func trimmingSuffix() -> Substring {
        var s = self
        while let last = s.last, last == "\r" || last == " " { s = s.dropLast() }
        return s
    }
}
