#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// `watch --sharded`: follows Redis 7 sharded pub/sub (`SPUBLISH`) beside
/// the classic subscription (SPEC §10). Sharded pub/sub has no patterns,
/// so the channels are found: those of the `-c` flags, those that match
/// the patterns in `PUBSUB SHARDCHANNELS` (channels with sharded
/// subscribers) on every primary, and those whose archive key matches
/// (SCAN through the key template). Each is SSUBSCRIBEd on the primary
/// that serves its slot (one link per primary; on one server or a
/// sentinel master, one link), found again every few seconds and at once
/// after a lost link or a slot that moved (`sunsubscribe` from the
/// server). Messages go into the watch's queue like the classic ones.
///
/// A sharded link that is lost is reported with what it may have missed
/// (its channels and the span); the archives are not replayed for it:
/// sharded messages travel apart from the handoff marker.
///
/// Runs on its own thread, with its own connections, until the watch ends.
final class ShardedSubscriptions {
    private let settings: ConnectionSettings
    private let options: WatchOptions
    private let queue: WatchQueue
    private let buffer: UnsafeMutableRawBufferPointer
    private var topology: Topology?
    /// Open links, by `Endpoint.description` of their node.
    private var links: [String: Link] = [:]
    private var toldDiscoveryFailure = false
    /// The channels whose archive keys were found by the last SCAN.
    private var archived = Set<[UInt8]>()
    /// When to SCAN for archive keys again (monotonic ms): a SCAN walks the
    /// whole keyspace, so less often than `PUBSUB SHARDCHANNELS`.
    private var nextScan: Int64 = 0
    private let ignore: [Glob]

    /// How often the channels are looked for again (ms).
    static let rediscovery: Int64 = 3_000
    /// How often the archive keys are SCANned for (ms).
    static let rescan: Int64 = 30_000

    init(settings: ConnectionSettings, options: WatchOptions, queue: WatchQueue) {
        self.settings = settings
        self.options = options
        self.queue = queue
        ignore = options.ignore.map { Glob($0) }
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// One subscribed link to a primary.
    private final class Link {
        let connection: Connection
        let endpoint: Endpoint
        var decoder = PushDecoder()
        var batch = MessageBatch()
        /// The channels SSUBSCRIBEd on it.
        var channels = Set<[UInt8]>()
        var heardMonotonic = Monotonic.milliseconds()
        var heardWall = WallClock.nowMilliseconds()
        var pingSent: Int64?
        init(_ connection: Connection, _ endpoint: Endpoint) {
            self.connection = connection
            self.endpoint = endpoint
        }
    }

    func run() {
        ThreadName.set("rw-sharded")
        var nextDiscovery: Int64 = 0
        while queue.ended == nil {
            if Monotonic.milliseconds() >= nextDiscovery {
                do {
                    try follow(try discover())
                    toldDiscoveryFailure = false
                    nextDiscovery = Monotonic.milliseconds() + ShardedSubscriptions.rediscovery
                } catch {
                    if error.exitCode == 77 || error.exitCode == 64 || error.exitCode == 65 {
                        queue.finish(.failed(error))
                        return
                    }
                    topology = nil
                    if !toldDiscoveryFailure {
                        toldDiscoveryFailure = true
                        queue.notice("--sharded: cannot look for shard channels: \(error.message); trying again")
                    }
                    nextDiscovery = Monotonic.milliseconds() + 1_000
                }
            }
            if pump(until: nextDiscovery) { nextDiscovery = 0 }
        }
    }

    // MARK: Finding the channels

    /// The channels to follow, each with the node that serves it.
    private func discover() throws(RoomWardenError) -> [(channel: [UInt8], node: Endpoint)] {
        let t: Topology
        if let open = topology {
            t = open
            if case .cluster(let cluster) = t { try cluster.refresh() }
        } else {
            t = try settings.topology(retryFor: settings.failoverWait)
            topology = t
            nextScan = 0  // a new topology: SCAN again
        }
        let scanning = Monotonic.milliseconds() >= nextScan
        if scanning { archived = [] }
        var found = Set(options.channels.map { Array($0.utf8) })
        let template = options.archiveTemplate
        for pattern in options.patterns {
            let bytes = Array(pattern.utf8)
            let glob = Glob(bytes)
            let scan = template.scanPattern(for: bytes)
            try t.forEachPrimary(doing: "looking for shard channels (PUBSUB SHARDCHANNELS)") { (conn) throws(RedisError) in
                for channel in try conn.command(.pubsubShardChannels(pattern: bytes)).check().elements ?? [] {
                    if let name = channel.bytes { found.insert(name) }
                }
                guard scanning else { return }
                for key in try conn.scanAll(match: scan).keys {
                    if let name = template.channel(ofKey: key), glob.matches(name) { archived.insert(name) }
                }
            }
        }
        if scanning { nextScan = Monotonic.milliseconds() + ShardedSubscriptions.rescan }
        found.formUnion(archived)
        if !ignore.isEmpty { found = found.filter { name in !ignore.contains { $0.matches(name) } } }
        return found.sorted { $0.lexicographicallyPrecedes($1) }.compactMap { channel in
            switch t {
            case .single(let conn): return (channel, conn.endpoint)
            case .sentinel(let sentinel): return (channel, sentinel.master)
            case .cluster(let cluster): return cluster.owner(ofKey: channel).map { (channel, $0.endpoint) }
            }
        }
    }

    /// SSUBSCRIBEs each channel on its node, opening links as needed, and
    /// closes links to nodes that serve none of them any more.
    private func follow(_ wanted: [(channel: [UInt8], node: Endpoint)]) throws(RoomWardenError) {
        var byNode: [String: (Endpoint, [[UInt8]])] = [:]
        for (channel, node) in wanted { byNode[node.description, default: (node, [])].1.append(channel) }
        for key in links.keys where byNode[key] == nil { links[key] = nil }
        for (key, (node, channels)) in byNode {
            let link: Link
            if let open = links[key] {
                link = open
            } else {
                link = Link(try connect(to: node), node)
                links[key] = link
            }
            let new = channels.filter { !link.channels.contains($0) }
            guard !new.isEmpty else { continue }
            do {
                // One command per channel: on a cluster the channels of one
                // SSUBSCRIBE must share a slot.
                for channel in new { try link.connection.append(.ssubscribe(channels: [channel])) }
                try link.connection.flush()
            } catch {
                links[key] = nil
                throw RoomWardenError.from(error, doing: "subscribing to shard channels (SSUBSCRIBE)", endpoint: node)
            }
            link.channels.formUnion(new)
        }
    }

    private func connect(to node: Endpoint) throws(RoomWardenError) -> Connection {
        switch topology {
        case .cluster(let cluster)?: return try cluster.openDedicated(to: node)
        default: return try settings.connector(node)
        }
    }

    // MARK: Reading

    /// Reads every link until `deadline` (monotonic ms) or the watch ends;
    /// true when the channels must be looked for again at once (a link
    /// lost, a slot moved).
    private func pump(until deadline: Int64) -> Bool {
        let heartbeat = max(options.heartbeatMilliseconds, 100)
        var again = false
        while queue.ended == nil && !again {
            let now = Monotonic.milliseconds()
            if now >= deadline { return false }
            let open = Array(links)
            var fds = [pollfd(fd: queue.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
            for (_, link) in open { fds.append(pollfd(fd: link.connection.fileDescriptor, events: Int16(POLLIN), revents: 0)) }
            _ = poll(&fds, nfds_t(fds.count), Int32(clamping: min(1000, max(0, deadline - now))))
            if fds[0].revents != 0 { return false }
            for (i, (key, link)) in open.enumerated() {
                do {
                    if fds[i + 1].revents != 0 {
                        switch try read(link) {
                        case .fine: break
                        case .moved: again = true
                        case .redirected:
                            // Its channels go again, wherever the map says.
                            links[key] = nil
                            again = true
                        }
                    } else {
                        let now = Monotonic.milliseconds()
                        if let sent = link.pingSent, now - sent >= heartbeat {
                            throw RedisError.timeout("no answer to PING within \(Watcher.span(heartbeat))")
                        }
                        if link.pingSent == nil, now - link.heardMonotonic >= heartbeat {
                            try link.connection.append(.ping)
                            try link.connection.flush()
                            link.pingSent = now
                        }
                    }
                } catch {
                    links[key] = nil
                    topology = nil
                    again = true
                    let rooms = link.channels.map { String(decoding: $0, as: UTF8.self) }.sorted()
                    let named = rooms.prefix(5).joined(separator: ", ") + (rooms.count > 5 ? " and \(rooms.count - 5) more" : "")
                    queue.notice("--sharded: lost the link to \(link.endpoint) (\(error)); sharded messages to \(named) published since \(Watcher.clock(link.heardWall)) may be missing; subscribing again")
                }
            }
        }
        return again
    }

    private enum Outcome {
        case fine
        /// The server unsubscribed a channel: its slot moved.
        case moved
        /// The server sent a channel elsewhere (`MOVED`, a cluster
        /// failing over).
        case redirected
    }

    /// Reads what a link holds into the queue.
    private func read(_ link: Link) throws -> Outcome {
        var moved = false
        var refused: String?
        let got = try link.connection.receive(timeoutMilliseconds: 0, buffer: buffer, decoder: &link.decoder, into: &link.batch) { reply in
            if let line = reply.errorMessage {
                refused = refused ?? line
                return
            }
            guard let e = reply.elements, e.count >= 2, e[0].bytes == Array("sunsubscribe".utf8),
                  let channel = e[1].bytes else { return }
            link.channels.remove(channel)
            moved = true
        }
        guard case .bytes = got else { return .fine }
        link.heardMonotonic = Monotonic.milliseconds()
        link.heardWall = WallClock.nowMilliseconds()
        link.pingSent = nil
        queue.push(received: &link.batch, at: link.heardWall)
        if let refused {
            let code = refused.prefix { $0 != " " }
            if code == "MOVED" || code == "ASK" || code == "TRYAGAIN" || code == "CLUSTERDOWN" { return .redirected }
            queue.finish(.failed(RoomWardenError.from(.server(refused), doing: "subscribing to shard channels (SSUBSCRIBE; --sharded needs Redis 7)", endpoint: link.endpoint)))
        }
        return moved ? .moved : .fine
    }
}

@available(*, unavailable)
extension ShardedSubscriptions: Sendable {}
