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
    /// Every room, in no particular order (`StatsSort.order` orders them).
    public var rooms: RoomTable
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

    public init(ts: Int64, pattern: String, windowLabels: [String], server: ServerStats, rooms: RoomTable) {
        self.ts = ts
        self.pattern = pattern
        self.windowLabels = windowLabels
        self.server = server
        self.rooms = rooms
    }

    /// A report of the given rooms (tests, small reports).
    public init(ts: Int64, pattern: String, windowLabels: [String], server: ServerStats, rooms: [RoomStats], sampleSeconds: Double? = nil) {
        self.init(ts: ts, pattern: pattern, windowLabels: windowLabels, server: server,
                  rooms: RoomTable(rooms, windowCount: windowLabels.count))
        self.sampleSeconds = sampleSeconds
    }
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

    /// The rows of `rooms` in this order, the first `top` of them (all
    /// without a top). Ties go by name.
    public func order(_ rooms: RoomTable, top: Int? = nil) -> [Int] {
        var rows = Array(0..<rooms.count)
        let first: (Int) -> Int? = { rooms.windowCount > 0 ? rooms.windowCount($0, 0) : nil }
        rows.sort { a, b in
            switch self {
            case .name: break
            case .subscribers:
                let x = rooms.subscribers(a) ?? -1, y = rooms.subscribers(b) ?? -1
                if x != y { return x > y }
            case .last:
                let x = rooms.lastTs(a) ?? .min, y = rooms.lastTs(b) ?? .min
                if x != y { return x > y }
            case .messages:
                let x = rooms.sampled(a) ?? -1, y = rooms.sampled(b) ?? -1
                if x != y { return x > y }
                let wa = first(a) ?? -1, wb = first(b) ?? -1
                if wa != wb { return wa > wb }
                let aa = rooms.archived(a) ?? -1, ab = rooms.archived(b) ?? -1
                if aa != ab { return aa > ab }
            }
            return rooms.nameLess(a, b)
        }
        if let top, top < rows.count { rows.removeSubrange(top...) }
        return rows
    }
}
