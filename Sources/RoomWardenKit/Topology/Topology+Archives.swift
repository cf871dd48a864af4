import Hiredis

/// What the archive readers (history, stats) ask of any topology: the
/// connection that holds a key, every primary in turn, and a node to
/// subscribe on. One server and a sentinel master are one primary; a Redis
/// Cluster has one per shard.
extension Topology {
    /// The connection to the node holding `key`: the one server, the
    /// sentinels' current master, or the cluster primary serving its slot
    /// (whichever node the user named).
    public func connection(forKey key: [UInt8]) throws(RoomWardenError) -> Connection {
        switch self {
        case .single(let connection): return connection
        case .cluster(let cluster): return try cluster.connection(forKey: key)
        case .sentinel(let sentinel): return try sentinel.connection()
        }
    }

    /// Runs `body` on every primary, one after the other: once on a single
    /// server or a sentinel master (following a failover there), once per
    /// shard on a cluster. A cluster primary that cannot be reached and is
    /// not failed over within the retry budget ends it with 69 naming the
    /// node and its slots: never a silently partial answer. `body` may run
    /// again for the same primary after a failover: it must start over
    /// cleanly (collect keys in a set).
    public func forEachPrimary(doing: String, _ body: (Connection) throws(RedisError) -> Void) throws(RoomWardenError) {
        switch self {
        case .single(let connection):
            do { try body(connection) } catch { throw RoomWardenError.from(error, doing: doing, endpoint: connection.endpoint) }
        case .cluster(let cluster):
            try cluster.forEachPrimary(doing: doing) { (_, connection) throws(RedisError) in try body(connection) }
        case .sentinel(let sentinel):
            try sentinel.perform(doing: doing, body)
        }
    }

    /// A node where a classic (P)SUBSCRIBE sees every room: the server, the
    /// master, or any live node of a cluster (classic pub/sub is broadcast
    /// cluster-wide).
    public var subscriptionEndpoint: Endpoint {
        switch self {
        case .single(let connection): return connection.endpoint
        case .sentinel(let sentinel): return sentinel.master
        case .cluster(let cluster):
            let nodes = cluster.allNodes
            return (nodes.first { $0.health != .failed } ?? nodes.first)?.endpoint ?? .tcp(host: "127.0.0.1", port: 6379)
        }
    }
}

extension ConnectionSettings {
    /// These settings pointed at `topology`'s subscription node, sentinels
    /// resolved: for a live subscription beside an archive read (history
    /// --follow, stats --sample).
    public func subscribing(through topology: Topology) -> ConnectionSettings {
        var settings = self
        settings.endpoint = topology.subscriptionEndpoint
        settings.sentinel = nil
        return settings
    }
}
