import Hiredis

/// Where `publish` keeps a room's messages, decided once per run by
/// looking at the keys (SPEC §3).
public enum ArchiveTarget: Sendable, Equatable {
    /// The sorted set of envelopes at this key, scored by time.
    case sortedSet(key: [UInt8])
    /// The seed recipe's list backlog at this key: the payload itself,
    /// LPUSHed, newest first, no times.
    case backlog(key: [UInt8])
    /// Nowhere (`--no-archive`).
    case none

    /// The key written, if any.
    public var key: [UInt8]? {
        switch self {
        case .sortedSet(let key), .backlog(let key): return key
        case .none: return nil
        }
    }

    /// The key as text, for messages.
    public var keyName: String { key.map { String(decoding: $0, as: UTF8.self) } ?? "" }

    /// How many of the backlog's newest entries `resolve` reads, so that a
    /// lost connection can later be checked against them.
    static let headLength = 4

    /// The commands that look at a room's keys, for `decide`: the types of
    /// the archive and backlog keys and the newest entries of each.
    static func lookups(channel: [UInt8], archive: ArchiveKeyTemplate, backlog: BacklogKeyTemplate) -> [Command] {
        let keys = [archive.key(for: channel), backlog.key(for: channel)]
        return keys.map { .type(key: $0) } + keys.map { .lrange(key: $0, start: 0, stop: headLength - 1) }
    }

    /// Picks the target from the replies to `lookups`: a sorted set at the
    /// archive key; else a list there or, when the archive key does not
    /// exist, a list at the backlog key (the recipe's own layout); else a
    /// new sorted set. Another type at the archive key is a refusal before
    /// anything is published (exit 65). A user whose ACL may not run TYPE
    /// gets the sorted set, as before backlogs existed. Returns the target
    /// and, for a backlog, its newest entries.
    static func decide(
        _ replies: [Reply], channel: [UInt8], archive: ArchiveKeyTemplate, backlog: BacklogKeyTemplate
    ) throws(RedisError) -> (ArchiveTarget, head: [[UInt8]]) {
        let archiveKey = archive.key(for: channel)
        let backlogKey = backlog.key(for: channel)
        let heads = replies.dropFirst(2).map { ($0.elements ?? []).compactMap(\.bytes) }
        switch replies.first?.string {
        case "zset", nil:
            return (.sortedSet(key: archiveKey), [])
        case "list":
            return (.backlog(key: archiveKey), heads.first ?? [])
        case "none":
            if replies.count > 1, replies[1].string == "list", backlogKey != archiveKey {
                return (.backlog(key: backlogKey), heads.count > 1 ? heads[1] : [])
            }
            return (.sortedSet(key: archiveKey), [])
        case let other?:
            throw .server(wrongTypePrefix + other)
        }
    }

    private static let wrongTypePrefix = "WRONGTYPE archive key type: "

    /// The type named by the refusal `resolve` throws for an archive key of
    /// another type, or nil for any other error line.
    static func wrongType(_ line: String) -> String? {
        line.hasPrefix(wrongTypePrefix) ? String(line.dropFirst(wrongTypePrefix.count)) : nil
    }
}
