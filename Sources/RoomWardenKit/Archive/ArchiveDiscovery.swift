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
    public var key: [UInt8]
    public var kind: Kind
}

/// Finds archives: SCAN with the key template for patterns, the key itself
/// for plain channels, then every key's TYPE in one pipelined round trip.
public enum ArchiveDiscovery {
    /// True if `text` has Redis glob characters.
    public static func isPattern(_ text: String) -> Bool { !Glob(text).isLiteral }

    /// The rooms the targets (channels or patterns) name, sorted by channel.
    /// A refused SCAN or TYPE (NOPERM) is the server's error, exit 77: a
    /// key the user may not read is not a key that does not exist.
    public static func rooms(_ connection: Connection, targets: [String], template: ArchiveKeyTemplate) throws(RoomWardenError) -> [ArchivedRoom] {
        try rooms(.single(connection), targets: targets, template: template)
    }

    /// The rooms the targets name on any topology: patterns are SCANned on
    /// every primary (on a cluster, each holds its own slots' keys), and
    /// each key's TYPE is asked of the node that holds it, one pipeline per
    /// node. Sorted by channel.
    public static func rooms(_ topology: Topology, targets: [String], template: ArchiveKeyTemplate) throws(RoomWardenError) -> [ArchivedRoom] {
        var keys: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        for target in targets {
            let bytes = Array(target.utf8)
            if isPattern(target) {
                let glob = Glob(bytes)
                let match = template.scanPattern(for: bytes)
                try topology.forEachPrimary(doing: "SCAN MATCH \(String(decoding: match, as: UTF8.self))") { (connection) throws(RedisError) in
                    for key in try connection.scanAll(match: match).keys {
                        // The key template's * may span more than the pattern meant.
                        guard let channel = template.channel(ofKey: key), glob.matches(channel) else { continue }
                        if seen.insert(key).inserted { keys.append(key) }
                    }
                }
            } else {
                let key = template.key(for: bytes)
                if seen.insert(key).inserted { keys.append(key) }
            }
        }
        var rooms: [ArchivedRoom] = []
        for (connection, group) in try byNode(keys, topology) {
            let types = try connection.pipeline(group.map { .type(key: $0) }, doing: "reading key types")
            for (key, reply) in zip(group, types) {
                rooms.append(try room(key, type: reply, at: connection.endpoint, template: template))
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

    /// A key and its TYPE reply as a room.
    private static func room(_ key: [UInt8], type reply: Reply, at endpoint: Endpoint, template: ArchiveKeyTemplate) throws(RoomWardenError) -> ArchivedRoom {
        let type = try reply.checked(doing: "reading the type of '\(String(decoding: key, as: UTF8.self))'", at: endpoint)
        let kind: ArchivedRoom.Kind
        switch type.string ?? "none" {
        case "zset": kind = .sortedSet
        case "list": kind = .list
        case "none": kind = .missing
        case let other: kind = .other(other)
        }
        return ArchivedRoom(channel: template.channel(ofKey: key) ?? key, key: key, kind: kind)
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
