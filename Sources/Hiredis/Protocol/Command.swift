/// One Redis command, name and arguments as bytes (binary-safe), made by
/// the typed builders below instead of being spelled out where it is used:
/// `Command.zrangeByScore(key: k, from: .inclusive(s), to: .positiveInfinity, limit: ...)`.
public struct Command: Sendable, Equatable {
    /// The command name first, then its arguments.
    public private(set) var arguments: [[UInt8]]

    /// A command from its name and arguments.
    public init(_ name: String, _ arguments: [[UInt8]] = []) {
        self.arguments = [Array(name.utf8)] + arguments
    }

    /// A command from text words (names, keywords, numbers).
    public init(words: String...) {
        arguments = words.map { Array($0.utf8) }
    }

    /// The command name as given (`ZRANGE`).
    public var name: String { String(decoding: arguments.first ?? [], as: UTF8.self) }

    /// True for a command name (any case) after which a connection is in
    /// subscribed mode: `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`.
    public static func entersSubscribedMode<C: Collection>(_ name: C) -> Bool where C.Element == UInt8 {
        guard name.count == 9 || name.count == 10 else { return false }
        let upper = name.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
        return upper == subscribeName || upper == psubscribeName || upper == ssubscribeName
    }

    private static let subscribeName = Array("SUBSCRIBE".utf8)
    private static let psubscribeName = Array("PSUBSCRIBE".utf8)
    private static let ssubscribeName = Array("SSUBSCRIBE".utf8)

    private mutating func add(_ word: String) { arguments.append(Array(word.utf8)) }
    private mutating func add(_ bytes: [UInt8]) { arguments.append(bytes) }
    private mutating func add(_ number: Int) { arguments.append(Array(String(number).utf8)) }
}

/// A sorted-set score written as Redis reads it.
public struct Score: Sendable, Equatable {
    /// The score's text: `1763762245123`, `1763762245.5`, `inf`.
    public let text: [UInt8]

    /// An integer score (the archive's milliseconds).
    public init(_ value: Int64) { text = Array(String(value).utf8) }

    /// A score exactly as the server printed it (`WITHSCORES`), so that a
    /// cursor starts where the last page ended, to the last digit.
    public init<C: Collection>(exactly serverText: C) where C.Element == UInt8 { text = Array(serverText) }

    /// A decimal fraction with `decimals` digits after the point:
    /// `Score(scaled: 1763762245123, decimals: 3)` is `1763762245.123`
    /// (milliseconds as a seconds score, with no rounding).
    public init(scaled value: Int64, decimals: Int) {
        var scale: UInt64 = 1
        for _ in 0..<decimals { scale *= 10 }
        let magnitude = value.magnitude
        let sign = value < 0 ? "-" : ""
        let whole = magnitude / scale, fraction = magnitude % scale
        if fraction == 0 {
            text = Array("\(sign)\(whole)".utf8)
        } else {
            let digits = String(fraction)
            text = Array("\(sign)\(whole).\(String(repeating: "0", count: decimals - digits.count))\(digits)".utf8)
        }
    }
}

/// One end of a score range (`ZRANGE ... BYSCORE`, `ZCOUNT`).
public struct ScoreBound: Sendable, Equatable {
    /// The bound as Redis reads it: `-inf`, `+inf`, `123`, `(123`.
    public let argument: [UInt8]

    /// Below every score.
    public static let negativeInfinity = ScoreBound(argument: Array("-inf".utf8))
    /// Above every score.
    public static let positiveInfinity = ScoreBound(argument: Array("+inf".utf8))

    /// Scores from (or up to) `score`, `score` included.
    public static func inclusive(_ score: Score) -> ScoreBound { ScoreBound(argument: score.text) }

    /// Scores from (or up to) `score`, `score` excluded.
    public static func exclusive(_ score: Score) -> ScoreBound { ScoreBound(argument: [UInt8(ascii: "(")] + score.text) }

    /// Every finite score and `-inf`, but not `+inf`: the upper end that
    /// skips entries scored `+inf`.
    public static let belowPositiveInfinity = ScoreBound(argument: Array("(+inf".utf8))
}

// MARK: Keys

extension Command {
    /// `TYPE key`: `zset`, `list`, `none` ...
    public static func type(key: [UInt8]) -> Command { Command("TYPE", [key]) }

    /// `SCAN cursor MATCH pattern COUNT count`: one page of keys.
    public static func scan(cursor: [UInt8], match pattern: [UInt8], count: Int = 1000) -> Command {
        var c = Command("SCAN", [cursor])
        c.add("MATCH"); c.add(pattern); c.add("COUNT"); c.add(count)
        return c
    }
}

// MARK: Sorted sets

extension Command {
    /// `ZRANGE key from to BYSCORE [REV] [LIMIT offset count] [WITHSCORES]`
    /// (Redis 6.2): entries with scores from `from` to `to`; with `reverse`,
    /// `from` is the upper end and entries come highest first.
    public static func zrangeByScore(
        key: [UInt8], from: ScoreBound, to: ScoreBound, reverse: Bool = false,
        limit: (offset: Int, count: Int)? = nil, withScores: Bool = true
    ) -> Command {
        var c = Command("ZRANGE", [key, from.argument, to.argument])
        c.add("BYSCORE")
        if reverse { c.add("REV") }
        if let limit { c.add("LIMIT"); c.add(limit.offset); c.add(limit.count) }
        if withScores { c.add("WITHSCORES") }
        return c
    }

    /// The entry with the highest score below `+inf`, with its score: an
    /// archive's newest entry that has a time.
    public static func newestFiniteEntry(key: [UInt8]) -> Command {
        zrangeByScore(key: key, from: .belowPositiveInfinity, to: .negativeInfinity, reverse: true, limit: (0, 1))
    }

    /// `ZCOUNT key from to`.
    public static func zcount(key: [UInt8], from: ScoreBound, to: ScoreBound) -> Command {
        Command("ZCOUNT", [key, from.argument, to.argument])
    }

    /// `ZCARD key`.
    public static func zcard(key: [UInt8]) -> Command { Command("ZCARD", [key]) }

    /// `ZADD key score member`.
    public static func zadd(key: [UInt8], score: Score, member: [UInt8]) -> Command {
        Command("ZADD", [key, score.text, member])
    }

    /// `ZREM key member`: removes that one member (its exact bytes).
    public static func zrem(key: [UInt8], member: [UInt8]) -> Command {
        Command("ZREM", [key, member])
    }

    /// `ZREMRANGEBYSCORE key from to`.
    public static func zremRangeByScore(key: [UInt8], from: ScoreBound, to: ScoreBound) -> Command {
        Command("ZREMRANGEBYSCORE", [key, from.argument, to.argument])
    }

    /// `ZSCORE key member`: the member's score, or nil when it is not there.
    public static func zscore(key: [UInt8], member: [UInt8]) -> Command { Command("ZSCORE", [key, member]) }

    /// `ZREMRANGEBYRANK key start stop`.
    public static func zremRangeByRank(key: [UInt8], start: Int, stop: Int) -> Command {
        var c = Command("ZREMRANGEBYRANK", [key])
        c.add(start); c.add(stop)
        return c
    }
}

// MARK: Lists

extension Command {
    /// `LRANGE key start stop` (negative indexes count from the tail).
    public static func lrange(key: [UInt8], start: Int, stop: Int) -> Command {
        var c = Command("LRANGE", [key])
        c.add(start); c.add(stop)
        return c
    }

    /// `LREM key count element`: removes up to `count` entries equal to
    /// `element`, from the head (`count` > 0) or from the tail (< 0).
    public static func lrem(key: [UInt8], count: Int, element: [UInt8]) -> Command {
        var c = Command("LREM", [key])
        c.add(count); c.add(element)
        return c
    }

    /// `LLEN key`.
    public static func llen(key: [UInt8]) -> Command { Command("LLEN", [key]) }

    /// `LTRIM key start stop`: keeps that range only.
    public static func ltrim(key: [UInt8], start: Int, stop: Int) -> Command {
        var c = Command("LTRIM", [key])
        c.add(start); c.add(stop)
        return c
    }
}

// MARK: Pub/sub

extension Command {
    /// `PUBLISH channel message`.
    public static func publish(channel: [UInt8], message: [UInt8]) -> Command { Command("PUBLISH", [channel, message]) }

    /// `SUBSCRIBE channel...`: the connection enters subscribed mode.
    public static func subscribe(channels: [[UInt8]]) -> Command { Command("SUBSCRIBE", channels) }

    /// `PSUBSCRIBE pattern...`: the connection enters subscribed mode.
    public static func psubscribe(patterns: [[UInt8]]) -> Command { Command("PSUBSCRIBE", patterns) }

    /// `SSUBSCRIBE channel...` (Redis 7 sharded pub/sub; on a cluster every
    /// channel of one command must be in one slot): subscribed mode.
    public static func ssubscribe(channels: [[UInt8]]) -> Command { Command("SSUBSCRIBE", channels) }

    /// `SUNSUBSCRIBE channel...`.
    public static func sunsubscribe(channels: [[UInt8]]) -> Command { Command("SUNSUBSCRIBE", channels) }

    /// `PUBSUB CHANNELS pattern`: channels with subscribers.
    public static func pubsubChannels(pattern: [UInt8]) -> Command { Command("PUBSUB", [Array("CHANNELS".utf8), pattern]) }

    /// `PUBSUB NUMSUB channel...`: subscribers per channel.
    public static func pubsubNumsub(channels: [[UInt8]]) -> Command { Command("PUBSUB", [Array("NUMSUB".utf8)] + channels) }

    /// `PUBSUB SHARDCHANNELS pattern`: the shard channels with subscribers on this node (Redis 7).
    public static func pubsubShardChannels(pattern: [UInt8]) -> Command { Command("PUBSUB", [Array("SHARDCHANNELS".utf8), pattern]) }

    /// `PUBSUB SHARDNUMSUB channel...` (Redis 7).
    public static func pubsubShardNumsub(channels: [[UInt8]]) -> Command { Command("PUBSUB", [Array("SHARDNUMSUB".utf8)] + channels) }

    /// `PUBSUB NUMPAT`: pattern subscriptions.
    public static let pubsubNumpat = Command(words: "PUBSUB", "NUMPAT")

    /// `PING`.
    public static let ping = Command(words: "PING")
}

// MARK: Server and connection

extension Command {
    /// `INFO section`.
    public static func info(_ section: String) -> Command { Command(words: "INFO", section) }

    /// `CONFIG GET parameter`.
    public static func configGet(_ parameter: String) -> Command { Command(words: "CONFIG", "GET", parameter) }

    /// `CLIENT LIST TYPE type`.
    public static func clientList(type: String) -> Command { Command(words: "CLIENT", "LIST", "TYPE", type) }

    /// `AUTH [user] password`.
    public static func auth(user: String?, password: String) -> Command {
        Command("AUTH", (user.map { [Array($0.utf8)] } ?? []) + [Array(password.utf8)])
    }

    /// `SELECT db`.
    public static func select(db: Int) -> Command { Command(words: "SELECT", String(db)) }

    /// `MULTI`.
    public static let multi = Command(words: "MULTI")

    /// `EXEC`.
    public static let exec = Command(words: "EXEC")

    /// `DISCARD`: drops the commands queued since MULTI.
    public static let discard = Command(words: "DISCARD")

    /// `CLIENT ID`: the server's id for this connection.
    public static let clientID = Command(words: "CLIENT", "ID")

    /// `CLIENT KILL ID id`: closes that connection, dropping what it sent
    /// and the server has not run.
    public static func clientKill(id: Int64) -> Command { Command(words: "CLIENT", "KILL", "ID", String(id)) }
}

extension CommandBatch {
    /// Adds one command.
    public mutating func add(_ command: Command) { add(command.arguments) }
}
