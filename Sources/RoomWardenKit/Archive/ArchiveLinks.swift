import Hiredis

/// Where `watch --archive` writes, for its writing thread: the server
/// named, the master the sentinels name, or on a Redis Cluster the primary
/// serving each key's slot (one pooled connection per primary), with
/// `MOVED` followed (the map updated) and `ASK` followed (`ASKING` first).
///
/// A lost link, `TRYAGAIN` or `CLUSTERDOWN` throws: the writer sends its
/// batch again, which is safe, since each entry keeps its member (ZADD
/// adds it once) and backlog pushes are looked for before they are made
/// again (`BacklogPushes`). Not thread-safe: the writing thread's own.
final class ArchiveLinks {
    private let settings: ConnectionSettings
    /// One server or the sentinels' master: the one connection.
    private var single: Connection?
    /// Learnt on the first connection: the node named is a cluster node.
    private var cluster: ClusterTopology?
    /// The node of the last failure, for the outage line.
    private(set) var failed: Endpoint?

    /// Redirections followed for one batch before it counts as failed.
    static let redirectRounds = 5

    init(settings: ConnectionSettings) {
        self.settings = settings
    }

    /// What the links go to, for messages.
    var description: String {
        if let single { return "\(single.endpoint)" }
        if cluster != nil { return "the Redis Cluster's primaries" }
        return settings.sentinel.map { "the master '\($0.masterName)'" } ?? "\(settings.endpoint)"
    }

    /// Connects if not connected: the first time finds out what the node
    /// named is (a cluster's map is read then and kept); behind sentinels
    /// the master is asked for each time (a node that is not, or not yet,
    /// the master is a failure to retry).
    func open() throws(RoomWardenError) {
        if single != nil || cluster != nil { return }
        switch try settings.topology(retryFor: .zero) {
        case .single(let connection): single = connection
        case .sentinel(let sentinel): single = try sentinel.connection()
        case .cluster(let topology): cluster = topology
        }
    }

    /// Forgets the link that failed (a cluster's map is read again before
    /// the next try).
    func lost() {
        single = nil
        if let cluster {
            if let failed { cluster.drop(failed) }
            // Not readable now: the next try says so, and is retried.
            try? cluster.refresh()
        }
        failed = nil
    }

    /// Runs `body` once per node holding some of `keys`, with the indices
    /// of its keys; a failure names that node.
    func forEachNode(_ keys: [[UInt8]], doing: String, _ body: (Connection, [Int]) throws -> Void) throws(RoomWardenError) {
        for (connection, indices) in try byNode(keys) {
            do { try body(connection, indices) } catch {
                failed = connection.endpoint
                if let error = error as? RoomWardenError { throw error }
                if let error = error as? RedisError { throw RoomWardenError.from(error, doing: doing, endpoint: connection.endpoint) }
                throw .unreachable("\(doing) on \(connection.endpoint): \(error)")
            }
        }
    }

    /// Throws (the batch goes again) when a reply line is a redirection or
    /// a cluster state: inside a transaction nothing ran.
    func checkNotRedirected(_ lines: some Sequence<String>, doing: String) throws(RoomWardenError) {
        guard let cluster else { return }
        for line in lines where ServerErrorAction(errorLine: line) != nil || line.hasPrefix("EXECABORT") {
            try? cluster.refresh()
            throw .unreachable("\(doing): \(line)")
        }
    }

    /// The connections holding `keys`, each with the indices of its keys,
    /// in the order first met.
    private func byNode(_ keys: [[UInt8]]) throws(RoomWardenError) -> [(connection: Connection, indices: [Int])] {
        guard let cluster else {
            guard let single else { throw .unreachable("not connected") }
            return keys.isEmpty ? [] : [(single, Array(keys.indices))]
        }
        var groups: [(connection: Connection, indices: [Int])] = []
        var at: [String: Int] = [:]
        for (i, key) in keys.enumerated() {
            let connection = try cluster.connection(forKey: key)
            let name = connection.endpoint.description
            if let g = at[name] {
                groups[g].indices.append(i)
            } else {
                at[name] = groups.count
                groups.append((connection, [i]))
            }
        }
        return groups
    }

    /// Runs `count` commands, command `i` on `key(i)`'s node (written into
    /// a batch by `add`), pipelined per node, all nodes at once; on a
    /// cluster follows `MOVED` and `ASK` for up to `redirectRounds` rounds.
    /// The replies in order; a lost link or a cluster that cannot serve a
    /// slot now throws (the batch goes again).
    func run(_ count: Int, doing: String, key: (Int) -> [UInt8], add: (Int, inout CommandBatch) -> Void) throws(RoomWardenError) -> [Reply] {
        guard count > 0 else { return [] }
        guard let cluster else {
            guard let single else { throw .unreachable("not connected") }
            var batch = CommandBatch()
            for i in 0..<count { add(i, &batch) }
            return try exchange([(single, batch)], doing: doing)[0]
        }
        var replies = [Reply?](repeating: nil, count: count)
        var pending = Array(0..<count)
        var asking: [Int: Endpoint] = [:]
        for _ in 0..<Self.redirectRounds {
            // Group what is pending by where it goes now.
            var groups: [(connection: Connection, indices: [Int])] = []
            var at: [String: Int] = [:]
            for i in pending {
                let connection: Connection
                if let to = asking[i] { connection = try cluster.connection(to: to) } else { connection = try cluster.connection(forKey: key(i)) }
                let name = connection.endpoint.description
                if let g = at[name] { groups[g].indices.append(i) } else {
                    at[name] = groups.count
                    groups.append((connection, [i]))
                }
            }
            let batches = groups.map { group in
                var batch = CommandBatch()
                for i in group.indices {
                    if asking[i] != nil { batch.add("ASKING") }
                    add(i, &batch)
                }
                return (group.connection, batch)
            }
            let answers = try exchange(batches, doing: doing)
            var next: [Int] = []
            for (group, got) in zip(groups, answers) {
                var n = 0
                for i in group.indices {
                    if asking[i] != nil { n += 1 }  // ASKING's OK
                    let reply = got[n]
                    n += 1
                    guard let line = reply.errorMessage,
                          let action = ServerErrorAction(errorLine: line, repliedBy: group.connection.endpoint) else {
                        replies[i] = reply
                        continue
                    }
                    switch action {
                    case .moved(let slot, let to):
                        try cluster.follow(moved: slot, to: to)
                        asking[i] = nil
                        next.append(i)
                    case .ask(_, let to):
                        asking[i] = to
                        next.append(i)
                    default:
                        failed = group.connection.endpoint
                        throw .unreachable("\(group.connection.endpoint) answered \(doing) with \(line)")
                    }
                }
            }
            pending = next
            if pending.isEmpty { return replies.map { $0 ?? .bulk(nil) } }
        }
        throw .unreachable("\(doing): redirected more than \(Self.redirectRounds) times (a slot migrating?)")
    }

    /// Sends every batch (each flushed at once, so the nodes work side by
    /// side), then reads each one's replies.
    private func exchange(_ batches: [(Connection, CommandBatch)], doing: String) throws(RoomWardenError) -> [[Reply]] {
        var tickets: [Connection.Ticket] = []
        for (connection, batch) in batches {
            do {
                tickets.append(try connection.append(batch))
                try connection.flush()
            } catch {
                failed = connection.endpoint
                throw RoomWardenError.from(error, doing: doing, endpoint: connection.endpoint)
            }
        }
        var out: [[Reply]] = []
        for ((connection, _), ticket) in zip(batches, tickets) {
            do { out.append(try connection.replies(to: ticket)) } catch {
                failed = connection.endpoint
                throw RoomWardenError.from(error, doing: doing, endpoint: connection.endpoint)
            }
        }
        return out
    }
}

@available(*, unavailable)
extension ArchiveLinks: Sendable {}
