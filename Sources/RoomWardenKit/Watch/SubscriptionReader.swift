#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// The socket side of watch: subscribes, drains, heartbeats, reconnects.
/// Lives on its own thread, talks to the writer only through the queue,
/// and returns once the watch has ended (the queue's end wakes it from
/// any wait).
///
/// A link counts as open only once the server confirmed every
/// subscription on it; after a loss, the span reported as missed runs
/// from the last byte heard on the old link to that confirmation on the
/// new one.
///
/// Which node it subscribes on is `SubscriptionNodes`' call: on a Redis
/// Cluster a lost node is left for another one at once, and behind Redis
/// Sentinel a `+switch-master` moves the link to the new master as a lost
/// link would, so the gap is replayed the same way.
final class SubscriptionReader {
    private let settings: ConnectionSettings
    private let options: WatchOptions
    private let queue: WatchQueue
    private let nodes: SubscriptionNodes
    private let buffer: UnsafeMutableRawBufferPointer

    init(settings: ConnectionSettings, options: WatchOptions, queue: WatchQueue) {
        self.settings = settings
        self.options = options
        self.queue = queue
        nodes = SubscriptionNodes(settings: settings)
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// One link to the server and what was heard on it.
    private final class Link {
        let connection: Connection
        var decoder = PushDecoder()
        var batch = MessageBatch()
        /// When bytes last came: for the heartbeat, and for loss reports.
        var heardMonotonic = Monotonic.milliseconds()
        var heardWall = WallClock.nowMilliseconds()
        /// When the server had confirmed every subscription.
        var confirmedWall: Int64 = 0
        var confirmedMonotonic: Int64 = 0
        var pingSent: Int64?
        /// Why the server refused the handoff marker's channel, if it did.
        var markerRefused: String?
        init(_ connection: Connection) { self.connection = connection }
    }

    /// Why a link could not be opened, or was lost.
    private enum Failure: Error {
        /// Worth trying again: unreachable, closed, silent.
        case transient(RoomWardenError)
        /// Trying again cannot help (a refused password or ACL).
        case permanent(RoomWardenError)
        /// The watch ended meanwhile.
        case ended
        /// The sentinels announced a new master.
        case switched(to: Endpoint)
    }

    /// Runs until the watch ends; a failure that ends it is given to the
    /// queue.
    func run() {
        ThreadName.set("rw-subscription")
        defer { queue.readerRunning(false) }
        var link: Link?
        while link == nil {
            do {
                let first = try open(avoidingCurrent: false)
                queue.markSubscribed(.init(markerRefused: first.markerRefused))
                queue.push(.subscribed(atMonotonic: first.confirmedMonotonic, gap: nil))
                link = first
            } catch {
                switch error {
                case .transient(let e), .permanent(let e): queue.finish(.failed(e))
                case .ended: break
                case .switched:
                    continue  // a failover while subscribing: at the new master
                }
                return
            }
        }
        if options.sharded {
            // Once the server is known to answer: one error line, not two.
            let settings = self.settings, options = self.options, queue = self.queue
            Threads.start(stackSize: 1 << 20) { ShardedSubscriptions(settings: settings, options: options, queue: queue).run() }
        }
        while let current = link {
            do {
                try pump(current)
                return
            } catch {
                let lostSince = current.heardWall
                let lostNode = nodes.current
                switch error {
                case .ended: return
                case .permanent(let e):
                    queue.finish(.failed(e))
                    return
                case .transient(let e):
                    link = nil  // closes the old socket now
                    guard options.reconnect else {
                        queue.finish(.failed(.unreachable("lost the connection to \(nodes.description): \(e.message); not reconnecting (--no-reconnect)")))
                        return
                    }
                    queue.notice("lost the connection to \(nodes.description): \(e.message); nothing heard since \(Watcher.clock(lostSince)); \(nodes.movesAtOnce ? "moving on" : "reconnecting")")
                case .switched(let to):
                    link = nil
                    guard options.reconnect else {
                        queue.finish(.failed(.unreachable("the sentinels announced a failover: the master is now at \(to), not \(nodes.current); not reconnecting (--no-reconnect)")))
                        return
                    }
                    queue.notice("the sentinels announced a failover: the master is now at \(to), no longer \(nodes.description); moving to it (nothing heard since \(Watcher.clock(lostSince)))")
                }
                guard let again = reconnect() else { return }
                let verb = nodes.current == lostNode ? "reconnected to" : "moved to"
                let gap = WatchQueue.Gap(from: lostSince, to: again.confirmedWall,
                                         regained: "\(verb) \(nodes.description) after \(Watcher.seconds(again.confirmedWall - lostSince))")
                queue.push(.subscribed(atMonotonic: again.confirmedMonotonic, gap: gap))
                link = again
            }
        }
    }

    /// Tries again until a link is open, at once where there is another
    /// node to go to (a cluster's other nodes, the sentinels' master), then
    /// with capped exponential backoff and jitter; nil once the watch
    /// ended (or a refused password or ACL ended it).
    private func reconnect() -> Link? {
        var attempt = 0
        while true {
            if attempt > 0 || !nodes.movesAtOnce {
                let base = min(5000, 100 * pow(2, Double(min(attempt, 16))))
                if backOff(Int64(base * Double.random(in: 0.5...1.0))) { return nil }
            }
            do {
                return try open(avoidingCurrent: attempt == 0)
            } catch {
                switch error {
                case .ended: return nil
                case .permanent(let e):
                    queue.finish(.failed(e))
                    return nil
                case .switched:
                    continue  // the sentinels name the new master now: at once
                case .transient(let e):
                    attempt += 1
                    if attempt % 20 == 0 { queue.notice("still trying to reach \(nodes.description): \(e.message)") }
                }
            }
        }
    }

    /// Sleeps `milliseconds` between tries, cut short when the sentinels
    /// announce a new master (after a crash, the next try goes to it at
    /// once); true once the watch ended.
    private func backOff(_ milliseconds: Int64) -> Bool {
        let deadline = Monotonic.milliseconds() + milliseconds
        while let sentinel = nodes.listenerDescriptor {
            let left = deadline - Monotonic.milliseconds()
            if left <= 0 { return queue.ended != nil }
            var fds = [pollfd(fd: queue.wakeDescriptor, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: sentinel, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, Int32(clamping: min(1000, left)))
            if fds[0].revents != 0 || queue.ended != nil { return true }
            if fds[1].revents != 0, nodes.heardSwitch(notice: { queue.notice($0) }) != nil { return false }
        }
        return queue.sleep(milliseconds: max(0, deadline - Monotonic.milliseconds()))
    }

    /// Connects, subscribes and waits until the server confirmed every
    /// subscription, for up to `--connect-timeout`. Messages that come
    /// meanwhile are queued.
    private func open(avoidingCurrent: Bool) throws(Failure) -> Link {
        let connection: Connection
        do {
            connection = try nodes.connect(avoidingCurrent: avoidingCurrent)
        } catch {
            throw error.exitCode == 77 || error.exitCode == 64 ? .permanent(error) : .transient(error)
        }
        let link = Link(connection)
        queue.push(.linkOpened)
        // The commands in the order the server answers them; each
        // confirms its channels one by one, or fails as a whole.
        var unanswered: [(count: Int, isMarker: Bool)] = []
        do {
            if !options.patterns.isEmpty {
                try connection.append(.psubscribe(patterns: options.patterns.map { Array($0.utf8) }))
                unanswered.append((options.patterns.count, false))
            }
            if !options.channels.isEmpty {
                try connection.append(.subscribe(channels: options.channels.map { Array($0.utf8) }))
                unanswered.append((options.channels.count, false))
            }
            if let marker = options.markerChannel {
                try connection.append(.subscribe(channels: [Array(marker.utf8)]))
                unanswered.append((1, true))
            }
            try connection.flush()
        } catch {
            throw .transient(RoomWardenError.from(error, doing: "subscribing", endpoint: nodes.current))
        }
        let deadline = Monotonic.milliseconds() + Watcher.milliseconds(settings.connectTimeout)
        while !unanswered.isEmpty {
            var refused: String?
            let got = try read(link) { reply in
                guard !unanswered.isEmpty else { return }
                if let line = reply.errorMessage {
                    if unanswered[0].isMarker { link.markerRefused = line } else if refused == nil { refused = line }
                    unanswered.removeFirst()
                } else if let kind = reply.elements?.first?.bytes, kind == Array("psubscribe".utf8) || kind == Array("subscribe".utf8) {
                    unanswered[0].count -= 1
                    if unanswered[0].count == 0 { unanswered.removeFirst() }
                }
            }
            if let refused {
                throw .permanent(RoomWardenError.from(.server(refused), doing: "subscribing", endpoint: nodes.current))
            }
            if got { continue }
            let left = deadline - Monotonic.milliseconds()
            if left <= 0 {
                throw .transient(.unreachable("\(nodes.description.prefix(1).uppercased())\(nodes.description.dropFirst()) accepted the connection but did not confirm the subscriptions within \(Watcher.span(Watcher.milliseconds(settings.connectTimeout))) (--connect-timeout): is the server stopped or overloaded?"))
            }
            try waitForBytes(link, left)
        }
        link.confirmedWall = WallClock.nowMilliseconds()
        link.confirmedMonotonic = Monotonic.milliseconds()
        if let line = nodes.listen() { queue.notice(line) }
        if let line = nodes.notice {
            queue.notice(line)
            nodes.notice = nil
        }
        return link
    }

    /// Drains the link until the watch ends (returns) or the link is lost
    /// (throws): a PING after `--heartbeat` of silence, and a loss when it
    /// stays unanswered as long again.
    private func pump(_ link: Link) throws(Failure) {
        let heartbeat = max(options.heartbeatMilliseconds, 100)
        while true {
            if queue.ended != nil { return }
            var refused: String?
            let got = try read(link) { reply in
                if let line = reply.errorMessage, refused == nil { refused = line }
            }
            if let refused {
                throw .permanent(RoomWardenError.from(.server(refused), doing: "watching", endpoint: nodes.current))
            }
            if got { continue }
            let now = Monotonic.milliseconds()
            if let sent = link.pingSent, now - sent >= heartbeat {
                throw .transient(.unreachable("no answer to PING within \(Watcher.span(heartbeat))"))
            }
            if link.pingSent == nil, now - link.heardMonotonic >= heartbeat {
                do {
                    try link.connection.append(.ping)
                    try link.connection.flush()
                } catch {
                    throw .transient(.unreachable("\(error)"))
                }
                link.pingSent = now
            }
            if let line = nodes.listen() { queue.notice(line) }
            if let to = nodes.keepListenerAlive(heartbeatMilliseconds: heartbeat, notice: { queue.notice($0) }) {
                throw .switched(to: to)
            }
            let next = (link.pingSent ?? link.heardMonotonic) + heartbeat
            do { try waitForBytes(link, next - now) } catch {
                if case .ended = error { return }
                throw error
            }
        }
    }

    /// Reads what the link holds, without waiting; queues its messages
    /// and hands every other reply to `replies`. False if nothing came.
    private func read(_ link: Link, replies: (Reply) -> Void) throws(Failure) -> Bool {
        let got: Connection.Received
        do {
            got = try link.connection.receive(timeoutMilliseconds: 0, buffer: buffer, decoder: &link.decoder, into: &link.batch, replies: replies)
        } catch {
            throw .transient(.unreachable("\(error)"))
        }
        guard case .bytes = got else { return false }
        link.heardMonotonic = Monotonic.milliseconds()
        link.heardWall = WallClock.nowMilliseconds()
        link.pingSent = nil
        queue.push(received: &link.batch, at: link.heardWall)
        return true
    }

    /// Waits until the link has bytes or `milliseconds` pass (at most a
    /// second, so a missing wake-up pipe costs latency, not a hang);
    /// throws `.ended` once the watch has ended, `.switched` when the
    /// sentinels announce a new master.
    private func waitForBytes(_ link: Link, _ milliseconds: Int64) throws(Failure) {
        var fds = [pollfd(fd: link.connection.fileDescriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: queue.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
        if let sentinel = nodes.listenerDescriptor { fds.append(pollfd(fd: sentinel, events: Int16(POLLIN), revents: 0)) }
        _ = poll(&fds, nfds_t(fds.count), Int32(clamping: min(1000, max(0, milliseconds))))
        if fds[1].revents != 0 || queue.ended != nil { throw .ended }
        if fds.count > 2, fds[2].revents != 0, let to = nodes.heardSwitch(notice: { queue.notice($0) }) {
            throw .switched(to: to)
        }
    }
}

extension WatchQueue {
    /// Queues the messages of one read (if any), stamped with when it came
    /// (Unix ms), and leaves `batch` empty for the next read.
    func push(received batch: inout MessageBatch, at wall: Int64) {
        guard batch.count > 0 else { return }
        batch.receivedAt = wall
        push(batch)
        batch = MessageBatch()
    }
}
