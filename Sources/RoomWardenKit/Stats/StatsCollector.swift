import Hiredis

/// Gathers a report in a handful of pipelined round trips, whatever the
/// number of rooms.
///
/// On a Redis Cluster it asks every node (channels and subscribers are per
/// node: the union of PUBSUB CHANNELS, the sum of NUMSUB and NUMPAT) and
/// every primary for its archives and shard channels: still one pipeline
/// per node and round trip. Behind sentinels it asks the master.
public final class StatsCollector {
    private let topology: Topology
    private let settings: ConnectionSettings
    private let options: StatsOptions
    private var commands = 0
    private var roundTrips = 0

    /// A node asked for stats.
    private struct Node {
        let connection: Connection
        /// `primary`, `replica` (cluster), `master` (sentinel) or `standalone`.
        let role: String
        /// Holds keys: SCAN it, read its archives.
        let holdsKeys: Bool
        /// Its place in the cluster's map.
        let clusterNode: ClusterNode?
    }

    public convenience init(connection: Connection, settings: ConnectionSettings, options: StatsOptions) {
        self.init(topology: .single(connection), settings: settings, options: options)
    }

    public init(topology: Topology, settings: ConnectionSettings, options: StatsOptions) {
        self.topology = topology
        self.settings = settings
        self.options = options
    }

    /// One pipelined round trip on `node`. On a cluster, a node that stops
    /// answering is named with what it holds (exit 69).
    private func run(_ pipeline: Pipeline, on node: Node, doing: String) throws(RoomWardenError) -> Pipeline.Replies {
        guard !pipeline.commands.isEmpty else { return try pipeline.run(on: node.connection, doing: doing) }
        commands += pipeline.commands.count
        roundTrips += 1
        do {
            return try pipeline.run(on: node.connection, doing: doing)
        } catch {
            throw failure(error, at: node, doing: doing)
        }
    }

    private func failure(_ error: RoomWardenError, at node: Node, doing: String) -> RoomWardenError {
        guard error.exitCode == 69, case .cluster(let cluster) = topology, let n = node.clusterNode else { return error }
        if node.holdsKeys { return cluster.unreachablePrimary(n, reason: error.message, doing: doing, within: "(it stopped answering)") }
        return .unreachable(
            "cannot finish \(doing): the Redis Cluster replica \(n.endpoint) stopped answering: \(error.message); its subscribers would be missing from the counts")
    }

    /// The nodes to ask: every node of a cluster (a failed replica left
    /// out), else the one server or master. An unreachable primary that is
    /// not failed over, or an unreachable replica the cluster does not call
    /// failed, is 69: its rooms or subscribers would be missing.
    private func nodes(doing: String) throws(RoomWardenError) -> [Node] {
        switch topology {
        case .single(let connection):
            return [Node(connection: connection, role: "standalone", holdsKeys: true, clusterNode: nil)]
        case .sentinel(let sentinel):
            return [Node(connection: try sentinel.connection(), role: "master", holdsKeys: true, clusterNode: nil)]
        case .cluster(let cluster):
            var out: [Node] = []
            for (shard, connection) in try cluster.primaryConnections(doing: doing) {
                out.append(Node(connection: connection, role: "primary", holdsKeys: true, clusterNode: shard.primary))
            }
            let primaries = Set(out.compactMap { $0.clusterNode?.endpoint.description })
            for node in cluster.allNodes where !primaries.contains(node.endpoint.description) {
                do {
                    out.append(Node(connection: try cluster.connection(to: node), role: "replica", holdsKeys: false, clusterNode: node))
                } catch {
                    if error.exitCode != 69 { throw error }
                    if node.health == .failed { continue }
                    throw RoomWardenError.unreachable(
                        "cannot finish \(doing): the Redis Cluster node \(node.endpoint) is unreachable and not marked failed: \(error.message); its subscribers would be missing from the counts (bring it back, or wait until the cluster marks it failed)")
                }
            }
            return out
        }
    }

    /// Round trip 1: the server's facts, the channels with subscribers and
    /// the first SCAN pages (archives, backlogs).
    private struct ServerQuery {
        let channels, patternSubscriptions, infoServer, infoClients, bufferLimits, pubsubClients: Pipeline.Slot
        /// On a node that holds keys: its first SCAN pages and its shard channels.
        let firstScan, firstBacklogScan, shardChannels: Pipeline.Slot?

        init(pattern: [UInt8], scanMatch: [UInt8], backlogMatch: [UInt8]?, holdsKeys: Bool, into p: inout Pipeline) {
            channels = p.add(.pubsubChannels(pattern: pattern))
            patternSubscriptions = p.add(.pubsubNumpat)
            infoServer = p.add(.info("server"))
            infoClients = p.add(.info("clients"))
            bufferLimits = p.add(.configGet("client-output-buffer-limit"))
            pubsubClients = p.add(.clientList(type: "pubsub"))
            firstScan = holdsKeys ? p.add(.scan(cursor: ScanPage.start, match: scanMatch)) : nil
            firstBacklogScan = holdsKeys ? backlogMatch.map { p.add(.scan(cursor: ScanPage.start, match: $0)) } : nil
            shardChannels = holdsKeys ? p.add(.pubsubShardChannels(pattern: pattern)) : nil
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

    /// Round trip 2, per room with no archive key but a backlog key: its
    /// type and length (a list's entries have no times: no window counts).
    private struct BacklogQuery {
        let room: Int
        let key: [UInt8]
        let type, length: Pipeline.Slot

        init(room: Int, key: [UInt8], into p: inout Pipeline) {
            self.room = room
            self.key = key
            type = p.add(.type(key: key))
            length = p.add(.llen(key: key))
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
        let backlogMatch = options.backlog?.scanPattern(for: pattern)
        let glob = Glob(pattern)
        let nodes = try self.nodes(doing: "reading server stats")

        // Round trip 1 on every node: its facts, its channels, and on a
        // node holding keys the first SCAN page and its shard channels.
        var subscribed = Set<[UInt8]>()
        var shardChannels: [Int: [[UInt8]]] = [:]  // node -> its shard channels
        var archives: [[UInt8]: (key: [UInt8], node: Int)] = [:]  // channel -> key, holder
        var backlogs: [[UInt8]: (key: [UInt8], node: Int)] = [:]  // channel -> backlog key, holder
        var perNode: [NodeStats] = []
        for (n, node) in nodes.enumerated() {
            var first = Pipeline()
            let query = ServerQuery(pattern: pattern, scanMatch: scanMatch, backlogMatch: backlogMatch, holdsKeys: node.holdsKeys, into: &first)
            let r1 = try run(first, on: node, doing: "reading server stats")
            perNode.append(NodeStats(address: node.clusterNode?.endpoint.description ?? node.connection.endpoint.description,
                                     role: node.role, server: query.server(r1)))
            subscribed.formUnion(r1[query.channels].elements?.compactMap { $0.bytes } ?? [])
            if let slot = query.shardChannels { shardChannels[n] = r1[slot].elements?.compactMap { $0.bytes } ?? [] }
            guard let firstScan = query.firstScan else { continue }
            for key in try scanned(scanMatch, first: r1[firstScan], on: node) {
                if let channel = options.template.channel(ofKey: key), glob.matches(channel) { archives[channel] = (key, n) }
            }
            guard let backlog = options.backlog, let backlogMatch, let firstBacklogScan = query.firstBacklogScan else { continue }
            for key in try scanned(backlogMatch, first: r1[firstBacklogScan], on: node) {
                if let channel = backlog.channel(ofKey: key), glob.matches(channel) { backlogs[channel] = (key, n) }
            }
        }
        // A list backlog counts for a room with no archive key (where both
        // exist, the archive is the room's archive).
        for (channel, b) in backlogs where archives[channel] != nil || b.key == options.template.key(for: channel) {
            backlogs[channel] = nil
        }
        let server = ServerStats(combining: perNode.map(\.server))

        // Every room: subscribed, archived or heard in the sample.
        var names = subscribed
        names.formUnion(archives.keys)
        names.formUnion(backlogs.keys)
        names.formUnion(sampled.keys.filter { glob.matches($0) })
        let channels = names.sorted { $0.lexicographicallyPrecedes($1) }
        var rooms = channels.map { RoomStats(channel: $0, windowCounts: Array(repeating: nil, count: options.windows.count)) }

        // Round trip 2 on every node: its subscribers of all rooms (summed:
        // each node counts its own clients), its shard channels'
        // subscribers, and each archive it holds.
        var subscriberSums: [[UInt8]: Int] = [:]
        var subscribersKnown = true
        var shardSubscribers: [[UInt8]: Int] = [:]
        var secondRound: [(Pipeline.Replies, [ArchiveQuery], [BacklogQuery])] = []
        var thirdByNode: [(node: Int, pipeline: Pipeline, looks: [SecondLook])] = []
        for (n, node) in nodes.enumerated() {
            var second = Pipeline()
            let subscribers = channels.isEmpty ? nil : second.add(.pubsubNumsub(channels: channels))
            let shard = shardChannels[n].flatMap { $0.isEmpty ? nil : second.add(.pubsubShardNumsub(channels: $0)) }
            let queries = rooms.indices.compactMap { i -> ArchiveQuery? in
                guard let a = archives[rooms[i].channel], a.node == n else { return nil }
                return ArchiveQuery(room: i, key: a.key, windowStarts: windowStarts, into: &second)
            }
            let backlogQueries = rooms.indices.compactMap { i -> BacklogQuery? in
                guard let b = backlogs[rooms[i].channel], b.node == n else { return nil }
                return BacklogQuery(room: i, key: b.key, into: &second)
            }
            let r2 = try run(second, on: node, doing: "reading room stats")
            if let subscribers, !StatsCollector.addCounts(r2[subscribers], to: &subscriberSums) { subscribersKnown = false }
            if let shard { _ = StatsCollector.addCounts(r2[shard], to: &shardSubscribers) }
            secondRound.append((r2, queries, backlogQueries))
            thirdByNode.append((n, Pipeline(), []))
        }
        for k in rooms.indices where subscribersKnown { rooms[k].subscribers = subscriberSums[rooms[k].channel] ?? 0 }
        for (n, node) in nodes.enumerated() {
            let (r2, queries, backlogQueries) = secondRound[n]
            for q in backlogQueries {
                switch try readable(r2[q.type], q.key, at: node).string ?? "" {
                case "list":
                    rooms[q.room].archived = try readable(r2[q.length], q.key, at: node).integer.map(Int.init)
                    rooms[q.room].note = "list"
                case "none": break  // gone since the SCAN
                case let type: rooms[q.room].note = "backlog key holds a \(type)"
                }
            }
            for q in queries {
                let size = try readable(r2[q.size], q.key, at: node)
                if let line = size.errorMessage {
                    if RedisError.server(line).serverCode == "WRONGTYPE" {  // a list backlog, or another type
                        thirdByNode[n].looks.append(SecondLook(q, windowStarts: windowStarts, into: &thirdByNode[n].pipeline))
                    } else {
                        rooms[q.room].note = line
                    }
                    continue
                }
                rooms[q.room].archived = size.integer.map(Int.init)
                let newest = StatsCollector.score(try readable(r2[q.newest], q.key, at: node))
                let unit = ScoreUnit.auto.resolved(newestScore: newest)
                rooms[q.room].lastTs = try lastTime(newest, unit: unit, room: &rooms[q.room])
                if unit == .seconds {  // count again, in seconds
                    thirdByNode[n].looks.append(SecondLook(q, windowStarts: windowStarts, into: &thirdByNode[n].pipeline))
                    continue
                }
                rooms[q.room].windowCounts = try counts(q.windowCounts, in: r2, q.key, at: node)
            }
        }

        // Round trip 3, only where needed: list backlogs and archives in seconds.
        for (n, third, secondLooks) in thirdByNode where !secondLooks.isEmpty {
            let node = nodes[n]
            let r3 = try run(third, on: node, doing: "reading room stats")
            for look in secondLooks {
                let i = look.archive.room
                let type = try readable(r3[look.type], look.archive.key, at: node).string ?? ""
                switch type {
                case "list":
                    rooms[i].archived = try readable(r3[look.length], look.archive.key, at: node).integer.map(Int.init)
                    rooms[i].note = "list"
                case "zset":
                    rooms[i].windowCounts = try counts(look.windowCounts, in: r3, look.archive.key, at: node)
                    if rooms[i].archived == nil { rooms[i].archived = 0 }
                default:
                    rooms[i].note = "archive key holds a \(type)"
                }
            }
        }
        for k in rooms.indices where options.sampleMilliseconds != nil { rooms[k].sampled = sampled[rooms[k].channel] ?? 0 }
        var report = StatsReport(ts: now, pattern: options.pattern, windowLabels: options.windows.map(\.label),
                                 server: server, rooms: rooms)
        report.nodes = perNode
        report.shardChannels = shardSubscribers.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { ($0, shardSubscribers[$0] ?? 0) }
        report.sampleSeconds = options.sampleMilliseconds.map { Double($0) / 1000 }
        report.commands = commands
        report.roundTrips = roundTrips
        report.tookMilliseconds = Monotonic.milliseconds() - started
        return report
    }

    /// Every key matching `match` on `node`: the first SCAN page's reply,
    /// then SCAN until done (usually it already is, for a thousand rooms).
    private func scanned(_ match: [UInt8], first: Reply, on node: Node) throws(RoomWardenError) -> [[UInt8]] {
        do {
            let scan = try node.connection.scanAll(match: match, continuing: ScanPage(first))
            commands += scan.roundTrips
            roundTrips += scan.roundTrips
            return scan.keys
        } catch {
            throw failure(RoomWardenError.from(error, doing: "SCAN", endpoint: node.connection.endpoint), at: node, doing: "SCAN")
        }
    }

    /// A reply about an archive key; a denial (NOPERM) is no unknown
    /// figure but the user's error, exit 77 with the server's line. Other
    /// refusals are left to the caller.
    private func readable(_ reply: Reply, _ key: [UInt8], at node: Node) throws(RoomWardenError) -> Reply {
        if let line = reply.errorMessage, RoomWardenError.exitCode(forServerError: line) == 77 {
            throw RoomWardenError.from(.server(line), doing: "reading '\(String(decoding: key, as: UTF8.self))'", endpoint: node.connection.endpoint)
        }
        return reply
    }

    /// The window counts (unknown where refused).
    private func counts(_ slots: [Pipeline.Slot], in replies: Pipeline.Replies, _ key: [UInt8], at node: Node) throws(RoomWardenError) -> [Int?] {
        var out: [Int?] = []
        for slot in slots { out.append(try readable(replies[slot], key, at: node).integer.map(Int.init)) }
        return out
    }

    /// Adds a `PUBSUB NUMSUB`-shaped reply (channel, count, ...) to `sums`;
    /// a refused one adds nothing and is false.
    private static func addCounts(_ reply: Reply, to sums: inout [[UInt8]: Int]) -> Bool {
        guard let pairs = reply.elements else { return false }
        var i = 0
        while i + 1 < pairs.count {
            if let name = pairs[i].bytes, let n = pairs[i + 1].integer { sums[name, default: 0] += Int(n) }
            i += 2
        }
        return true
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
        let live = settings.subscribing(through: topology)
        let c = try live.connect()
        do {
            try c.append(.psubscribe(patterns: [Array(options.pattern.utf8)]))
            try c.flush()
        } catch {
            throw RoomWardenError.from(error, doing: "PSUBSCRIBE for --sample", endpoint: live.endpoint)
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
                throw RoomWardenError.from(error, doing: "sampling", endpoint: live.endpoint)
            }
            if let refused { throw RoomWardenError.from(.server(refused), doing: "PSUBSCRIBE for --sample", endpoint: live.endpoint) }
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
