import Hiredis

/// One node of a Redis Cluster as the cluster describes it.
public struct ClusterNode: Sendable, Equatable, CustomStringConvertible {
    /// A node serves its shard's slots (primary) or copies a primary (replica).
    public enum Role: String, Sendable, Equatable {
        case primary, replica
    }

    /// What the cluster says of the node's health (`CLUSTER SHARDS`;
    /// `CLUSTER SLOTS` does not say: `.unknown`).
    public enum Health: String, Sendable, Equatable {
        case online, failed, loading, unknown
    }

    /// The node's 40-character id; empty when not known (a node learnt
    /// from a MOVED reply only).
    public var id: String
    /// Where it listens for clients.
    public var endpoint: Endpoint
    /// Primary or replica.
    public var role: Role
    /// Its health as the cluster sees it.
    public var health: Health

    /// A node as the cluster describes it.
    public init(id: String, endpoint: Endpoint, role: Role, health: Health = .unknown) {
        self.id = id
        self.endpoint = endpoint
        self.role = role
        self.health = health
    }

    /// `127.0.0.1:7001 (primary 07c37dfe)`: the address first, as redis-cli prints it.
    public var description: String {
        let shortID = id.isEmpty ? "" : " " + id.prefix(8)
        return "\(endpoint) (\(role.rawValue)\(shortID))"
    }
}

/// A primary, its replicas, and the slot ranges they serve.
public struct ClusterShard: Sendable, Equatable {
    /// The slot ranges, sorted, not overlapping.
    public var slots: [ClosedRange<Int>]
    /// The node serving the slots; nil only for a shard learnt with no primary.
    public var primary: ClusterNode?
    /// Its replicas.
    public var replicas: [ClusterNode]

    /// A shard.
    public init(slots: [ClosedRange<Int>], primary: ClusterNode?, replicas: [ClusterNode] = []) {
        self.slots = ClusterShard.normalised(slots)
        self.primary = primary
        self.replicas = replicas
    }

    /// How many slots the shard serves.
    public var slotCount: Int { slots.reduce(0) { $0 + $1.count } }

    /// `0-5460,10923` as redis-cli writes slot ranges.
    public var slotsDescription: String { ClusterShard.describe(slots) }

    /// Ranges written `a-b` (or `a` alone), comma-separated; `none` when empty.
    public static func describe(_ ranges: [ClosedRange<Int>]) -> String {
        guard !ranges.isEmpty else { return "none" }
        return ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",")
    }

    /// Sorted, with touching and overlapping ranges joined.
    static func normalised(_ ranges: [ClosedRange<Int>]) -> [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        for r in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, r.lowerBound <= last.upperBound + 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// The ranges less one slot.
    static func removing(_ slot: Int, from ranges: [ClosedRange<Int>]) -> [ClosedRange<Int>] {
        var out: [ClosedRange<Int>] = []
        for r in ranges {
            guard r.contains(slot) else { out.append(r); continue }
            if r.lowerBound < slot { out.append(r.lowerBound...(slot - 1)) }
            if slot < r.upperBound { out.append((slot + 1)...r.upperBound) }
        }
        return out
    }
}
