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
    public static func rooms(_ connection: Connection, targets: [String], template: ArchiveKeyTemplate) throws(RoomWardenError) -> [ArchivedRoom] {
        var keys: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        for target in targets {
            let bytes = Array(target.utf8)
            if isPattern(target) {
                let glob = Glob(bytes)
                for key in try scan(connection, match: template.scanPattern(for: bytes)) {
                    // The key template's * may span more than the pattern meant.
                    guard let channel = template.channel(ofKey: key), glob.matches(channel) else { continue }
                    if seen.insert(key).inserted { keys.append(key) }
                }
            } else {
                let key = template.key(for: bytes)
                if seen.insert(key).inserted { keys.append(key) }
            }
        }
        let types = try pipelined(connection, keys.map { [Array("TYPE".utf8), $0] }, doing: "reading key types")
        var rooms: [ArchivedRoom] = []
        for (key, reply) in zip(keys, types) {
            let type = reply.string ?? "none"
            let kind: ArchivedRoom.Kind
            switch type {
            case "zset": kind = .sortedSet
            case "list": kind = .list
            case "none": kind = .missing
            default: kind = .other(type)
            }
            rooms.append(ArchivedRoom(channel: template.channel(ofKey: key) ?? key, key: key, kind: kind))
        }
        return rooms.sorted { $0.channel.lexicographicallyPrecedes($1.channel) }
    }

    /// Every key matching `match`, by SCAN (never KEYS).
    public static func scan(_ connection: Connection, match: [UInt8]) throws(RoomWardenError) -> [[UInt8]] {
        var cursor: [UInt8] = Array("0".utf8)
        var keys: [[UInt8]] = []
        repeat {
            let reply: Reply
            do {
                reply = try connection.command([Array("SCAN".utf8), cursor, Array("MATCH".utf8), match, Array("COUNT".utf8), Array("1000".utf8)])
            } catch {
                throw RoomWardenError.from(error, doing: "SCAN", endpoint: connection.endpoint)
            }
            if let line = reply.errorMessage {
                throw RoomWardenError.from(.server(line), doing: "SCAN MATCH \(String(decoding: match, as: UTF8.self))", endpoint: connection.endpoint)
            }
            guard let parts = reply.elements, parts.count == 2, let next = parts[0].bytes, let found = parts[1].elements else {
                throw .failure("unexpected SCAN reply from \(connection.endpoint)")
            }
            keys += found.compactMap { $0.bytes }
            cursor = next
        } while cursor != Array("0".utf8)
        return keys
    }

    /// Sends commands in one pipeline and returns their replies; a server
    /// error in a reply is left to the caller.
    public static func pipelined(_ connection: Connection, _ commands: [[[UInt8]]], doing: String) throws(RoomWardenError) -> [Reply] {
        guard !commands.isEmpty else { return [] }
        var batch = CommandBatch()
        for c in commands { batch.add(c) }
        do {
            try connection.append(batch)
            return try connection.readReplies(commands.count)
        } catch {
            throw RoomWardenError.from(error, doing: doing, endpoint: connection.endpoint)
        }
    }
}
