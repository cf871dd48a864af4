import Hiredis

/// Hears the sentinels announce a failover: a connection to one reachable
/// sentinel, subscribed to `+switch-master`, that reports the new address
/// of the master it watches.
///
/// For watch, which moves to the new master at once instead of waiting
/// for its heartbeat to notice. Its connection is its own: run it on the
/// thread that calls `next`. When the sentinel goes away it moves to
/// another one and asks for the master there, so a switch announced while
/// it was moving is not missed.
public final class SentinelSwitchListener {
    private let resolver: SentinelResolver
    private var connection: Connection
    /// The sentinel listened to now.
    public private(set) var sentinel: Endpoint
    /// The master as last known: the one `next` compares against.
    public private(set) var master: Endpoint
    private let buffer: UnsafeMutableRawBufferPointer
    /// When the sentinel last sent anything (monotonic ms).
    private var heardAt = Monotonic.milliseconds()
    /// When a PING went unanswered so far.
    private var pingSentAt: Int64?

    /// Subscribes on the first sentinel that answers. `master` is the
    /// master in use now (as `SentinelTopology.master` says). `resolver`
    /// may be the one the master's links are found with: a sentinel that
    /// falls silent here is then asked last there too.
    public init(resolver: SentinelResolver, master: Endpoint) throws(RoomWardenError) {
        self.resolver = resolver
        self.master = master
        buffer = .allocate(byteCount: 64 * 1024, alignment: 8)
        do {
            (connection, sentinel) = try SentinelSwitchListener.subscribe(resolver.settings)
        } catch {
            buffer.deallocate()
            throw error
        }
    }

    deinit { buffer.deallocate() }

    /// The master is now `endpoint` (found by asking the sentinels after a
    /// lost link): announcements are compared with it from here on.
    public func follow(_ endpoint: Endpoint) {
        master = endpoint
    }

    /// The socket, for poll(2) beside other sockets.
    public var fileDescriptor: Int32 { connection.fileDescriptor }

    /// Waits up to `timeoutMilliseconds` for the sentinels to announce that
    /// the master moved: its new address, or nil when nothing came. A lost
    /// sentinel is replaced by another (and the master asked for there);
    /// 69 naming each sentinel when none can be reached, 77 when they
    /// refuse the credentials.
    public func next(timeoutMilliseconds: Int32) throws(RoomWardenError) -> Endpoint? {
        var switched: Endpoint?
        let name = resolver.settings.masterName
        do {
            let got = try connection.receive(timeoutMilliseconds: timeoutMilliseconds, buffer: buffer) { event in
                guard case .message(let m) = event,
                      let to = SentinelSwitchListener.parseSwitch(m.payload, masterName: name) else { return }
                switched = to
            }
            if case .bytes = got {
                heardAt = Monotonic.milliseconds()
                pingSentAt = nil
            }
        } catch {
            switched = try moveToAnotherSentinel()
        }
        return changed(to: switched)
    }

    /// Checks that the sentinel still answers, as watch checks its link:
    /// a PING after `heartbeatMilliseconds` of silence, and when that stays
    /// unanswered as long again (a sentinel stopped, or a link that died
    /// without a word), listening moves to another sentinel. The new master
    /// if asking there found that it moved meanwhile.
    public func keepAlive(heartbeatMilliseconds: Int64) throws(RoomWardenError) -> Endpoint? {
        // What came meanwhile first: a pong read late is no silence.
        if let switched = try next(timeoutMilliseconds: 0) { return switched }
        let now = Monotonic.milliseconds()
        if let sent = pingSentAt {
            guard now - sent >= heartbeatMilliseconds else { return nil }
            return changed(to: try moveToAnotherSentinel())
        }
        guard now - heardAt >= heartbeatMilliseconds else { return nil }
        do {
            try connection.append(.ping)
            try connection.flush()
        } catch {
            return changed(to: try moveToAnotherSentinel())
        }
        pingSentAt = now
        return nil
    }

    /// The sentinel went away or fell silent: listen on another (it is
    /// asked last from now on), and ask there in case the master moved
    /// meanwhile.
    private func moveToAnotherSentinel() throws(RoomWardenError) -> Endpoint {
        resolver.askLast(sentinel)
        (connection, sentinel) = try SentinelSwitchListener.subscribe(resolver.settings)
        heardAt = Monotonic.milliseconds()
        pingSentAt = nil
        return try resolver.askMaster()
    }

    /// `endpoint` if it is another master than the one known (then known).
    private func changed(to endpoint: Endpoint?) -> Endpoint? {
        guard let endpoint, endpoint != master else { return nil }
        master = endpoint
        return endpoint
    }

    /// The new master in a `+switch-master` payload
    /// (`NAME OLD_IP OLD_PORT NEW_IP NEW_PORT`), if it is about `masterName`.
    public static func parseSwitch(_ payload: [UInt8], masterName: String) -> Endpoint? {
        let words = String(decoding: payload, as: UTF8.self).split(separator: " ")
        guard words.count == 5, words[0] == masterName, let port = Int(words[4]), (1...65535).contains(port) else { return nil }
        return .tcp(host: String(words[3]), port: port)
    }

    private static func subscribe(_ settings: SentinelSettings) throws(RoomWardenError) -> (Connection, Endpoint) {
        var tried: [String] = []
        var denied: RoomWardenError?
        for sentinel in settings.sentinels {
            do {
                let conn = try settings.connect(to: sentinel)
                let reply = try conn.command("SUBSCRIBE", "+switch-master")
                if let line = reply.errorMessage {
                    tried.append("\(sentinel) (\(line))")
                    if line.hasPrefix("NOPERM") || line.hasPrefix("NOAUTH") {
                        denied = .denied("the sentinel at \(sentinel) refused SUBSCRIBE +switch-master: \(line); check sentinel_user and sentinel_password")
                    }
                    continue
                }
                try conn.setTimeout(nil)
                return (conn, sentinel)
            } catch let error as RoomWardenError {
                if error.exitCode == 77 { denied = error }
                tried.append("\(sentinel)")
            } catch {
                tried.append("\(sentinel) (\(error))")
            }
        }
        if let denied { throw denied }
        throw .unreachable(
            "no Redis Sentinel could be reached to hear failovers of '\(settings.masterName)': tried \(tried.joined(separator: ", ")); check that the sentinels are up")
    }
}

@available(*, unavailable)
extension SentinelSwitchListener: Sendable {}
