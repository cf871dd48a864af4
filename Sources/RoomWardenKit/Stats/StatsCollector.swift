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
    private func run(_ pipeline: Pipeline, doing: String) throws(RoomWardenError) -> Pipeline.Replies {
        commands += pipeline.commands.count
        roundTrips += 1
        return try pipeline.run(on: connection, doing: doing)
    }

    /// Round trip 1: the server's facts, the channels with subscribers and
    /// the first SCAN page.
    private struct ServerQuery {
        let channels, patternSubscriptions, infoServer, infoClients, bufferLimits, pubsubClients, firstScan: Pipeline.Slot

        init(pattern: [UInt8], scanMatch: [UInt8], into p: inout Pipeline) {
            channels = p.add(.pubsubChannels(pattern: pattern))
            patternSubscriptions = p.add(.pubsubNumpat)
            infoServer = p.add(.info("server"))
            infoClients = p.add(.info("clients"))
            bufferLimits = p.add(.configGet("client-output-buffer-limit"))
            pubsubClients = p.add(.clientList(type: "pubsub"))
            firstScan = p.add(.scan(cursor: ScanPage.start, match: scanMatch))
        }

        /// What the ACL user may not read stays unknown (nil), not an error.
        func server(_ r: Pipeline.Replies) -> ServerStats {
            var server = ServerStats()
            server.patternSubscriptions = r[patternSubscriptions].integer.map(Int.init)
            let info = (r[infoServer].string ?? "") + "\n" + (r[infoClients].string ?? "")
            server.version = StatsCollector.infoField(info, "redis_version")
            if let n = StatsCollector.infoField(info, "pubsub_clients").flatMap(Int.init) {
                server.pubsubClients = n
            } else if let list = r[pubsubClients].string {
                server.pubsubClients = list.split(separator: "\n").filter { $0.contains("id=") }.count
            }
            if let limits = r[bufferLimits].elements?.compactMap({ $0.string }), limits.count == 2 {
                server.pubsubLimit = StatsCollector.pubsubLimit(limits[1])
            }
            return server
        }
    }

    /// Round trip 2, per archive: its size, its newest timed entry and its
    /// window counts (bounds in milliseconds, the usual unit).
    private struct ArchiveQuery {
        let room: Int
        let key: [UInt8]
        let size, newest: Pipeline.Slot
        let windowCounts: [Pipeline.Slot]

        init(room: Int, key: [UInt8], windowStarts: [Int64], into p: inout Pipeline) {
            self.room = room
            self.key = key
            size = p.add(.zcard(key: key))
            newest = p.add(.newestFiniteEntry(key: key))
            windowCounts = windowStarts.map { p.add(ArchiveQuery.count(key, since: $0, unit: .milliseconds)) }
        }

        /// Entries with a time from `since` on: ZCOUNT up to, not
        /// including, +inf (an entry scored +inf is no recent message).
        static func count(_ key: [UInt8], since: Int64, unit: ScoreUnit) -> Command {
            .zcount(key: key, from: .inclusive(unit.score(forMilliseconds: since)), to: .belowPositiveInfinity)
        }
    }

    /// Round trip 3, for an archive that round trip 2 could not count: a
    /// list backlog (WRONGTYPE) or an archive scored in seconds.
    private struct SecondLook {
        let archive: ArchiveQuery
        let type, length: Pipeline.Slot
        let windowCounts: [Pipeline.Slot]

        init(_ archive: ArchiveQuery, windowStarts: [Int64], into p: inout Pipeline) {
            self.archive = archive
            type = p.add(.type(key: archive.key))
            length = p.add(.llen(key: archive.key))
            windowCounts = windowStarts.map { p.add(ArchiveQuery.count(archive.key, since: $0, unit: .seconds)) }
        }
    }

    public func collect() throws(RoomWardenError) -> StatsReport {
        commands = 0
        roundTrips = 0
        let started = Monotonic.milliseconds()
        var sampled: [[UInt8]: Int] = [:]
        if let ms = options.sampleMilliseconds { sampled = try sample(ms) }
        let now = WallClock.nowMilliseconds()
        let windowStarts = options.windows.map { now - $0.milliseconds }
        let pattern = Array(options.pattern.utf8)
        let scanMatch = options.template.scanPattern(for: pattern)

        var first = Pipeline()
        let serverQuery = ServerQuery(pattern: pattern, scanMatch: scanMatch, into: &first)
        let r1 = try run(first, doing: "reading server stats")
        let server = serverQuery.server(r1)
        let subscribed = r1[serverQuery.channels].elements?.compactMap { $0.bytes } ?? []

        // SCAN until done (usually it already is, for a thousand rooms).
        let keys: [[UInt8]]
        do {
            let scan = try connection.scanAll(match: scanMatch, continuing: ScanPage(r1[serverQuery.firstScan]))
            keys = scan.keys
            commands += scan.roundTrips
            roundTrips += scan.roundTrips
        } catch {
            throw RoomWardenError.from(error, doing: "SCAN", endpoint: connection.endpoint)
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

        // Round trip 2: subscribers of all rooms, and each archive's figures.
        var second = Pipeline()
        let subscribers = second.add(.pubsubNumsub(channels: channels))
        let archiveQueries = rooms.indices.compactMap { i in
            archives[rooms[i].channel].map { ArchiveQuery(room: i, key: $0, windowStarts: windowStarts, into: &second) }
        }
        let r2 = try run(second, doing: "reading room stats")
        if let pairs = r2[subscribers].elements {
            var byName: [[UInt8]: Int] = [:]
            var i = 0
            while i + 1 < pairs.count {
                if let name = pairs[i].bytes, let n = pairs[i + 1].integer { byName[name] = Int(n) }
                i += 2
            }
            for k in rooms.indices { rooms[k].subscribers = byName[rooms[k].channel] }
        }
        var third = Pipeline()
        var secondLooks: [SecondLook] = []
        for q in archiveQueries {
            let size = try readable(r2[q.size], q.key)
            if let line = size.errorMessage {
                if RedisError.server(line).serverCode == "WRONGTYPE" {  // a list backlog, or another type
                    secondLooks.append(SecondLook(q, windowStarts: windowStarts, into: &third))
                } else {
                    rooms[q.room].note = line
                }
                continue
            }
            rooms[q.room].archived = size.integer.map(Int.init)
            let newest = StatsCollector.score(try readable(r2[q.newest], q.key))
            let unit = ScoreUnit.auto.resolved(newestScore: newest)
            rooms[q.room].lastTs = try lastTime(newest, unit: unit, room: &rooms[q.room])
            if unit == .seconds {  // count again, in seconds
                secondLooks.append(SecondLook(q, windowStarts: windowStarts, into: &third))
                continue
            }
            rooms[q.room].windowCounts = try counts(q.windowCounts, in: r2, q.key)
        }

        // Round trip 3, only when needed: list backlogs and archives in seconds.
        if !secondLooks.isEmpty {
            let r3 = try run(third, doing: "reading room stats")
            for look in secondLooks {
                let i = look.archive.room
                let type = try readable(r3[look.type], look.archive.key).string ?? ""
                switch type {
                case "list":
                    rooms[i].archived = try readable(r3[look.length], look.archive.key).integer.map(Int.init)
                    rooms[i].note = "list"
                case "zset":
                    rooms[i].windowCounts = try counts(look.windowCounts, in: r3, look.archive.key)
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

    /// A reply about an archive key; a denial (NOPERM) is no unknown
    /// figure but the user's error, exit 77 with the server's line. Other
    /// refusals are left to the caller.
    private func readable(_ reply: Reply, _ key: [UInt8]) throws(RoomWardenError) -> Reply {
        if let line = reply.errorMessage, RoomWardenError.exitCode(forServerError: line) == 77 {
            throw RoomWardenError.from(.server(line), doing: "reading '\(String(decoding: key, as: UTF8.self))'", endpoint: connection.endpoint)
        }
        return reply
    }

    /// The window counts (unknown where refused).
    private func counts(_ slots: [Pipeline.Slot], in replies: Pipeline.Replies, _ key: [UInt8]) throws(RoomWardenError) -> [Int?] {
        var out: [Int?] = []
        for slot in slots { out.append(try readable(replies[slot], key).integer.map(Int.init)) }
        return out
    }

    /// The score of a one-entry `WITHSCORES` reply, nil for none.
    private static func score(_ reply: Reply) -> Double? {
        guard let pair = reply.elements, pair.count == 2, let text = pair[1].string else { return nil }
        return Double(text)
    }

    /// The newest entry's time; a score that is no time (out of range) is
    /// no last time, and a note says why.
    private func lastTime(_ newest: Double?, unit: ScoreUnit, room: inout RoomStats) throws(RoomWardenError) -> Int64? {
        guard let newest else { return nil }
        guard let ms = unit.milliseconds(newest) else {
            room.note = "newest score \(newest) is no time"
            return nil
        }
        return ms
    }

    /// Listens to the pattern for `ms` and counts messages per channel.
    private func sample(_ ms: Int64) throws(RoomWardenError) -> [[UInt8]: Int] {
        let c = try settings.connect()
        do {
            try c.append(.psubscribe(patterns: [Array(options.pattern.utf8)]))
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
