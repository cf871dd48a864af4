import Hiredis

/// One try of an operation that `ClusterTopology.perform` runs: the
/// connection to use and what it goes to.
public struct ClusterAttempt {
    /// The connection to the node that should serve the slot (or, after an
    /// `ASK`, the importing node, with `ASKING` already sent).
    public let connection: Connection
    /// That node.
    public let node: ClusterNode
    /// 1 for the first try, then 2, 3 ...
    public let number: Int
    /// True when this try follows an `ASK` redirection.
    public let asking: Bool
}

@available(*, unavailable)
extension ClusterAttempt: Sendable {}

/// A Redis Cluster seen from one client: the map of who serves which slot,
/// and a pool of connections to its nodes, opened on demand with the same
/// credentials as the first.
///
/// Commands ask it for "the connection that owns this key"
/// (`connection(forKey:)`, or `perform(key:)` with retries), for every
/// primary (`forEachPrimary`, `primaryConnections`) or for every node
/// (`allNodes`, `connectEveryNode`). Redirections (`MOVED`, `ASK`),
/// `TRYAGAIN`, `CLUSTERDOWN`, lost nodes and failovers are handled here,
/// once: the map is refreshed from any node that answers (every node the
/// map ever named is a seed) and the operation is tried again, with
/// backoff, for up to `retryFor`.
///
/// Not thread-safe: one thread uses it (connections have one owner).
public final class ClusterTopology {
    /// Opens an authenticated connection to one node; the CLI passes
    /// `ConnectionSettings.connect` with the endpoint swapped.
    public typealias Connect = (Endpoint) throws(RoomWardenError) -> Connection

    /// The latest map.
    public private(set) var map: ClusterMap
    /// How long an operation is retried through redirections and failovers.
    public var retryFor: Duration
    /// The option that sets `retryFor`, named when it runs out.
    public var retryFlag: String
    /// Told (one line, for stderr) when the map changes under an operation:
    /// a failover or a slot migration seen.
    public var notice: ((String) -> Void)?

    private let connect: Connect
    /// Open connections, by `Endpoint.description`.
    private var pool: [String: Connection] = [:]
    /// Every address ever named, for refreshing when the map's own nodes
    /// are all gone.
    private var seeds: [Endpoint] = []
    /// The node gave `ERR unknown subcommand` to `CLUSTER SHARDS` (before
    /// Redis 7): use `CLUSTER SLOTS`.
    private var useSlots = false

    /// Learns the map through `seed`, an open connection to any node (a
    /// replica, or a unix socket, will do), which joins the pool under the
    /// address the map gives its node (`CLUSTER MYID`). 69/77 as
    /// `RoomWardenError.from` maps a failure to read the map.
    public init(seed: Connection, connect: @escaping Connect, retryFor: Duration = .seconds(30), retryFlag: String = "--timeout") throws(RoomWardenError) {
        self.connect = connect
        self.retryFor = retryFor
        self.retryFlag = retryFlag
        map = ClusterMap(shards: [])
        seeds = [seed.endpoint]
        do {
            // The seed may be a unix socket or a name the map does not use:
            // its id says which node of the map it is.
            try seed.append([Array("CLUSTER".utf8), Array("MYID".utf8)])
            let myID = try seed.readReply()
            map = try fetchMap(from: seed)
            if let id = myID.string, let me = map.nodes.first(where: { $0.id == id }) {
                pool[me.endpoint.description] = seed
            } else {
                pool[seed.endpoint.description] = seed
            }
        } catch {
            throw RoomWardenError.from(error, doing: "reading the cluster's map (CLUSTER SHARDS)", endpoint: seed.endpoint)
        }
        remember(map)
    }

    // MARK: What is where

    /// Every node of the map, primaries and replicas, each once.
    public var allNodes: [ClusterNode] { map.nodes }

    /// The primary of every shard that serves slots.
    public var primaries: [ClusterNode] { map.primaries }

    /// The primary serving `key`'s slot, per the current map.
    public func owner(ofKey key: some Collection<UInt8>) -> ClusterNode? { map.owner(ofKey: key) }

    /// The connection to the primary serving `key`'s slot: from the pool,
    /// or opened now. No retry: see `perform(key:doing:_:)` for that.
    public func connection(forKey key: some Collection<UInt8>) throws(RoomWardenError) -> Connection {
        let slot = KeySlot.of(key)
        if map.owner(ofSlot: slot) == nil { try refresh() }
        guard let owner = map.owner(ofSlot: slot) else { throw unservedSlot(slot) }
        return try connection(to: owner.endpoint)
    }

    /// The connection to one node: from the pool, or opened now.
    public func connection(to node: ClusterNode) throws(RoomWardenError) -> Connection {
        try connection(to: node.endpoint)
    }

    /// The connection to an address: from the pool, or opened now.
    public func connection(to endpoint: Endpoint) throws(RoomWardenError) -> Connection {
        if let open = pool[endpoint.description] { return open }
        let made = try connect(endpoint)
        pool[endpoint.description] = made
        if !seeds.contains(endpoint) { seeds.append(endpoint) }
        return made
    }

    /// Takes a `MOVED` redirection for `slot` as the truth: the map is
    /// updated and refreshed, and where a node's view lags behind the
    /// redirecting node's, the redirection wins.
    public func follow(moved slot: Int, to endpoint: Endpoint) throws(RoomWardenError) {
        map.move(slot: slot, to: endpoint)
        try refreshIfPossible()
        if map.owner(ofSlot: slot)?.endpoint != endpoint { map.move(slot: slot, to: endpoint) }
    }

    /// Forgets the pooled connection to `endpoint` (it failed): the next
    /// use opens a new one.
    public func drop(_ endpoint: Endpoint) {
        pool[endpoint.description] = nil
    }

    // MARK: Refreshing

    /// Asks for the map again: the pooled nodes first, then every node the
    /// map named (failed ones last), then every address ever seen. Throws
    /// 69 naming every node tried when none answers, 77 when the ACL
    /// forbids `CLUSTER SHARDS`/`CLUSTER SLOTS`.
    public func refresh() throws(RoomWardenError) {
        var tried: [String] = []
        var lastReason = ""
        for endpoint in refreshCandidates() {
            let conn: Connection
            do {
                conn = try connection(to: endpoint)
            } catch {
                if error.exitCode == 77 { throw error }
                tried.append(endpoint.description)
                lastReason = error.message
                continue
            }
            do {
                let fresh = try fetchMap(from: conn)
                // A node that has just joined, or was reset, knows no slots:
                // ask another.
                if fresh.servingShards.isEmpty, !map.servingShards.isEmpty {
                    tried.append(endpoint.description)
                    lastReason = "\(endpoint) knows no slots"
                    continue
                }
                announceChanges(from: map, to: fresh)
                map = fresh
                remember(fresh)
                return
            } catch {
                if error.serverCode == "NOPERM" || error.serverCode == "NOAUTH" {
                    throw RoomWardenError.from(error, doing: "reading the cluster's map (CLUSTER SHARDS, CLUSTER SLOTS)", endpoint: endpoint)
                }
                if error.isConnectionFailure { drop(endpoint) }
                tried.append(endpoint.description)
                lastReason = "\(error)"
            }
        }
        throw RoomWardenError.unreachable(
            "no node of the Redis Cluster answered (tried \(tried.joined(separator: ", "))): \(lastReason); check that the cluster is up (redis-cli -c cluster info)")
    }

    /// Refreshes, keeping the old map when no node answers (the operation
    /// retrying will report what it could not reach); ACL denials still throw.
    private func refreshIfPossible() throws(RoomWardenError) {
        do { try refresh() } catch { if error.exitCode == 77 { throw error } }
    }

    private func refreshCandidates() -> [Endpoint] {
        var out: [Endpoint] = []
        func add(_ e: Endpoint) { if !out.contains(e) { out.append(e) } }
        let nodes = map.nodes
        for node in nodes where pool[node.endpoint.description] != nil { add(node.endpoint) }
        for node in nodes where node.health != .failed { add(node.endpoint) }
        for node in nodes { add(node.endpoint) }
        for seed in seeds { add(seed) }
        return out
    }

    private func fetchMap(from conn: Connection) throws(RedisError) -> ClusterMap {
        let defaultHost: String
        if case .tcp(let host, _) = conn.endpoint { defaultHost = host } else { defaultHost = "127.0.0.1" }
        if !useSlots {
            let reply = try conn.command("CLUSTER", "SHARDS")
            if let line = reply.errorMessage {
                let lower = line.lowercased()
                guard lower.contains("unknown subcommand") || lower.contains("unknown command") else { throw .server(line) }
                useSlots = true
            } else {
                return try ClusterMap.parse(shards: reply, defaultHost: defaultHost)
            }
        }
        return try ClusterMap.parse(slots: try conn.command("CLUSTER", "SLOTS").check(), defaultHost: defaultHost)
    }

    private func remember(_ map: ClusterMap) {
        for node in map.nodes where !seeds.contains(node.endpoint) { seeds.append(node.endpoint) }
    }

    private func announceChanges(from old: ClusterMap, to new: ClusterMap) {
        guard let notice, !old.servingShards.isEmpty else { return }
        for shard in new.servingShards {
            guard let primary = shard.primary, let first = shard.slots.first?.lowerBound,
                  let before = old.owner(ofSlot: first), before.endpoint != primary.endpoint else { continue }
            notice("cluster map changed: slots \(shard.slotsDescription) now served by \(primary.endpoint) (was \(before.endpoint))")
        }
    }

    // MARK: Running commands

    /// Runs `body` on the primary serving `key`'s slot and returns what it
    /// returns, following the cluster wherever the slot goes.
    ///
    /// `body` throws the `RedisError` it met: a server error line (use
    /// `Reply.check()`; inside MULTI, throw the queued command's error, not
    /// EXEC's `EXECABORT`) or a failed link. Then:
    /// - `MOVED`: the map is updated and refreshed, and `body` runs on the new owner;
    /// - `ASK`: `ASKING` is sent to the importing node and `body` runs there, once;
    /// - `TRYAGAIN`, `LOADING`: back off, run again;
    /// - `CLUSTERDOWN`, `READONLY`, `MASTERDOWN`, a lost or unreachable
    ///   node: back off, refresh the map, run again (a failover promotes a
    ///   replica within the cluster's node timeout, and then its slots are
    ///   served again);
    /// - any other server error ends it, as `RoomWardenError.from` maps it.
    ///
    /// `body` may therefore run more than once, including after a try that
    /// reached the server but whose reply was lost: it must be idempotent,
    /// or check first whether its earlier try took effect (publish's
    /// exactly-once check by envelope id). After `retryFor` without success
    /// it throws 69: for an unreachable primary, naming the node and its
    /// slots ("never a silently partial answer").
    public func perform<T>(
        key: some Collection<UInt8>, doing: String, _ body: (Connection) throws(RedisError) -> T
    ) throws(RoomWardenError) -> T {
        try perform(slot: KeySlot.of(key), doing: doing, attempt: { (a: ClusterAttempt) throws(RedisError) -> T in try body(a.connection) })
    }

    /// `perform(key:doing:_:)` for a slot, with what each try goes to: a
    /// body that keeps state per node (publish re-checking its recent
    /// batches when the primary changed) compares `attempt.node`.
    public func perform<T>(
        slot: Int, doing: String, attempt body: (ClusterAttempt) throws(RedisError) -> T
    ) throws(RoomWardenError) -> T {
        var budget = RetryBudget(retryFor, flag: retryFlag)
        var askTarget: Endpoint?
        var number = 0
        var redirectsInARow = 0
        var problem: Problem = .none
        func backOff(refreshing: Bool) throws(RoomWardenError) {
            guard budget.wait() else { throw problem.error(self, doing: doing, budget: budget) }
            if refreshing { try refreshIfPossible() }
        }
        while true {
            number += 1
            let target: ClusterNode
            let asking = askTarget != nil
            if let ask = askTarget {
                target = map.nodes.first { $0.endpoint == ask } ?? ClusterNode(id: "", endpoint: ask, role: .primary)
                askTarget = nil
            } else if let owner = map.owner(ofSlot: slot) {
                target = owner
            } else {
                problem = .unserved(slot)
                try backOff(refreshing: true)
                continue
            }
            let conn: Connection
            do {
                conn = try connection(to: target.endpoint)
            } catch {
                guard error.exitCode == 69 else { throw error }
                problem = .lost(target, error.message)
                redirectsInARow = 0
                try backOff(refreshing: true)
                continue
            }
            let outcome: Result<T, RedisError>
            do {
                if asking { try conn.command("ASKING").check() }
                outcome = .success(try body(ClusterAttempt(connection: conn, node: target, number: number, asking: asking)))
            } catch {
                outcome = .failure(error)
            }
            let error: RedisError
            switch outcome {
            case .success(let value): return value
            case .failure(let e): error = e
            }
            if error.isConnectionFailure {
                drop(target.endpoint)
                problem = .lost(target, RoomWardenError.from(error, doing: doing, endpoint: target.endpoint).message)
                redirectsInARow = 0
                try backOff(refreshing: true)
                continue
            }
            guard let action = ServerErrorAction(error, repliedBy: target.endpoint) else {
                throw RoomWardenError.from(error, doing: doing, endpoint: target.endpoint)
            }
            problem = .server(error.description, target)
            switch action {
            case .moved(let movedSlot, let to):
                map.move(slot: movedSlot, to: to)
                redirectsInARow += 1
                if movedSlot == slot {
                    try refreshIfPossible()
                    // A node whose view lags may not know yet what the
                    // redirecting node said: the redirection wins.
                    if map.owner(ofSlot: slot)?.endpoint != to { map.move(slot: slot, to: to) }
                }
                if redirectsInARow > 3 { try backOff(refreshing: false) }
            case .ask(_, let to):
                redirectsInARow += 1
                askTarget = to
                if redirectsInARow > 3 { try backOff(refreshing: false) }
            case .tryAgain, .loading:
                try backOff(refreshing: false)
            case .clusterDown, .readOnly, .masterDown:
                try backOff(refreshing: true)
            }
        }
    }

    /// What kept the last try from succeeding, for the message when the budget runs out.
    private enum Problem {
        case none
        case unserved(Int)
        case server(String, ClusterNode)
        case lost(ClusterNode, String)

        func error(_ topology: ClusterTopology, doing: String, budget: RetryBudget) -> RoomWardenError {
            let within = "within \(budget.totalDescription)"
            switch self {
            case .none:
                return .unreachable("gave up \(doing) \(within)")
            case .unserved(let slot):
                return topology.unservedSlot(slot, within: within)
            case .server(let line, let node):
                return .unreachable("gave up \(doing): \(node.endpoint) still answers '\(line)' after retrying \(within); check the cluster (redis-cli -c cluster info)")
            case .lost(let node, let reason):
                return topology.unreachablePrimary(node, reason: reason, doing: doing, within: within)
            }
        }
    }

    // MARK: Every primary

    /// An open connection to the primary of every shard that serves slots,
    /// for commands that must ask all of them (SCAN, pipelined stats).
    ///
    /// A primary that cannot be reached is waited for (refreshing the map:
    /// the cluster may fail it over) for up to `retryFor`; then it throws 69
    /// naming every such primary and the slots it serves: never a silently
    /// partial answer.
    public func primaryConnections(doing: String) throws(RoomWardenError) -> [(shard: ClusterShard, connection: Connection)] {
        var budget = RetryBudget(retryFor, flag: retryFlag)
        while true {
            var open: [(shard: ClusterShard, connection: Connection)] = []
            var missing: [(ClusterNode, String)] = []
            if map.servingShards.isEmpty { try refreshIfPossible() }
            for shard in map.servingShards {
                guard let primary = shard.primary else { continue }
                do {
                    open.append((shard, try connection(to: primary.endpoint)))
                } catch {
                    if error.exitCode != 69 { throw error }
                    missing.append((primary, error.message))
                }
            }
            let unserved = map.unservedSlots
            if missing.isEmpty, unserved.isEmpty, !open.isEmpty { return open }
            guard budget.wait() else {
                if !missing.isEmpty {
                    throw unreachablePrimaries(missing, doing: doing, within: "within \(budget.totalDescription)")
                }
                throw RoomWardenError.unreachable(
                    "cannot finish \(doing): slots \(ClusterShard.describe(unserved)) are served by no node of the Redis Cluster; its answer would be partial (check redis-cli -c cluster info)")
            }
            try refreshIfPossible()
        }
    }

    /// Runs `body` on the primary of every shard that serves slots, one
    /// shard after the other. Unreachable primaries are handled as in
    /// `primaryConnections`. When the link to a primary fails during
    /// `body`, or it answers `READONLY`/`CLUSTERDOWN`/`LOADING`/`TRYAGAIN`,
    /// the map is refreshed and `body` runs again for the same slots on
    /// their (new) primary, within `retryFor`: so `body` must be able to
    /// start over for its shard (a SCAN started again from cursor 0 may
    /// name keys twice: collect them in a set).
    public func forEachPrimary(doing: String, _ body: (ClusterShard, Connection) throws(RedisError) -> Void) throws(RoomWardenError) {
        let shards = try primaryConnections(doing: doing).map(\.shard)
        for shard in shards {
            guard let first = shard.slots.first?.lowerBound else { continue }
            try perform(slot: first, doing: doing, attempt: { (a: ClusterAttempt) throws(RedisError) -> Void in
                let current = self.map.shard(ofSlot: first) ?? shard
                try body(current, a.connection)
            })
        }
    }

    /// Tries to open a connection to every node of the map: those that
    /// answered, and those that did not with why. Which of these matter is
    /// the caller's call (a failed replica holds no subscribers).
    public func connectEveryNode() -> (open: [(node: ClusterNode, connection: Connection)], unreachable: [(node: ClusterNode, error: RoomWardenError)]) {
        var open: [(node: ClusterNode, connection: Connection)] = []
        var failed: [(node: ClusterNode, error: RoomWardenError)] = []
        for node in map.nodes {
            do { open.append((node, try connection(to: node.endpoint))) } catch { failed.append((node, error)) }
        }
        return (open, failed)
    }

    // MARK: Connections of their own

    /// A new connection to `endpoint`, kept out of the pool: for a
    /// subscriber (a subscribed connection runs no other command), such as
    /// `SSUBSCRIBE` on each shard's primary for sharded pub/sub.
    public func openDedicated(to endpoint: Endpoint) throws(RoomWardenError) -> Connection {
        let made = try connect(endpoint)
        if !seeds.contains(endpoint) { seeds.append(endpoint) }
        return made
    }

    /// A new connection, kept out of the pool, to the first node that
    /// answers, trying no node in `avoiding` (addresses as
    /// `Endpoint.description`: the node that just failed) and the nodes
    /// the cluster says are failed last; for watch, whose one PSUBSCRIBE
    /// on any node sees every room, to move at once when its node fails.
    /// The map is refreshed first when a node fails to answer. 69 naming
    /// every node tried when none answers.
    public func openAnyNode(avoiding: Set<String> = []) throws(RoomWardenError) -> (node: ClusterNode, connection: Connection) {
        var tried: [String] = []
        var lastReason = ""
        for round in 0..<2 {
            if round == 1 { try refreshIfPossible() }
            let nodes = map.nodes.filter { !avoiding.contains($0.endpoint.description) }
            let ordered = nodes.filter { $0.health != .failed } + nodes.filter { $0.health == .failed }
            for node in ordered where !tried.contains(node.endpoint.description) {
                do {
                    return (node, try openDedicated(to: node.endpoint))
                } catch {
                    if error.exitCode == 77 { throw error }
                    tried.append(node.endpoint.description)
                    lastReason = ClusterTopology.stripped(error.message)
                }
            }
        }
        throw RoomWardenError.unreachable(
            "no node of the Redis Cluster answered (tried \(tried.joined(separator: ", "))): \(lastReason); check that the cluster is up (redis-cli -c cluster info)")
    }

    // MARK: Errors

    /// The shard of the map that `node` is primary of, if any.
    private func slots(of node: ClusterNode) -> String {
        let ranges = map.shards.filter { $0.primary?.endpoint == node.endpoint }.flatMap(\.slots)
        return ClusterShard.describe(ranges)
    }

    func unreachablePrimary(_ node: ClusterNode, reason: String, doing: String, within: String) -> RoomWardenError {
        unreachablePrimaries([(node, reason)], doing: doing, within: within)
    }

    /// 69 naming each primary that cannot be reached and its slots, with
    /// the first one's reason.
    private func unreachablePrimaries(_ missing: [(ClusterNode, String)], doing: String, within: String) -> RoomWardenError {
        let reason = missing.first?.1 ?? "unreachable"
        let names = missing.map { "\($0.0.endpoint) (slots \(slots(of: $0.0)))" }.joined(separator: ", ")
        let what = missing.count == 1
            ? "the Redis Cluster primary \(names) is unreachable and was not failed over"
            : "the Redis Cluster primaries \(names) are unreachable and were not failed over"
        return .unreachable(
            "cannot finish \(doing): \(what) \(within): \(ClusterTopology.stripped(reason)); the keys in those slots cannot be reached (bring the node back, or fail it over: redis-cli -p REPLICA_PORT cluster failover force)")
    }

    func unservedSlot(_ slot: Int, within: String = "") -> RoomWardenError {
        let after = within.isEmpty ? "" : " \(within)"
        return .unreachable("slot \(slot) is served by no node of the Redis Cluster\(after) (CLUSTERDOWN); check redis-cli -c cluster info")
    }

    /// An error message without the advice after `;` that does not apply
    /// to a cluster node.
    private static func stripped(_ message: String) -> String {
        message.split(separator: ";", maxSplits: 1).first.map(String.init) ?? message
    }
}

@available(*, unavailable)
extension ClusterTopology: Sendable {}
