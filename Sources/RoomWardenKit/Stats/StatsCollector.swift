import Hiredis

/// Gathers a report in a handful of pipelined round trips: one for the
/// server's facts and the rooms, then the rooms' figures in windows of
/// `windowRooms`, so that memory stays bounded however many rooms there
/// are (the rooms themselves are kept in a compact `RoomTable`).
///
/// On a Redis Cluster it asks every node (channels and subscribers are per
/// node: the union of PUBSUB CHANNELS, the sum of NUMSUB and NUMPAT) and
/// every primary for its archives and shard channels: the same pipelines
/// on each node. Behind sentinels it asks the master.
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

    /// Rooms asked about per pipelined window: a window's commands and
    /// replies (a few hundred kilobytes) are all that is held at a time,
    /// however many rooms there are.
    static let windowRooms = 2000

    /// Runs `body` (queueing and reading on `node`), the link's failure
    /// said as `doing` (on a cluster, naming the node).
    private func on<R>(_ node: Node, doing: String, _ body: () throws(RedisError) -> R) throws(RoomWardenError) -> R {
        do {
            return try body()
        } catch {
            throw failure(RoomWardenError.from(error, doing: doing, endpoint: node.connection.endpoint), at: node, doing: doing)
        }
    }

    /// Round trip 1 on a node: its facts, the channels with subscribers
    /// (read straight into the table) and, on a node that holds keys, its
    /// shard channels and its archives and backlogs (SCAN, the two
    /// patterns' pages asked in the same round trips).
    private func firstLook(_ n: Int, _ node: Node, pattern: [UInt8], scanMatch: [UInt8], backlogMatch: [UInt8]?,
                           glob: Glob, into table: inout RoomTable) throws(RoomWardenError) -> (NodeStats, shard: [[UInt8]]) {
        let doing = "reading server stats"
        var facts = CommandBatch()
        for c in [Command.pubsubNumpat, .info("server"), .info("clients"), .configGet("client-output-buffer-limit"),
                  .clientList(type: "pubsub")] { facts.add(c.arguments) }
        let c = node.connection
        var server = ServerStats()
        var shard: [[UInt8]] = []
        var scans: [(match: [UInt8], cursor: [UInt8], backlog: Bool)] = []
        if node.holdsKeys {
            scans.append((scanMatch, ScanPage.start, false))
            if let backlogMatch { scans.append((backlogMatch, ScanPage.start, true)) }
        }
        var scanTickets: [Connection.Ticket] = []
        try on(node, doing: doing) { () throws(RedisError) in
            let factsTicket = try c.append(facts)
            let channelsTicket = try c.append(.pubsubChannels(pattern: pattern))
            let shardTicket = node.holdsKeys ? try c.append(.pubsubShardChannels(pattern: pattern)) : nil
            for s in scans { scanTickets.append(try c.append(.scan(cursor: s.cursor, match: s.match))) }
            let r = try c.replies(to: factsTicket)
            server = StatsCollector.server(numpat: r[0], infoServer: r[1], infoClients: r[2], bufferLimits: r[3], pubsubClients: r[4])
            _ = try c.readArray(for: channelsTicket) { name in
                if let name { table.row(named: name) }
            }
            if let shardTicket { shard = try c.reply(to: shardTicket).elements?.compactMap { $0.bytes } ?? [] }
        }
        commands += facts.count + 1 + (node.holdsKeys ? 1 : 0)
        roundTrips += 1
        // SCAN until every cursor is back to 0 (usually the first page, in
        // round trip 1, for a thousand rooms; a page is a thousand keys).
        while !scans.isEmpty {
            if scanTickets.isEmpty {
                scanTickets = try on(node, doing: "SCAN") { () throws(RedisError) -> [Connection.Ticket] in
                    try scans.map { (s) throws(RedisError) in try c.append(.scan(cursor: s.cursor, match: s.match)) }
                }
                roundTrips += 1
            }
            commands += scans.count
            let pages = try on(node, doing: "SCAN") { () throws(RedisError) -> [ScanPage] in
                var pages: [ScanPage] = []
                for t in scanTickets { pages.append(try ScanPage(c.reply(to: t))) }
                return pages
            }
            scanTickets = []
            for (k, page) in pages.enumerated() {
                for key in page.keys {
                    if scans[k].backlog {
                        guard let channel = options.backlog?.channel(ofKey: key), glob.matches(channel) else { continue }
                        let row = channel.withUnsafeBytes { table.row(named: $0) }
                        table.setBacklogNode(row, n)
                    } else {
                        guard let channel = options.template.channel(ofKey: key), glob.matches(channel) else { continue }
                        let row = channel.withUnsafeBytes { table.row(named: $0) }
                        table.setArchiveNode(row, n)
                    }
                }
                scans[k].cursor = page.cursor
            }
            scans.removeAll { $0.cursor == ScanPage.start }
        }
        let stats = NodeStats(address: node.clusterNode?.endpoint.description ?? c.endpoint.description, role: node.role, server: server)
        return (stats, shard)
    }

    /// What the ACL user may not read stays unknown (nil), not an error.
    private static func server(numpat: Reply, infoServer: Reply, infoClients: Reply, bufferLimits: Reply, pubsubClients: Reply) -> ServerStats {
        var server = ServerStats()
        server.patternSubscriptions = numpat.integer.map(Int.init)
        let info = (infoServer.string ?? "") + "\n" + (infoClients.string ?? "")
        server.version = StatsCollector.infoField(info, "redis_version")
        if let n = StatsCollector.infoField(info, "pubsub_clients").flatMap(Int.init) {
            server.pubsubClients = n
        } else if let list = pubsubClients.string {
            server.pubsubClients = list.split(separator: "\n").filter { $0.contains("id=") }.count
        }
        if let limits = bufferLimits.elements?.compactMap({ $0.string }), limits.count == 2 {
            server.pubsubLimit = StatsCollector.pubsubLimit(limits[1])
        }
        return server
    }

    /// Entries with a time from `since` on: ZCOUNT up to, not including,
    /// +inf (an entry scored +inf is no recent message).
    static func count(_ key: [UInt8], since: Int64, unit: ScoreUnit) -> Command {
        .zcount(key: key, from: .inclusive(unit.score(forMilliseconds: since)), to: .belowPositiveInfinity)
    }

    /// One window of rooms asked on one node: what was queued, in the
    /// order of the replies.
    private struct Window {
        /// The rows whose subscribers it asks (PUBSUB NUMSUB), if any.
        var subscribers: Range<Int>?
        /// The node's shard channels whose subscribers it asks.
        var shard: [[UInt8]] = []
        /// Archives: ZCARD, the newest timed entry, one ZCOUNT per window.
        var archives: [Int] = []
        /// List backlogs (rooms with no archive): TYPE, LLEN.
        var backlogs: [Int] = []
        /// Second looks, for an archive that the first could not count (a
        /// list, or scored in seconds): TYPE, LLEN, ZCOUNTs in seconds.
        var looks: [Int] = []
        var batch = CommandBatch()
    }

    /// Queues a window; its replies are read later.
    private func send(_ w: Window, on node: Node) throws(RoomWardenError) -> Connection.Ticket {
        let ticket = try on(node, doing: "reading room stats") { () throws(RedisError) in try node.connection.append(w.batch) }
        commands += w.batch.count
        roundTrips += 1
        return ticket
    }

    /// Every room's figures from `node`, asked in windows of
    /// `windowRooms` rooms, each window queued before the replies of the
    /// one before are read (so the server works on one while this process
    /// reads the other). Subscribers are asked on every node and summed;
    /// archives and backlogs on the node holding them; then, in windows
    /// too, the second looks some archives need.
    private func countRooms(_ n: Int, _ node: Node, shard: [[UInt8]], windowStarts: [Int64], into table: inout RoomTable,
                            subscribersKnown: inout Bool, shardSubscribers: inout [[UInt8]: Int]) throws(RoomWardenError) {
        var looks: [Int] = []
        var pending: (Window, Connection.Ticket)?
        var start = 0
        repeat {
            let rows = start..<min(table.count, start + StatsCollector.windowRooms)
            var w = Window()
            if !rows.isEmpty {
                w.subscribers = rows
                w.batch.begin(2 + rows.count)
                w.batch.argument("PUBSUB")
                w.batch.argument("NUMSUB")
                for i in rows { table.withName(i) { w.batch.argument($0) } }
            }
            if start == 0, !shard.isEmpty {
                w.shard = shard
                w.batch.add(Command.pubsubShardNumsub(channels: shard).arguments)
            }
            for i in rows where table.archiveNode(i) == n {
                w.archives.append(i)
                let key = options.template.key(for: table.name(i))
                w.batch.add(Command.zcard(key: key).arguments)
                w.batch.add(Command.newestFiniteEntry(key: key).arguments)
                for since in windowStarts { w.batch.add(StatsCollector.count(key, since: since, unit: .milliseconds).arguments) }
            }
            for i in rows where table.backlogNode(i) == n {
                w.backlogs.append(i)
                let key = options.backlog?.key(for: table.name(i)) ?? []
                w.batch.add(Command.type(key: key).arguments)
                w.batch.add(Command.llen(key: key).arguments)
            }
            start = rows.upperBound
            let ticket = w.batch.count > 0 ? try send(w, on: node) : nil
            if let (before, t) = pending {
                try read(before, t, on: node, windowStarts: windowStarts, into: &table, subscribersKnown: &subscribersKnown,
                         shardSubscribers: &shardSubscribers, looks: &looks)
            }
            pending = ticket.map { (w, $0) }
        } while start < table.count
        if let (before, t) = pending {
            try read(before, t, on: node, windowStarts: windowStarts, into: &table, subscribersKnown: &subscribersKnown,
                     shardSubscribers: &shardSubscribers, looks: &looks)
        }
        // Second looks, only where needed: list backlogs under the archive
        // key, archives scored in seconds.
        pending = nil
        start = 0
        while start < looks.count || pending != nil {
            var w = Window()
            w.looks = Array(looks[start..<min(looks.count, start + StatsCollector.windowRooms)])
            for i in w.looks {
                let key = options.template.key(for: table.name(i))
                w.batch.add(Command.type(key: key).arguments)
                w.batch.add(Command.llen(key: key).arguments)
                for since in windowStarts { w.batch.add(StatsCollector.count(key, since: since, unit: .seconds).arguments) }
            }
            start += w.looks.count
            let ticket = w.looks.isEmpty ? nil : try send(w, on: node)
            if let (before, t) = pending {
                try read(before, t, on: node, windowStarts: windowStarts, into: &table, subscribersKnown: &subscribersKnown,
                         shardSubscribers: &shardSubscribers, looks: &looks)
            }
            pending = ticket.map { (w, $0) }
        }
    }

    /// Reads the replies of a window into the table.
    private func read(_ w: Window, _ ticket: Connection.Ticket, on node: Node, windowStarts: [Int64], into table: inout RoomTable,
                      subscribersKnown: inout Bool, shardSubscribers: inout [[UInt8]: Int], looks: inout [Int]) throws(RoomWardenError) {
        let r = try on(node, doing: "reading room stats") { () throws(RedisError) in try node.connection.replies(to: ticket) }
        var at = 0
        func next() -> Reply {
            at += 1
            return r[at - 1]
        }
        if let rows = w.subscribers {
            // NUMSUB answers channel, count, ... in the order asked.
            if let pairs = next().elements, pairs.count == 2 * rows.count {
                for (k, i) in rows.enumerated() { table.addSubscribers(i, pairs[2 * k + 1].integer.map(Int.init) ?? 0) }
            } else {
                subscribersKnown = false
            }
        }
        if !w.shard.isEmpty { _ = StatsCollector.addCounts(next(), to: &shardSubscribers) }
        for i in w.archives {
            let key = options.template.key(for: table.name(i))
            let size = try readable(next(), key, at: node)
            let newestReply = next()
            let counts = (0..<windowStarts.count).map { _ in next() }
            if let line = size.errorMessage {
                if RedisError.server(line).serverCode == "WRONGTYPE" {  // a list backlog, or another type
                    looks.append(i)
                } else {
                    table.setNote(i, line)
                }
                continue
            }
            table.setArchived(i, size.integer.map(Int.init))
            let newest = StatsCollector.score(try readable(newestReply, key, at: node))
            let unit = ScoreUnit.auto.resolved(newestScore: newest)
            table.setLastTs(i, lastTime(newest, unit: unit, row: i, in: &table))
            if unit == .seconds {  // count again, in seconds
                looks.append(i)
                continue
            }
            for (k, c) in counts.enumerated() { table.setWindowCount(i, k, try readable(c, key, at: node).integer.map(Int.init)) }
        }
        for i in w.backlogs {
            let key = options.backlog?.key(for: table.name(i)) ?? []
            let type = next(), length = next()
            switch try readable(type, key, at: node).string ?? "" {
            case "list":
                table.setArchived(i, try readable(length, key, at: node).integer.map(Int.init))
                table.setNote(i, "list")
            case "none": break  // gone since the SCAN
            case let type: table.setNote(i, "backlog key holds a \(type)")
            }
        }
        for i in w.looks {
            let key = options.template.key(for: table.name(i))
            let type = next(), length = next()
            let counts = (0..<windowStarts.count).map { _ in next() }
            switch try readable(type, key, at: node).string ?? "" {
            case "list":
                table.setArchived(i, try readable(length, key, at: node).integer.map(Int.init))
                table.setNote(i, "list")
            case "zset":
                for (k, c) in counts.enumerated() { table.setWindowCount(i, k, try readable(c, key, at: node).integer.map(Int.init)) }
                if table.archived(i) == nil { table.setArchived(i, 0) }
            case let type:
                table.setNote(i, "archive key holds a \(type)")
            }
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

        // Round trip 1 on every node (and the SCAN pages): every room,
        // subscribed or archived, and who holds each archive.
        var table = RoomTable(windowCount: options.windows.count)
        var perNode: [NodeStats] = []
        var shardChannels: [[[UInt8]]] = []
        for (n, node) in nodes.enumerated() {
            let (stats, shard) = try firstLook(n, node, pattern: pattern, scanMatch: scanMatch, backlogMatch: backlogMatch,
                                               glob: glob, into: &table)
            perNode.append(stats)
            shardChannels.append(shard)
        }
        // A list backlog counts for a room with no archive key (where both
        // exist, the archive is the room's archive).
        for i in 0..<table.count where table.backlogNode(i) != nil {
            let name = table.name(i)
            if table.archiveNode(i) != nil || options.backlog?.key(for: name) == options.template.key(for: name) {
                table.setBacklogNode(i, nil)
            }
        }
        // Rooms heard only in the sample.
        for (name, _) in sampled where glob.matches(name) { name.withUnsafeBytes { _ = table.row(named: $0) } }
        let server = ServerStats(combining: perNode.map(\.server))

        // Then every node, window by window: subscribers of every room
        // (summed: each node counts its own clients), its shard channels'
        // subscribers, and each archive it holds.
        for i in 0..<table.count { table.setSubscribers(i, 0) }
        var subscribersKnown = true
        var shardSubscribers: [[UInt8]: Int] = [:]
        for (n, node) in nodes.enumerated() {
            try countRooms(n, node, shard: shardChannels[n], windowStarts: windowStarts, into: &table,
                           subscribersKnown: &subscribersKnown, shardSubscribers: &shardSubscribers)
        }
        for i in 0..<table.count {
            if !subscribersKnown { table.setSubscribers(i, nil) }
            if options.sampleMilliseconds != nil { table.setSampled(i, sampled[table.name(i)] ?? 0) }
        }
        var report = StatsReport(ts: now, pattern: options.pattern, windowLabels: options.windows.map(\.label),
                                 server: server, rooms: table)
        report.nodes = perNode
        report.shardChannels = shardSubscribers.keys.sorted { $0.lexicographicallyPrecedes($1) }.map { ($0, shardSubscribers[$0] ?? 0) }
        report.sampleSeconds = options.sampleMilliseconds.map { Double($0) / 1000 }
        report.commands = commands
        report.roundTrips = roundTrips
        report.tookMilliseconds = Monotonic.milliseconds() - started
        return report
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
    private func lastTime(_ newest: Double?, unit: ScoreUnit, row: Int, in table: inout RoomTable) -> Int64? {
        guard let newest else { return nil }
        guard let ms = unit.milliseconds(newest) else {
            table.setNote(row, "newest score \(newest) is no time")
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
