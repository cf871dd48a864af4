#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// The socket side of watch: subscribes, drains, heartbeats, reconnects.
/// Lives on its own thread and talks to the writer only through the queue.
final class SubscriptionReader {
    let settings: ConnectionSettings
    let options: WatchOptions
    let queue: WatchQueue

    init(settings: ConnectionSettings, options: WatchOptions, queue: WatchQueue) {
        self.settings = settings
        self.options = options
        self.queue = queue
    }

    func run() {
        var connection: Connection
        do {
            connection = try subscribe()
        } catch {
            queue.finish(.failed(error))
            return
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var decoder = PushDecoder()
        var batch = MessageBatch()
        var lastHeard = Monotonic.milliseconds()
        var pingSent: Int64? = nil
        let heartbeat = max(options.heartbeatMilliseconds, 100)
        var confirmed = 0
        let expected = options.patterns.count + options.channels.count
        while true {
            do {
                var refused: String?
                let waitFor = Int32(clamping: min(heartbeat, 1000))
                let got = try connection.receive(timeoutMilliseconds: waitFor, buffer: buffer, decoder: &decoder, into: &batch) { reply in
                    if let line = reply.errorMessage, refused == nil { refused = line }
                    if let kind = reply.elements?.first?.bytes, kind == Array("psubscribe".utf8) || kind == Array("subscribe".utf8) {
                        confirmed += 1
                    }
                }
                if confirmed >= expected { queue.markSubscribed() }
                let now = Monotonic.milliseconds()
                if case .bytes = got {
                    lastHeard = now
                    pingSent = nil
                    if batch.count > 0 {
                        batch.receivedAt = WallClock.nowMilliseconds()
                        queue.push(batch)
                        batch = MessageBatch()
                    }
                }
                if let refused {
                    queue.finish(.failed(RoomWardenError.from(.server(refused), doing: "subscribing", endpoint: settings.endpoint)))
                    return
                }
                if let sent = pingSent, now - sent >= heartbeat {
                    throw RedisError.timeout("no answer to PING within \(Watcher.span(heartbeat))")
                }
                if pingSent == nil, now - lastHeard >= heartbeat {
                    try connection.append([Array("PING".utf8)])
                    try connection.flush()
                    pingSent = now
                }
            } catch {
                guard options.reconnect else {
                    queue.finish(.failed(.unreachable("lost the connection to Redis at \(settings.endpoint): \(error); not reconnecting (--no-reconnect)")))
                    return
                }
                let lostAt = WallClock.nowMilliseconds()
                let lostMono = Monotonic.milliseconds()
                queue.notice("lost the connection to Redis at \(settings.endpoint): \(error); reconnecting")
                decoder.reset()
                batch.removeAll()
                guard let again = reconnect() else { return }
                connection = again
                let back = WallClock.nowMilliseconds()
                let took = Double(Monotonic.milliseconds() - lostMono) / 1000
                queue.notice("reconnected to Redis at \(settings.endpoint) after \((took * 10).rounded() / 10)s; messages published between \(Watcher.clock(lostAt)) and \(Watcher.clock(back)) were not received")
                lastHeard = Monotonic.milliseconds()
                pingSent = nil
            }
        }
    }

    /// Tries again with capped exponential backoff and jitter until it
    /// works; nil (with the queue finished) if it never can: a password
    /// or ACL that the server now refuses.
    private func reconnect() -> Connection? {
        var attempt = 0
        while true {
            let cap = 5000.0
            let base = min(cap, 100 * pow(2, Double(attempt)))
            let delay = base * Double.random(in: 0.5...1.0)
            usleep(UInt32(delay * 1000))
            do {
                return try subscribe()
            } catch {
                if error.exitCode == 77 || error.exitCode == 64 {
                    queue.finish(.failed(error))
                    return nil
                }
                attempt += 1
                if attempt % 20 == 0 {
                    queue.notice("still trying to reach Redis at \(settings.endpoint): \(error.message)")
                }
            }
        }
    }

    private func subscribe() throws(RoomWardenError) -> Connection {
        let c = try settings.connect()
        do {
            if !options.patterns.isEmpty {
                try c.append([Array("PSUBSCRIBE".utf8)] + options.patterns.map { Array($0.utf8) })
            }
            if !options.channels.isEmpty {
                try c.append([Array("SUBSCRIBE".utf8)] + options.channels.map { Array($0.utf8) })
            }
            try c.flush()
        } catch {
            throw RoomWardenError.from(error, doing: "subscribing", endpoint: settings.endpoint)
        }
        return c
    }
}
