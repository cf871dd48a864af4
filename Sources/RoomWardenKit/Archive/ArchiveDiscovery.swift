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
/// every key's TYPE in one pipelined round trip.
public enum ArchiveDiscovery {
    /// True if `text` has Redis glob characters.
    public static func isPattern(_ text: String) -> Bool { !Glob(text).isLiteral }

    /// The rooms the targets (channels or patterns) name, sorted by channel.
    /// A room's archive is its sorted set (or list) at the archive key;
    /// where that key does not exist, its list backlog at the backlog key
    /// (nil: none is looked up). A refused SCAN or TYPE (NOPERM) is the
    /// server's error, exit 77: a key the user may not read is not a key
    /// that does not exist.
    public static func rooms(
        _ connection: Connection, targets: [String], template: ArchiveKeyTemplate, backlog: BacklogKeyTemplate?
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
            // The key template's * may span more than the pattern meant.
            let glob = Glob(bytes)
            for key in try scan(connection, match: template.scanPattern(for: bytes)) {
                if let channel = template.channel(ofKey: key), glob.matches(channel) { add(channel) }
            }
            guard let backlog else { continue }
            for key in try scan(connection, match: backlog.scanPattern(for: bytes)) {
                if let channel = backlog.channel(ofKey: key), glob.matches(channel) { add(channel) }
            }
        }
        var keys: [[UInt8]] = []
        var typed = Set<[UInt8]>()
        for channel in channels {
            for key in [template.key(for: channel)] + (backlog.map { [$0.key(for: channel)] } ?? []) where typed.insert(key).inserted {
                keys.append(key)
            }
        }
        let replies = try connection.pipeline(keys.map { .type(key: $0) }, doing: "reading key types")
        var types: [[UInt8]: String] = [:]
        for (key, reply) in zip(keys, replies) {
            let type = try reply.checked(doing: "reading the type of '\(String(decoding: key, as: UTF8.self))'", at: connection.endpoint)
            types[key] = type.string ?? "none"
        }
        var rooms: [ArchivedRoom] = []
        for channel in channels {
            let key = template.key(for: channel)
            var room = ArchivedRoom(channel: channel, key: key, kind: kind(types[key]))
            // No archive key: the list backlog, if there is one (a backlog
            // key of any other type is an error for whoever reads it).
            if room.kind == .missing, let backlogKey = backlog?.key(for: channel), backlogKey != key,
               let type = types[backlogKey], type != "none" {
                room = ArchivedRoom(channel: channel, key: backlogKey, kind: type == "list" ? .list : .other(type), isBacklogKey: true)
            }
            rooms.append(room)
        }
        return rooms.sorted { $0.channel.lexicographicallyPrecedes($1.channel) }
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
