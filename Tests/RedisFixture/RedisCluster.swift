import Foundation
import Hiredis

/// A scratch Redis Cluster on loopback: by default 3 primaries with one
/// replica each, made by `redis-cli --cluster create`, each node a
/// `RedisServer` in cluster mode (own dir, `nodes.conf`, no persistence).
///
/// Start it once per suite (`static var`, or `RedisCluster.shared()` for
/// one per test process); it is killed at process exit like every
/// `RedisServer`. Tests may kill, pause, fail over and migrate; every query
/// here asks the servers, so it stays true after such changes. Helpers
/// that change the topology return once every running node agrees on the
/// new one (`waitHealthy`).
///
/// With `proxied: true` every node announces the port of its own
/// `FaultProxy` (`cluster-announce-port`), so clients that follow the
/// topology (CLUSTER SLOTS/SHARDS, MOVED, ASK) and replication go through
/// the proxies while the cluster bus stays direct: freezing a node's proxy
/// makes it unreachable for clients without the cluster failing it over.
public final class RedisCluster {
    /// What a node is in the cluster.
    public enum Role: String, Equatable {
        /// Serves slots.
        case primary
        /// Replicates a primary.
        case replica
    }

    /// One node as the cluster sees it right now.
    public struct Node: Equatable, CustomStringConvertible {
        /// The node id (40 hex digits; kept across restarts).
        public let id: String
        /// The node's own loopback port (the fixture's own way in).
        public let port: Int
        /// The port the cluster gives clients for this node: its proxy's
        /// in a proxied cluster, else `port`. MOVED and ASK name this one.
        public let announcedPort: Int
        /// The cluster bus port.
        public let busPort: Int
        /// Primary or replica, as the cluster reports it.
        public let role: Role
        /// The primary's id, for a replica.
        public let primaryID: String?
        /// The slots a primary serves, as ranges.
        public let slots: [ClosedRange<Int>]
        /// The server's process id; nil when it was killed.
        public let processID: pid_t?
        /// True while the process is paused (SIGSTOP).
        public let isPaused: Bool

        /// True for a primary.
        public var isPrimary: Bool { role == .primary }
        /// True unless the process was killed.
        public var isAlive: Bool { processID != nil }
        /// `127.0.0.1:announcedPort`: where clients reach the node.
        public var endpoint: Endpoint { .tcp(host: "127.0.0.1", port: announcedPort) }

        public var description: String {
            let what = role == .primary
                ? "primary " + slots.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
                : "replica of \(primaryID?.prefix(8) ?? "?")"
            return "127.0.0.1:\(port) \(id.prefix(8)) \(what)\(isAlive ? "" : " (killed)")\(isPaused ? " (paused)" : "")"
        }
    }

    /// Every node's server, in creation order (pause, resume, logs).
    public let servers: [RedisServer]
    /// The password of every node's default user, if any.
    public let password: String?
    /// `cluster-node-timeout`: how long a node may be unreachable before
    /// its replica takes over (about twice this, in practice).
    public let nodeTimeoutMilliseconds: Int
    /// Node ids, in the order of `servers`.
    public let ids: [String]
    /// In a proxied cluster, each node's proxy, in the order of `servers`;
    /// else empty.
    public let proxies: [FaultProxy]

    /// The slot count of Redis Cluster.
    public static let slotCount = 16384

    /// Starts `primaries` x (1 + `replicasPerPrimary`) nodes, creates the
    /// cluster and waits until it is healthy. `extraArguments` go on every
    /// node's command line; `proxied` puts a `FaultProxy` in front of each
    /// node.
    public init(
        primaries: Int = 3, replicasPerPrimary: Int = 1, nodeTimeoutMilliseconds: Int = 1500,
        password: String? = nil, proxied: Bool = false, extraArguments: [String] = [], timeout: TimeInterval = 60
    ) throws {
        precondition(primaries >= 3, "redis-cli --cluster create needs 3 primaries")
        self.password = password
        self.nodeTimeoutMilliseconds = nodeTimeoutMilliseconds
        var started: [RedisServer] = []
        var fronts: [FaultProxy] = []
        do {
            for _ in 0..<(primaries * (1 + replicasPerPrimary)) {
                var announce: [String] = []
                if proxied {
                    // The proxy's port must be on the node's command line, so
                    // the proxy comes first and is pointed at the node after.
                    let proxy = try FaultProxy(targetPort: 1)
                    fronts.append(proxy)
                    announce = ["--cluster-announce-port", String(proxy.port)]
                }
                let server = try RedisServer(
                    mode: .clusterNode(nodeTimeoutMilliseconds: nodeTimeoutMilliseconds),
                    extraArguments: announce + extraArguments, password: password)
                started.append(server)
                if proxied { try fronts[fronts.count - 1].setTarget(port: server.port) }
            }
            var found: [String] = []
            for server in started {
                guard let id = try server.run(timeout: .seconds(5), ["CLUSTER", "MYID"]).string, id.count == 40 else {
                    throw FixtureError("CLUSTER MYID failed on port \(server.port)")
                }
                found.append(id)
            }
            ids = found
        } catch {
            for s in started { s.stop() }
            throw error
        }
        servers = started
        proxies = fronts
        do {
            let cli = try RedisServer.which("redis-cli")
            let log = started[0].directory.appendingPathComponent("cluster-create.log")
            let (status, output) = try runTool(
                cli,
                (password.map { ["-a", $0, "--no-auth-warning"] } ?? [])
                    + ["--cluster", "create"] + started.map { "127.0.0.1:\($0.port)" }
                    + ["--cluster-replicas", String(replicasPerPrimary), "--cluster-yes"],
                log: log, timeout: timeout)
            guard status == 0 else {
                throw FixtureError("redis-cli --cluster create failed (\(status)): \(output.suffix(2000))")
            }
            try waitHealthy(timeout: timeout)
        } catch {
            for s in started { s.stop() }
            throw error
        }
    }

    private static let sharedLock = NSLock()
    private static var sharedCluster: RedisCluster?

    /// One cluster for the whole test process, started on first use. Later
    /// calls first bring back every killed node, resume every paused one
    /// and wait until the cluster is healthy; roles and slots may differ
    /// from the first call (earlier tests may have failed over or
    /// migrated), and data is left as it is.
    public static func shared() throws -> RedisCluster {
        sharedLock.lock(); defer { sharedLock.unlock() }
        if let cluster = sharedCluster {
            try cluster.revive()
            return cluster
        }
        let cluster = try RedisCluster()
        sharedCluster = cluster
        return cluster
    }

    // MARK: Looking

    /// Every node's own port, in creation order.
    public var ports: [Int] { servers.map(\.port) }

    /// Every node's announced port (its proxy's, in a proxied cluster), in
    /// creation order.
    public var announcedPorts: [Int] { proxies.isEmpty ? ports : proxies.map(\.port) }

    /// `-h 127.0.0.1 -p PORT` for the CLI: the announced port of the first
    /// running node.
    public var seedArguments: [String] {
        let first = servers.firstIndex { $0.isRunning } ?? 0
        return ["-h", "127.0.0.1", "-p", String(announcedPorts[first])]
    }

    /// The proxy in front of `node`, in a proxied cluster.
    public func proxy(_ node: Node) throws -> FaultProxy {
        guard !proxies.isEmpty else { throw FixtureError("this cluster was not started with proxied: true") }
        return proxies[try index(of: node)]
    }

    /// Every node, as the first running node sees the cluster.
    public func nodes() throws -> [Node] {
        let view = try self.view(from: try anyRunning())
        return servers.indices.map { i in
            let entry = view.entries[ids[i]]
            return Node(
                id: ids[i], port: servers[i].port, announcedPort: announcedPorts[i], busPort: servers[i].clusterBusPort ?? 0,
                role: entry?.isPrimary == false ? .replica : .primary,
                primaryID: entry?.primaryID, slots: entry?.slots ?? [],
                processID: servers[i].processID, isPaused: servers[i].isPaused)
        }
    }

    /// The primaries, in creation order.
    public func primaries() throws -> [Node] { try nodes().filter(\.isPrimary) }

    /// The replicas, in creation order.
    public func replicas() throws -> [Node] { try nodes().filter { !$0.isPrimary } }

    /// The node listening on `port` (its own or its announced one).
    public func node(port: Int) throws -> Node {
        guard let node = try nodes().first(where: { $0.port == port || $0.announcedPort == port }) else {
            throw FixtureError("no cluster node on port \(port)")
        }
        return node
    }

    /// The server behind a node (to pause, resume or read its log).
    public func server(_ node: Node) throws -> RedisServer { servers[try index(of: node)] }

    /// The replicas of `primary`.
    public func replicas(of primary: Node) throws -> [Node] {
        try nodes().filter { $0.primaryID == primary.id }
    }

    /// The slot of `key`, as the server computes it (`CLUSTER KEYSLOT`).
    public func keySlot(_ key: String) throws -> Int {
        guard let slot = try anyRunning().run(timeout: .seconds(5), ["CLUSTER", "KEYSLOT", key]).integer else {
            throw FixtureError("CLUSTER KEYSLOT \(key) gave no integer")
        }
        return Int(slot)
    }

    /// The primary serving `slot`.
    public func primary(forSlot slot: Int) throws -> Node {
        guard let node = try nodes().first(where: { $0.isPrimary && $0.slots.contains { $0.contains(slot) } }) else {
            throw FixtureError("no primary serves slot \(slot)")
        }
        return node
    }

    /// The primary serving `key`'s slot.
    public func primary(forKey key: String) throws -> Node {
        try primary(forSlot: try keySlot(key))
    }

    /// A fresh TCP connection to the node on `port`, authenticated; with a
    /// `timeout`, no read or write waits longer.
    public func connect(toPort port: Int, timeout: Duration? = nil) throws -> Connection {
        let c = try Connection(endpoint: .tcp(host: "127.0.0.1", port: port), connectTimeout: .seconds(2))
        if let timeout { try c.setTimeout(timeout) }
        if let password { try c.command("AUTH", password).check() }
        return c
    }

    /// A fresh TCP connection to `node` where clients reach it (through its
    /// proxy in a proxied cluster).
    public func connect(to node: Node, timeout: Duration? = nil) throws -> Connection {
        try connect(toPort: node.announcedPort, timeout: timeout)
    }

    // MARK: Faults

    /// Crashes `node` (SIGKILL). Its replica takes over after about twice
    /// `nodeTimeoutMilliseconds`; `waitHealthy()` waits for that.
    public func kill9(_ node: Node) throws {
        servers[try index(of: node)].kill9()
    }

    /// Starts a killed node again with its `nodes.conf`, and waits until
    /// the cluster is healthy. A primary whose replica took over in the
    /// meantime comes back as that replica's replica.
    public func restart(_ node: Node, timeout: TimeInterval = 30) throws {
        try servers[try index(of: node)].start()
        try waitHealthy(timeout: timeout)
    }

    /// How a replica takes over in `failover`.
    public enum FailoverKind: String {
        /// `CLUSTER FAILOVER`: with the primary's agreement, no write lost.
        case coordinated = ""
        /// `CLUSTER FAILOVER FORCE`: without the primary (it may be down),
        /// with the other primaries' votes.
        case force = "FORCE"
        /// `CLUSTER FAILOVER TAKEOVER`: without anyone's agreement.
        case takeover = "TAKEOVER"
    }

    /// Makes a replica of `primary` the primary of its slots (`CLUSTER
    /// FAILOVER` run on the replica) and waits until it says it is primary
    /// and the cluster is healthy; returns the new primary.
    @discardableResult
    public func failover(replicaOf primary: Node, kind: FailoverKind = .coordinated, timeout: TimeInterval = 30) throws -> Node {
        guard let replica = try replicas(of: primary).first(where: \.isAlive) else {
            throw FixtureError("\(primary) has no running replica")
        }
        return try failover(to: replica, kind: kind, timeout: timeout)
    }

    /// Makes `replica` the primary of its primary's slots and waits until the
    /// cluster is healthy; returns it as it is now.
    @discardableResult
    public func failover(to replica: Node, kind: FailoverKind = .coordinated, timeout: TimeInterval = 30) throws -> Node {
        let server = servers[try index(of: replica)]
        let start = Date()
        try waitFor("CLUSTER FAILOVER \(kind.rawValue) accepted by \(replica)", timeout: timeout, interval: 0.2) { seen in
            let reply = try server.run(timeout: .seconds(5), ["CLUSTER", "FAILOVER"] + (kind == .coordinated ? [] : [kind.rawValue]))
            seen = "\(reply)"
            return reply == .status("OK")
        }
        try waitFor("\(replica) to become primary", timeout: timeout) { seen in
            let role = roleName(try server.run(timeout: .seconds(2), ["ROLE"]))
            seen = "ROLE \(role ?? "?")"
            return role == "master"
        }
        try waitHealthy(timeout: max(1, timeout - Date().timeIntervalSince(start)))
        return try node(port: replica.port)
    }

    // MARK: Health

    /// Brings back every killed node, resumes every paused one and waits
    /// until the cluster is healthy (roles and slots as they are now).
    public func revive() throws {
        for server in servers {
            if server.isPaused { try server.resume() }
            if !server.isRunning { try server.start() }
        }
        try waitHealthy()
    }

    /// Waits until every running node says `cluster_state:ok` with all
    /// 16384 slots served by running nodes, every running node sees the
    /// same slot map and roles with no running node flagged failing and no
    /// slot half migrated, and every running replica is in sync with its
    /// primary (link up, no sync in progress). A paused node counts as not
    /// running: the cluster fails it over like a dead one.
    public func waitHealthy(timeout: TimeInterval = 30) throws {
        try waitFor("a healthy cluster", timeout: timeout, interval: 0.1) { seen in
            let running = servers.indices.filter { servers[$0].isRunning && !servers[$0].isPaused }
            let runningIDs = Set(running.map { ids[$0] })
            var first: View.Agreed?
            for i in running {
                let server = servers[i]
                let info = infoFields(try server.run(timeout: .seconds(2), ["CLUSTER", "INFO"]))
                guard info["cluster_state"] == "ok", info["cluster_slots_ok"] == String(Self.slotCount) else {
                    seen = "port \(server.port): state \(info["cluster_state"] ?? "?"), slots ok \(info["cluster_slots_ok"] ?? "?")"
                    return false
                }
                let view = try self.view(from: server)
                if let problem = view.problem(running: runningIDs) {
                    seen = "port \(server.port): \(problem)"
                    return false
                }
                let agreed = view.agreed(running: runningIDs)
                if let first, first != agreed {
                    seen = "port \(server.port) sees another topology than port \(servers[running[0]].port)"
                    return false
                }
                first = agreed
                if view.entries[ids[i]]?.isPrimary == false {
                    let replication = infoFields(try server.run(timeout: .seconds(2), ["INFO", "replication"]))
                    guard replication["master_link_status"] == "up", replication["master_sync_in_progress"] == "0" else {
                        seen = "replica on port \(server.port): link \(replication["master_link_status"] ?? "?")"
                        return false
                    }
                }
            }
            return first != nil
        }
    }

    /// Empties every database on every running primary.
    public func flushAll() throws {
        for node in try primaries() where node.isAlive {
            try servers[try index(of: node)].run(timeout: .seconds(5), ["FLUSHALL"]).check()
        }
    }

    // MARK: Slot migration

    /// Moves `slot` and its keys from its primary to `target` (begin, move
    /// every key, finish) and waits until every node agrees.
    public func migrateSlot(_ slot: Int, to target: Node, timeout: TimeInterval = 30) throws {
        try migrateSlot(slot, from: try primary(forSlot: slot), to: target, timeout: timeout)
    }

    /// Moves `slot` and its keys from `source` to `target`.
    public func migrateSlot(_ slot: Int, from source: Node, to target: Node, timeout: TimeInterval = 30) throws {
        let migration = try beginMigration(slot: slot, from: source, to: target)
        try migration.moveKeys()
        try migration.finish(timeout: timeout)
    }

    /// Starts moving `slot` from `source` to `target`: `target` is set
    /// IMPORTING, then `source` MIGRATING. From here until `finish()`,
    /// `source` answers ASK for keys it no longer holds.
    public func beginMigration(slot: Int, from source: Node, to target: Node) throws -> SlotMigration {
        guard source.isPrimary, source.slots.contains(where: { $0.contains(slot) }) else {
            throw FixtureError("\(source) does not serve slot \(slot)")
        }
        guard target.isPrimary, target.id != source.id else { throw FixtureError("\(target) is no other primary") }
        let s = String(slot)
        try servers[try index(of: target)].run(timeout: .seconds(5), ["CLUSTER", "SETSLOT", s, "IMPORTING", source.id]).check()
        try servers[try index(of: source)].run(timeout: .seconds(5), ["CLUSTER", "SETSLOT", s, "MIGRATING", target.id]).check()
        return SlotMigration(cluster: self, slot: slot, source: source, target: target)
    }

    /// A slot being moved from one primary to another, in steps, so a test
    /// can run traffic between them.
    public final class SlotMigration {
        /// The slot being moved.
        public let slot: Int
        /// Where it comes from.
        public let source: Node
        /// Where it goes.
        public let target: Node
        private let cluster: RedisCluster

        init(cluster: RedisCluster, slot: Int, source: Node, target: Node) {
            self.cluster = cluster
            self.slot = slot
            self.source = source
            self.target = target
        }

        /// The keys of the slot still on the source.
        public func keysLeft(limit: Int = 1000) throws -> [[UInt8]] {
            let reply = try cluster.servers[try cluster.index(of: source)]
                .run(timeout: .seconds(5), ["CLUSTER", "GETKEYSINSLOT", String(slot), String(limit)])
            try reply.check()
            return (reply.elements ?? []).compactMap(\.bytes)
        }

        /// Moves up to `limit` keys (`CLUSTER GETKEYSINSLOT` + `MIGRATE ...
        /// REPLACE KEYS`, `batch` at a time); returns how many moved.
        @discardableResult
        public func moveKeys(limit: Int = .max, batch: Int = 100) throws -> Int {
            let connection = try cluster.servers[try cluster.index(of: source)].connect(timeout: .seconds(10))
            var moved = 0
            let deadline = Date().addingTimeInterval(60)
            while moved < limit {
                guard Date() < deadline else { throw FixtureError("slot \(slot) still has keys after 60 s of MIGRATE") }
                let keys = try keysLeft(limit: min(batch, limit - moved))
                if keys.isEmpty { break }
                var command: [[UInt8]] = ["MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000"].map { Array($0.utf8) }
                if let password = cluster.password { command += [Array("AUTH".utf8), Array(password.utf8)] }
                command += [Array("REPLACE".utf8), Array("KEYS".utf8)] + keys
                let reply = try connection.command(command)
                guard reply == .status("OK") || reply == .status("NOKEY") else {
                    throw FixtureError("MIGRATE of slot \(slot) to \(target.port) failed: \(reply)")
                }
                moved += keys.count
            }
            return moved
        }

        /// Moves what keys are left, gives the slot to the target (`CLUSTER
        /// SETSLOT slot NODE id` on the target, the source and every other
        /// primary) and waits until every node agrees.
        public func finish(timeout: TimeInterval = 30) throws {
            try moveKeys()
            let s = String(slot)
            try cluster.servers[try cluster.index(of: target)].run(timeout: .seconds(5), ["CLUSTER", "SETSLOT", s, "NODE", target.id]).check()
            try cluster.servers[try cluster.index(of: source)].run(timeout: .seconds(5), ["CLUSTER", "SETSLOT", s, "NODE", target.id]).check()
            for other in try cluster.primaries() where other.isAlive && other.id != source.id && other.id != target.id {
                try cluster.servers[try cluster.index(of: other)].run(timeout: .seconds(5), ["CLUSTER", "SETSLOT", s, "NODE", target.id]).check()
            }
            try waitFor("every node to give slot \(slot) to \(target.port)", timeout: timeout) { seen in
                for server in cluster.servers where server.isRunning && !server.isPaused {
                    let owner = try cluster.view(from: server).owner(of: slot)
                    if owner != target.id { seen = "port \(server.port) says \(owner ?? "nobody")"; return false }
                }
                return true
            }
            try cluster.waitHealthy(timeout: timeout)
        }
    }

    // MARK: Reading CLUSTER NODES

    func index(of node: Node) throws -> Int {
        guard let i = ids.firstIndex(of: node.id) else {
            throw FixtureError("\(node) is not a node of this cluster")
        }
        return i
    }

    private func anyRunning() throws -> RedisServer {
        guard let server = servers.first(where: { $0.isRunning && !$0.isPaused }) else {
            throw FixtureError("no cluster node is running")
        }
        return server
    }

    /// The cluster as one node sees it (`CLUSTER NODES`).
    func view(from server: RedisServer) throws -> View {
        let reply = try server.run(timeout: .seconds(2), ["CLUSTER", "NODES"])
        guard let text = reply.string else { throw FixtureError("CLUSTER NODES on port \(server.port): \(reply)") }
        return View(parsing: text)
    }

    /// One node's `CLUSTER NODES`.
    struct View {
        struct Entry: Equatable {
            var id: String
            var port: Int
            var flags: Set<String>
            var primaryID: String?
            var connected: Bool
            var slots: [ClosedRange<Int>]
            var hasOpenSlots: Bool
            var isPrimary: Bool { flags.contains("master") }
            var isFlagged: Bool { !flags.isDisjoint(with: ["fail", "fail?", "handshake", "noaddr"]) }
        }

        /// What every healthy node must agree on: slot owners and roles of
        /// the running nodes.
        struct Agreed: Equatable {
            var slotOwners: [String: [ClosedRange<Int>]]
            var primaryOf: [String: String?]
        }

        var entries: [String: Entry] = [:]

        init(parsing text: String) {
            for line in text.split(whereSeparator: \.isNewline) {
                let fields = line.split(separator: " ").map(String.init)
                guard fields.count >= 8 else { continue }
                let address = fields[1].split(separator: "@").first ?? ""
                let port = address.split(separator: ":").last.flatMap { Int($0) } ?? 0
                var slots: [ClosedRange<Int>] = []
                var open = false
                for spec in fields.dropFirst(8) {
                    if spec.hasPrefix("[") { open = true; continue }
                    let bounds = spec.split(separator: "-").compactMap { Int($0) }
                    if bounds.count == 1 { slots.append(bounds[0]...bounds[0]) }
                    if bounds.count == 2, bounds[0] <= bounds[1] { slots.append(bounds[0]...bounds[1]) }
                }
                entries[fields[0]] = Entry(
                    id: fields[0], port: port, flags: Set(fields[2].split(separator: ",").map(String.init)),
                    primaryID: fields[3] == "-" ? nil : fields[3], connected: fields[7] == "connected",
                    slots: slots.sorted { $0.lowerBound < $1.lowerBound }, hasOpenSlots: open)
            }
        }

        /// The id of the node serving `slot`.
        func owner(of slot: Int) -> String? {
            entries.values.first { $0.isPrimary && $0.slots.contains { $0.contains(slot) } }?.id
        }

        /// Why this view is not healthy, or nil.
        func problem(running: Set<String>) -> String? {
            var covered = 0
            for entry in entries.values where entry.isPrimary && !entry.slots.isEmpty {
                guard running.contains(entry.id) else { return "slots served by stopped node \(entry.port)" }
                covered += entry.slots.reduce(0) { $0 + $1.count }
            }
            if covered != RedisCluster.slotCount { return "\(covered) slots covered" }
            for id in running {
                guard let entry = entries[id] else { return "node \(id.prefix(8)) unknown" }
                if entry.isFlagged { return "node \(entry.port) flagged \(entry.flags.sorted().joined(separator: ","))" }
                if !entry.connected { return "node \(entry.port) disconnected" }
                if entry.hasOpenSlots { return "node \(entry.port) has a slot half migrated" }
            }
            return nil
        }

        func agreed(running: Set<String>) -> Agreed {
            var owners: [String: [ClosedRange<Int>]] = [:]
            var primaryOf: [String: String?] = [:]
            for entry in entries.values where running.contains(entry.id) {
                if entry.isPrimary { owners[entry.id] = entry.slots } else { primaryOf[entry.id] = entry.primaryID }
            }
            return Agreed(slotOwners: owners, primaryOf: primaryOf)
        }
    }
}
