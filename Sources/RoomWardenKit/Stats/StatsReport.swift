import Hiredis

/// What `stats` looks at (SPEC §8).
public struct StatsOptions: Sendable {
    /// The channel pattern (default `room:*`).
    public var pattern = "room:*"
    public var template: ArchiveKeyTemplate = .standard
    /// Where a room's list backlog is looked up when it has no archive
    /// key; nil: nowhere.
    public var backlog: BacklogKeyTemplate? = .standard
    /// Activity windows: label (as the user wrote it) and length in ms.
    public var windows: [(label: String, milliseconds: Int64)] = [("1m", 60_000), ("1h", 3_600_000), ("24h", 86_400_000)]
    /// Listen this long first and count live messages per room.
    public var sampleMilliseconds: Int64?

    public init() {}
}

/// One room's figures; nil where unknown or not applicable.
public struct RoomStats: Sendable, Equatable {
    public var channel: [UInt8]
    /// Channel subscribers (PUBSUB NUMSUB); pattern subscribers are not per room.
    public var subscribers: Int?
    /// Entries in the archive; nil when the room has none.
    public var archived: Int?
    /// Entries newer than each window, in the order of the windows.
    public var windowCounts: [Int?]
    /// The newest archive entry's time, Unix ms.
    public var lastTs: Int64?
    /// Messages seen live during --sample.
    public var sampled: Int?
    /// The archive key's type when it is not a sorted set (`list`), or an
    /// error reading it.
    public var note: String?

    public var name: String { String(decoding: channel, as: UTF8.self) }
}

/// The server's pub/sub health; nil where the ACL user may not look.
public struct ServerStats: Sendable, Equatable {
    public var version: String?
    public var patternSubscriptions: Int?
    public var pubsubClients: Int?
    /// `client-output-buffer-limit` for pub/sub: hard bytes, soft bytes, soft seconds.
    public var pubsubLimit: [Int]?
}

extension ServerStats {
    /// The facts of several nodes as one: versions (each distinct one,
    /// comma-separated), pattern subscriptions and pub/sub clients summed
    /// (unknown if unknown on any node), the first node's buffer limit.
    init(combining nodes: [ServerStats]) {
        guard nodes.count > 1, let first = nodes.first else {
            self = nodes.first ?? ServerStats()
            return
        }
        var versions: [String] = []
        for v in nodes.compactMap(\.version) where !versions.contains(v) { versions.append(v) }
        version = versions.isEmpty ? nil : versions.joined(separator: ", ")
        func sum(_ values: [Int?]) -> Int? { values.contains(nil) ? nil : values.reduce(0) { $0 + ($1 ?? 0) } }
        patternSubscriptions = sum(nodes.map(\.patternSubscriptions))
        pubsubClients = sum(nodes.map(\.pubsubClients))
        pubsubLimit = first.pubsubLimit
    }
}

/// One node's facts: on a Redis Cluster, one per node.
public struct NodeStats: Sendable, Equatable {
    /// `host:port` (or the socket path).
    public var address: String
    /// `primary`, `replica`, `master` (behind sentinels) or `standalone`.
    public var role: String
    /// Its version, pattern subscriptions, pub/sub clients and buffer limit.
    public var server: ServerStats
}

/// A full report.
public struct StatsReport: Sendable {
    public var ts: Int64
    public var pattern: String
    public var windowLabels: [String]
    public var server: ServerStats
    public var rooms: [RoomStats]
    /// Every node asked (one for a single server or a master).
    public var nodes: [NodeStats] = []
    /// Sharded pub/sub channels (SSUBSCRIBE) matching the pattern, with
    /// their subscribers summed over the primaries.
    public var shardChannels: [(channel: [UInt8], subscribers: Int)] = []
    public var sampleSeconds: Double?
    /// How it was gathered: commands sent, round trips, wall time.
    public var commands = 0
    public var roundTrips = 0
    public var tookMilliseconds: Int64 = 0
}

/// How rooms are ordered (`--sort`).
public enum StatsSort: String, Sendable, CaseIterable {
    /// Most active first: live messages in the --sample, then archived
    /// messages in the first window, then archived overall.
    case messages
    case subscribers
    case name
    /// Most recent message first.
    case last

    /// The rooms in this order.
    public func apply(_ rooms: [RoomStats]) -> [RoomStats] {
        rooms.sorted { a, b in
            switch self {
            case .name: return a.channel.lexicographicallyPrecedes(b.channel)
            case .subscribers:
                if (a.subscribers ?? -1) != (b.subscribers ?? -1) { return (a.subscribers ?? -1) > (b.subscribers ?? -1) }
            case .last:
                if (a.lastTs ?? .min) != (b.lastTs ?? .min) { return (a.lastTs ?? .min) > (b.lastTs ?? .min) }
            case .messages:
                if (a.sampled ?? -1) != (b.sampled ?? -1) { return (a.sampled ?? -1) > (b.sampled ?? -1) }
                let wa = a.windowCounts.first.flatMap { $0 } ?? -1, wb = b.windowCounts.first.flatMap { $0 } ?? -1
                if wa != wb { return wa > wb }
                if (a.archived ?? -1) != (b.archived ?? -1) { return (a.archived ?? -1) > (b.archived ?? -1) }
            }
            return a.channel.lexicographicallyPrecedes(b.channel)
        }
    }
}
