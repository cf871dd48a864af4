import Hiredis

/// Which node serves which of the 16384 slots: the shards of a cluster as
/// one node reported them (`CLUSTER SHARDS`, or `CLUSTER SLOTS` before
/// Redis 7), with a slot table for lookups.
public struct ClusterMap: Sendable, Equatable {
    /// Every shard, in the order the node listed them; shards without slots
    /// (an empty primary, a failed primary whose replica took over) too.
    public private(set) var shards: [ClusterShard]
    /// For each slot, the index of its shard in `shards`, or -1.
    private var slotShard: [Int16]

    /// A map of these shards.
    public init(shards: [ClusterShard]) {
        self.shards = shards
        slotShard = []
        rebuildSlotTable()
    }

    private mutating func rebuildSlotTable() {
        slotShard = [Int16](repeating: -1, count: KeySlot.count)
        for (i, shard) in shards.enumerated() {
            for range in shard.slots {
                for slot in range where (0..<KeySlot.count).contains(slot) { slotShard[slot] = Int16(i) }
            }
        }
    }

    // MARK: Lookups

    /// The shard serving `slot`, or nil when no node serves it.
    public func shard(ofSlot slot: Int) -> ClusterShard? {
        guard (0..<KeySlot.count).contains(slot) else { return nil }
        let i = Int(slotShard[slot])
        return i >= 0 ? shards[i] : nil
    }

    /// The primary serving `slot`, or nil when none does.
    public func owner(ofSlot slot: Int) -> ClusterNode? { shard(ofSlot: slot)?.primary }

    /// The primary serving the slot of `key`.
    public func owner(ofKey key: some Collection<UInt8>) -> ClusterNode? { owner(ofSlot: KeySlot.of(key)) }

    /// The primary serving the slot of `key` given as text.
    public func owner(ofKey key: String) -> ClusterNode? { owner(ofSlot: KeySlot.of(key)) }

    /// The shards that serve at least one slot: where every key lives.
    public var servingShards: [ClusterShard] { shards.filter { !$0.slots.isEmpty && $0.primary != nil } }

    /// The primary of every shard that serves slots, once each.
    public var primaries: [ClusterNode] { servingShards.compactMap(\.primary) }

    /// Every node the map knows, primaries and replicas, each once
    /// (by address), failed ones included: check `health`.
    public var nodes: [ClusterNode] {
        var seen = Set<String>()
        var out: [ClusterNode] = []
        for shard in shards {
            for node in (shard.primary.map { [$0] } ?? []) + shard.replicas
            where seen.insert(node.endpoint.description).inserted {
                out.append(node)
            }
        }
        return out
    }

    /// The slot ranges that no node serves (a cluster being set up, or a
    /// shard lost with no replica to take over).
    public var unservedSlots: [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        var start: Int?
        for slot in 0..<KeySlot.count {
            let served = slotShard[slot] >= 0 && shards[Int(slotShard[slot])].primary != nil
            if !served, start == nil { start = slot }
            if served, let s = start { out.append(s...(slot - 1)); start = nil }
        }
        if let s = start { out.append(s...(KeySlot.count - 1)) }
        return out
    }

    // MARK: Changes

    /// Records what a `MOVED slot host:port` reply says: `slot` is now
    /// served by the primary at `endpoint` (a node not in the map becomes a
    /// shard of its own until the next refresh names it).
    public mutating func move(slot: Int, to endpoint: Endpoint) {
        guard (0..<KeySlot.count).contains(slot) else { return }
        for i in shards.indices where shards[i].slots.contains(where: { $0.contains(slot) }) {
            shards[i].slots = ClusterShard.removing(slot, from: shards[i].slots)
        }
        if let i = shards.firstIndex(where: { $0.primary?.endpoint == endpoint }) {
            shards[i].slots = ClusterShard.normalised(shards[i].slots + [slot...slot])
        } else {
            shards.append(ClusterShard(slots: [slot...slot], primary: ClusterNode(id: "", endpoint: endpoint, role: .primary)))
        }
        rebuildSlotTable()
    }

    // MARK: Parsing

    /// The map from a `CLUSTER SHARDS` reply (Redis 7). `defaultHost` stands
    /// in for a node whose address the cluster does not know (`?` or empty):
    /// the host the reply came from.
    public static func parse(shards reply: Reply, defaultHost: String) throws(RedisError) -> ClusterMap {
        guard let list = reply.elements else { throw malformed("CLUSTER SHARDS", reply) }
        var shards: [ClusterShard] = []
        for entry in list {
            let fields = try pairs(entry, "CLUSTER SHARDS")
            var ranges: [ClosedRange<Int>] = []
            let bounds = (fields["slots"]?.elements ?? []).compactMap(number)
            var i = 0
            while i + 1 < bounds.count {
                if bounds[i] <= bounds[i + 1] { ranges.append(bounds[i]...bounds[i + 1]) }
                i += 2
            }
            var primary: ClusterNode?
            var replicas: [ClusterNode] = []
            for nodeReply in fields["nodes"]?.elements ?? [] {
                let node = try shardNode(try pairs(nodeReply, "CLUSTER SHARDS"), defaultHost: defaultHost)
                if node.role == .primary, primary == nil { primary = node } else { replicas.append(node) }
            }
            shards.append(ClusterShard(slots: ranges, primary: primary, replicas: replicas))
        }
        return ClusterMap(shards: shards)
    }

    private static func shardNode(_ fields: [String: Reply], defaultHost: String) throws(RedisError) -> ClusterNode {
        guard let port = fields["port"].flatMap(number), port > 0 else {
            throw .protocolError("CLUSTER SHARDS lists node \(fields["id"]?.string ?? "?") without a plain-text port (TLS only); hiredis 0.14 has no TLS")
        }
        let host = [fields["endpoint"]?.string, fields["ip"]?.string]
            .compactMap { $0 }
            .first { !$0.isEmpty && $0 != "?" } ?? defaultHost
        let role: ClusterNode.Role = fields["role"]?.string == "master" ? .primary : .replica
        let health: ClusterNode.Health
        switch fields["health"]?.string {
        case "online": health = .online
        case "fail", "failed": health = .failed
        case "loading": health = .loading
        default: health = .unknown
        }
        return ClusterNode(id: fields["id"]?.string ?? "", endpoint: .tcp(host: host, port: port), role: role, health: health)
    }

    /// The map from a `CLUSTER SLOTS` reply (every version since 3.0):
    /// ranges that share a primary make one shard.
    public static func parse(slots reply: Reply, defaultHost: String) throws(RedisError) -> ClusterMap {
        guard let list = reply.elements else { throw malformed("CLUSTER SLOTS", reply) }
        var shards: [ClusterShard] = []
        for entry in list {
            guard let e = entry.elements, e.count >= 3, let lo = number(e[0]), let hi = number(e[1]), lo <= hi else {
                throw malformed("CLUSTER SLOTS", entry)
            }
            let primary = try slotsNode(e[2], role: .primary, defaultHost: defaultHost)
            let replicas = try e.dropFirst(3).map { (r: Reply) throws(RedisError) -> ClusterNode in
                try slotsNode(r, role: .replica, defaultHost: defaultHost)
            }
            if let i = shards.firstIndex(where: { $0.primary?.endpoint == primary.endpoint }) {
                shards[i].slots = ClusterShard.normalised(shards[i].slots + [lo...hi])
                for r in replicas where !shards[i].replicas.contains(where: { $0.endpoint == r.endpoint }) {
                    shards[i].replicas.append(r)
                }
            } else {
                shards.append(ClusterShard(slots: [lo...hi], primary: primary, replicas: replicas))
            }
        }
        return ClusterMap(shards: shards)
    }

    private static func slotsNode(_ reply: Reply, role: ClusterNode.Role, defaultHost: String) throws(RedisError) -> ClusterNode {
        guard let e = reply.elements, e.count >= 2, let port = number(e[1]), port > 0 else {
            throw malformed("CLUSTER SLOTS", reply)
        }
        var host = e[0].string ?? ""
        if host.isEmpty || host == "?" {
            // Redis 7 puts the IP in the metadata when the endpoint is a hostname or unknown.
            let meta = e.count > 3 ? (try? pairs(e[3], "CLUSTER SLOTS")) : nil
            host = meta?["ip"]?.string.flatMap { $0.isEmpty ? nil : $0 } ?? defaultHost
        }
        let id = e.count > 2 ? (e[2].string ?? "") : ""
        return ClusterNode(id: id, endpoint: .tcp(host: host, port: port), role: role)
    }

    /// A flat `key value key value` array (a RESP2 map) as a dictionary.
    private static func pairs(_ reply: Reply, _ what: String) throws(RedisError) -> [String: Reply] {
        guard let e = reply.elements, e.count % 2 == 0 else { throw malformed(what, reply) }
        var out: [String: Reply] = [:]
        var i = 0
        while i < e.count {
            if let k = e[i].string { out[k] = e[i + 1] }
            i += 2
        }
        return out
    }

    private static func number(_ reply: Reply) -> Int? {
        if let i = reply.integer { return Int(exactly: i) }
        return reply.string.flatMap { Int($0) }
    }

    private static func malformed(_ what: String, _ reply: Reply) -> RedisError {
        if let line = reply.errorMessage { return .server(line) }
        return .protocolError("unexpected \(what) reply")
    }
}
