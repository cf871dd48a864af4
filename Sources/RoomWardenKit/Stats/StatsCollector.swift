import Hiredis

/// Gathers a report in a handful of pipelined round trips, whatever the
/// number of rooms.
public final class StatsCollector {
    private let connection: Connection
    private let settings: ConnectionSettings
    private let options: StatsOptions
    private var commands = 0
    private var roundTrips = 0

    public init(connection: Connection, settings: ConnectionSettings, options: StatsOptions) {
        self.connection = connection
        self.settings = settings
        self.options = options
    }

    /// One pipelined round trip.
    private func pipeline(_ cmds: [[[UInt8]]], doing: String) throws(RoomWardenError) -> [Reply] {
        commands += cmds.count
        roundTrips += 1
        return try ArchiveDiscovery.pipelined(connection, cmds, doing: doing)
    }

    private static func args(_ parts: String...) -> [[UInt8]] { parts.map { Array($0.utf8) } }

    public func collect() throws(RoomWardenError) -> StatsReport {
        commands = 0
        roundTrips = 0
        let started = Monotonic.milliseconds()
        var sampled: [[UInt8]: Int] = [:]
        if let ms = options.sampleMilliseconds { sampled = try sample(ms) }
        let now = WallClock.nowMilliseconds()
        let pattern = Array(options.pattern.utf8)
        let scanMatch = options.template.scanPattern(for: pattern)

        // Round trip 1: server health, channels with subscribers, first SCAN page.
        var first: [[[UInt8]]] = [
            [Array("PUBSUB".utf8), Array("CHANNELS".utf8), pattern],
            Self.args("PUBSUB", "NUMPAT"),
            Self.args("INFO", "server"),
            Self.args("INFO", "clients"),
            Self.args("CONFIG", "GET", "client-output-buffer-limit"),
            Self.args("CLIENT", "LIST", "TYPE", "pubsub"),
        ]
        first.append([Array("SCAN".utf8), Array("0".utf8), Array("MATCH".utf8), scanMatch, Array("COUNT".utf8), Array("1000".utf8)])
        let r1 = try pipeline(first, doing: "reading server stats")
        var server = ServerStats()
        // What the ACL user may not read stays unknown (nil), not an error.
        let subscribed = r1[0].elements?.compactMap { $0.bytes } ?? []
        server.patternSubscriptions = r1[1].integer.map(Int.init)
        let info = (r1[2].string ?? "") + "\n" + (r1[3].string ?? "")
        server.version = Self.infoField(info, "redis_version")
        if let n = Self.infoField(info, "pubsub_clients").flatMap(Int.init) {
            server.pubsubClients = n
        } else if let list = r1[5].string {
            server.pubsubClients = list.split(separator: "\n").filter { $0.contains("id=") }.count
        }
        if let limits = r1[4].elements?.compactMap({ $0.string }), limits.count == 2 {
            server.pubsubLimit = Self.pubsubLimit(limits[1])
        }

        // SCAN until done (usually it already is, for a thousand rooms).
        var keys: [[UInt8]] = []
        var cursor = try scanPage(r1[6], into: &keys)
        while cursor != Array("0".utf8) {
            let r = try pipeline([[Array("SCAN".utf8), cursor, Array("MATCH".utf8), scanMatch, Array("COUNT".utf8), Array("1000".utf8)]], doing: "SCAN")
            cursor = try scanPage(r[0], into: &keys)
        }
        let glob = Glob(pattern)
        var archives: [[UInt8]: [UInt8]] = [:]  // channel -> key
        for key in keys {
            if let channel = options.template.channel(ofKey: key), glob.matches(channel) { archives[channel] = key }
        }

        // Every room: subscribed, archived or heard in the sample.
        var names = Set(subscribed)
        names.formUnion(archives.keys)
        names.formUnion(sampled.keys.filter { glob.matches($0) })
        let channels = names.sorted { $0.lexicographicallyPrecedes($1) }
        var rooms = channels.map { RoomStats(channel: $0, windowCounts: Array(repeating: nil, count: options.windows.count)) }

        // Round trip 2: subscribers of all rooms, and per archive its size,
        // newest entry and window counts (scores taken as ms).
        var second: [[[UInt8]]] = [[Array("PUBSUB".utf8), Array("NUMSUB".utf8)] + channels]
        let archived: [(room: Int, key: [UInt8])] = rooms.indices.compactMap { i in
            archives[rooms[i].channel].map { (i, $0) }
        }
        for (_, key) in archived {
            second.append([Array("ZCARD".utf8), key])
            second.append([Array("ZRANGE".utf8), key, Array("-1".utf8), Array("-1".utf8), Array("WITHSCORES".utf8)])
            for w in options.windows {
                second.append([Array("ZCOUNT".utf8), key, Array(String(now - w.milliseconds).utf8), Array("+inf".utf8)])
            }
        }
        let r2 = try pipeline(second, doing: "reading room stats")
        if let pairs = r2[0].elements {
            var i = 0
            var byName: [[UInt8]: Int] = [:]
            while i + 1 < pairs.count {
                if let name = pairs[i].bytes, let n = pairs[i + 1].integer { byName[name] = Int(n) }
                i += 2
            }
            for k in rooms.indices { rooms[k].subscribers = byName[rooms[k].channel] }
        }
        var redo: [(room: Int, key: [UInt8])] = []  // lists, seconds-scored archives
        var r = 1
        for (i, key) in archived {
            let card = r2[r], last = r2[r + 1]
            let counts = r2[(r + 2)..<(r + 2 + options.windows.count)]
            r += 2 + options.windows.count
            if let line = card.errorMessage {
                if RedisError.server(line).serverCode == "WRONGTYPE" { redo.append((i, key)); continue }
                rooms[i].note = line
                continue
            }
            rooms[i].archived = card.integer.map(Int.init)
            if let pair = last.elements, pair.count == 2, let s = pair[1].string, let score = Double(s) {
                if score < 1e11 { redo.append((i, key)); continue }  // seconds: count again in seconds
                rooms[i].lastTs = Int64(score)
            }
            rooms[i].windowCounts = counts.map { $0.integer.map(Int.init) }
        }

        // Round trip 3, only when needed: list backlogs and archives in seconds.
        if !redo.isEmpty {
            var third: [[[UInt8]]] = []
            for (_, key) in redo {
                third.append([Array("TYPE".utf8), key])
                third.append([Array("LLEN".utf8), key])
                for w in options.windows {
                    let bound = ScoreUnit.score(forMilliseconds: now - w.milliseconds, seconds: true)
                    third.append([Array("ZCOUNT".utf8), key, Array(bound.utf8), Array("+inf".utf8)])
                }
                third.append([Array("ZRANGE".utf8), key, Array("-1".utf8), Array("-1".utf8), Array("WITHSCORES".utf8)])
            }
            let r3 = try pipeline(third, doing: "reading room stats")
            var k = 0
            for (i, _) in redo {
                let type = r3[k].string ?? ""
                let len = r3[k + 1]
                let counts = r3[(k + 2)..<(k + 2 + options.windows.count)]
                let last = r3[k + 2 + options.windows.count]
                k += 3 + options.windows.count
                switch type {
                case "list":
                    rooms[i].archived = len.integer.map(Int.init)
                    rooms[i].note = "list"
                case "zset":
                    rooms[i].windowCounts = counts.map { $0.integer.map(Int.init) }
                    if let pair = last.elements, pair.count == 2, let s = pair[1].string, let score = Double(s) {
                        rooms[i].lastTs = ScoreUnit.seconds.milliseconds(score)
                    }
                    if rooms[i].archived == nil { rooms[i].archived = 0 }
                default:
                    rooms[i].note = "archive key holds a \(type)"
                }
            }
        }
        for k in rooms.indices where options.sampleMilliseconds != nil { rooms[k].sampled = sampled[rooms[k].channel] ?? 0 }
        var report = StatsReport(ts: now, pattern: options.pattern, windowLabels: options.windows.map(\.label),
                                 server: server, rooms: rooms)
        report.sampleSeconds = options.sampleMilliseconds.map { Double($0) / 1000 }
        report.commands = commands
        report.roundTrips = roundTrips
        report.tookMilliseconds = Monotonic.milliseconds() - started
        return report
    }

    /// A refused SCAN leaves no report to give: NOPERM exits 77.
    private func deniedOrThrow(_ line: String, doing: String) throws(RoomWardenError) {
        throw RoomWardenError.from(.server(line), doing: doing, endpoint: connection.endpoint)
    }

    private func scanPage(_ reply: Reply, into keys: inout [[UInt8]]) throws(RoomWardenError) -> [UInt8] {
        if let line = reply.errorMessage { try deniedOrThrow(line, doing: "SCAN"); return Array("0".utf8) }
        guard let parts = reply.elements, parts.count == 2, let next = parts[0].bytes, let found = parts[1].elements else {
            throw .failure("unexpected SCAN reply from \(connection.endpoint)")
        }
        keys += found.compactMap { $0.bytes }
        return next
    }

    /// Listens to the pattern for `ms` and counts messages per channel.
    private func sample(_ ms: Int64) throws(RoomWardenError) -> [[UInt8]: Int] {
        let c = try settings.connect()
        do {
            try c.append([Array("PSUBSCRIBE".utf8), Array(options.pattern.utf8)])
            try c.flush()
        } catch {
            throw RoomWardenError.from(error, doing: "PSUBSCRIBE for --sample", endpoint: settings.endpoint)
        }
        commands += 1
        var counts: [[UInt8]: Int] = [:]
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var decoder = PushDecoder()
        var batch = MessageBatch()
        var refused: String?
        var subscribedAt: Int64?
        while true {
            let now = Monotonic.milliseconds()
            if let s = subscribedAt, now - s >= ms { break }
            let wait = subscribedAt.map { Int32(clamping: max(1, ms - (now - $0))) } ?? 1000
            do {
                _ = try c.receive(timeoutMilliseconds: wait, buffer: buffer, decoder: &decoder, into: &batch) { reply in
                    if let line = reply.errorMessage { refused = line }
                    if subscribedAt == nil, reply.elements?.first?.bytes == Array("psubscribe".utf8) {
                        subscribedAt = Monotonic.milliseconds()
                    }
                }
            } catch {
                throw RoomWardenError.from(error, doing: "sampling", endpoint: settings.endpoint)
            }
            if let refused { throw RoomWardenError.from(.server(refused), doing: "PSUBSCRIBE for --sample", endpoint: settings.endpoint) }
            batch.forEach { _, channel, _ in
                counts[Array(channel), default: 0] += 1
                return true
            }
            batch.removeAll()
        }
        return counts
    }

    static func infoField(_ info: String, _ name: String) -> String? {
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix(name + ":") {
            return String(line.dropFirst(name.count + 1))
        }
        return nil
    }

    /// "normal 0 0 0 slave ... pubsub 33554432 8388608 60" -> [hard, soft, seconds].
    static func pubsubLimit(_ text: String) -> [Int]? {
        let words = text.split(separator: " ")
        guard let i = words.firstIndex(of: "pubsub"), i + 3 < words.count else { return nil }
        let values = words[(i + 1)...(i + 3)].compactMap { (try? ByteCount(parsing: String($0)))?.bytes }
        return values.count == 3 ? values : nil
    }
}
