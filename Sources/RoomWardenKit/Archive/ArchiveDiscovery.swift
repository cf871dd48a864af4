import Hiredis

/// A room found by its archive, with the kind of key that holds it.
public struct ArchivedRoom: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case sortedSet
        /// The seed recipe's LPUSH backlog: newest first, no times.
        case list
        /// No such key.
        case missing
        /// Any other type: an error for whoever reads it.
        case other(String)
    }

    public var channel: [UInt8]
    /// The key read: the archive key, or the backlog key where the room
    /// has no archive key.
    public var key: [UInt8]
    public var kind: Kind
    /// True when `key` is the room's backlog key (`--backlog-key`).
    public var isBacklogKey = false
}

/// Finds archives: SCAN with the key templates (the archive's and the
/// backlog's) for patterns, the keys themselves for plain channels, then
/// the archive keys' TYPEs in one pipelined round trip per node (and the
/// backlog keys' of rooms with no archive key in a second).
public enum ArchiveDiscovery {
    /// True if `text` has Redis glob characters.
    public static func isPattern(_ text: String) -> Bool { !Glob(text).isLiteral }

    /// The rooms the targets (channels or patterns) name, sorted by channel.
    /// A refused SCAN or TYPE (NOPERM) is the server's error, exit 77: a
    /// key the user may not read is not a key that does not exist.
    public static func rooms(
        _ connection: Connection, targets: [String], template: ArchiveKeyTemplate, backlog: BacklogKeyTemplate?
    ) throws(RoomWardenError) -> [ArchivedRoom] {
        try rooms(.single(connection), targets: targets, template: template, backlog: backlog)
    }

    /// The rooms the targets name on any topology: patterns are SCANned on
    /// every primary (on a cluster, each holds its own slots' keys), and
    /// each key's TYPE is asked of the node that holds it, one pipeline per
    /// node. A room's archive is its sorted set (or list) at the archive
    /// key; where that key does not exist, its list backlog at the backlog
    /// key (nil: none is looked up). Sorted by channel.
    public static func rooms(
        _ topology: Topology, targets: [String], template: ArchiveKeyTemplate, backlog: BacklogKeyTemplate?
    ) throws(RoomWardenError) -> [ArchivedRoom] {
        var channels: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        func add(_ channel: [UInt8]) { if seen.insert(channel).inserted { channels.append(channel) } }
        for target in targets {
            let bytes = Array(target.utf8)
            guard isPattern(target) else {
                add(bytes)
                continue
            }
            // The key templates' * may span more than the pattern meant.
            let glob = Glob(bytes)
            var templates: [(match: [UInt8], channel: ([UInt8]) -> [UInt8]?)] = [(template.scanPattern(for: bytes), template.channel(ofKey:))]
            if let backlog { templates.append((backlog.scanPattern(for: bytes), backlog.channel(ofKey:))) }
            for (match, channel) in templates {
                try topology.forEachPrimary(doing: "SCAN MATCH \(String(decoding: match, as: UTF8.self))") { (connection) throws(RedisError) in
                    for key in try connection.scanAll(match: match).keys {
                        if let name = channel(key), glob.matches(name) { add(name) }
                    }
                }
            }
        }
        // The archive keys' types first; the backlog keys' only where there
        // is no archive key (a user who may read only archive keys can
        // still read every room that has one).
        let keys = channels.map { template.key(for: $0) }
        let types = try self.types(keys, topology)
        var rooms: [ArchivedRoom] = []
        var orphans: [Int] = []
        for (channel, key) in zip(channels, keys) {
            if types[key] == "none", let backlog, backlog.key(for: channel) != key { orphans.append(rooms.count) }
            rooms.append(ArchivedRoom(channel: channel, key: key, kind: kind(types[key])))
        }
        if let backlog, !orphans.isEmpty {
            let backlogKeys = orphans.map { backlog.key(for: rooms[$0].channel) }
            let backlogTypes = try self.types(backlogKeys, topology)
            // A backlog key of any type but a list is an error for whoever reads it.
            for (i, key) in zip(orphans, backlogKeys) {
                guard let type = backlogTypes[key], type != "none" else { continue }
                rooms[i] = ArchivedRoom(channel: rooms[i].channel, key: key, kind: type == "list" ? .list : .other(type), isBacklogKey: true)
            }
        }
        return rooms.sorted { $0.channel.lexicographicallyPrecedes($1.channel) }
    }

    /// The keys grouped by the connection to the node holding them, in the
    /// order each node first comes up.
    static func byNode(_ keys: [[UInt8]], _ topology: Topology) throws(RoomWardenError) -> [(Connection, [[UInt8]])] {
        var groups: [(Connection, [[UInt8]])] = []
        var index: [ObjectIdentifier: Int] = [:]
        for key in keys {
            let connection = try topology.connection(forKey: key)
            if let i = index[ObjectIdentifier(connection)] {
                groups[i].1.append(key)
            } else {
                index[ObjectIdentifier(connection)] = groups.count
                groups.append((connection, [key]))
            }
        }
        return groups
    }

    /// Every key's type (`zset`, `list`, `none` ...), asked of the node
    /// holding it, one pipeline per node.
    private static func types(_ keys: [[UInt8]], _ topology: Topology) throws(RoomWardenError) -> [[UInt8]: String] {
        var types: [[UInt8]: String] = [:]
        for (connection, group) in try byNode(keys, topology) {
            let replies = try connection.pipeline(group.map { .type(key: $0) }, doing: "reading key types")
            for (key, reply) in zip(group, replies) {
                let type = try reply.checked(doing: "reading the type of '\(String(decoding: key, as: UTF8.self))'", at: connection.endpoint)
                types[key] = type.string ?? "none"
            }
        }
        return types
    }

    private static func kind(_ type: String?) -> ArchivedRoom.Kind {
        switch type ?? "none" {
        case "zset": return .sortedSet
        case "list": return .list
        case "none": return .missing
        case let other: return .other(other)
        }
    }

    /// Every key matching `match`, by SCAN (never KEYS).
    public static func scan(_ connection: Connection, match: [UInt8]) throws(RoomWardenError) -> [[UInt8]] {
        do {
            return try connection.scanAll(match: match).keys
        } catch {
            throw RoomWardenError.from(error, doing: "SCAN MATCH \(String(decoding: match, as: UTF8.self))", endpoint: connection.endpoint)
        }
    }
}
