import Foundation
import Hiredis

/// A TCP proxy inside the test process that breaks links on command: put it
/// between a client and a Redis server and the test decides when the
/// network goes silent (`freeze()`), comes back (`thaw()`) or fails
/// (`cut()`, `cutEvery(bytes:)`).
///
/// It listens on a free 127.0.0.1 port and forwards each accepted client to
/// the target in both directions. One background thread owns every socket
/// and waits in poll(2) (with a self-pipe for commands), so an idle proxy
/// uses no CPU. Every command returns once the thread has applied it:
/// after `freeze()` not one more byte moves, after `cut()` every link that
/// existed is closed. `stop()` (also run by deinit) closes the listener and
/// every link and waits for the thread to end.
public final class FaultProxy {
    /// What the proxy has done so far.
    public struct Counters: Equatable, CustomStringConvertible {
        /// Client connections accepted.
        public var linksAccepted = 0
        /// Links open now (client and server side both open).
        public var openLinks = 0
        /// Links closed by `cut()` or `cutEvery(bytes:)`.
        public var linksCut = 0
        /// Bytes forwarded client -> server, over every link.
        public var bytesToServer = 0
        /// Bytes forwarded server -> client, over every link.
        public var bytesToClient = 0

        /// Counters with these values (tests compare with them).
        public init(linksAccepted: Int = 0, openLinks: Int = 0, linksCut: Int = 0, bytesToServer: Int = 0, bytesToClient: Int = 0) {
            self.linksAccepted = linksAccepted
            self.openLinks = openLinks
            self.linksCut = linksCut
            self.bytesToServer = bytesToServer
            self.bytesToClient = bytesToClient
        }

        public var description: String {
            "accepted \(linksAccepted), open \(openLinks), cut \(linksCut), "
                + "to server \(bytesToServer) B, to client \(bytesToClient) B"
        }
    }

    /// The loopback port clients connect to.
    public let port: Int
    private let loop: ProxyLoop

    /// Starts a proxy forwarding to `targetHost`:`targetPort` (IPv4).
    public init(targetHost: String = "127.0.0.1", targetPort: Int) throws {
        loop = try ProxyLoop(target: try ProxyLoop.address(host: targetHost, port: targetPort))
        port = loop.port
    }

    /// Starts a proxy forwarding to `server`'s TCP port.
    public convenience init(to server: RedisServer) throws {
        try self.init(targetPort: server.port)
    }

    deinit { loop.stop() }

    /// Where clients connect: `127.0.0.1:port`.
    public var endpoint: Endpoint { .tcp(host: "127.0.0.1", port: port) }

    /// A fresh connection through the proxy; with a `password`, AUTHs first;
    /// with a `timeout`, no read or write waits longer.
    public func connect(password: String? = nil, timeout: Duration? = nil) throws -> Connection {
        let c = try Connection(endpoint: endpoint, connectTimeout: .seconds(2))
        if let timeout { try c.setTimeout(timeout) }
        if let password { try c.command("AUTH", password).check() }
        return c
    }

    /// Which way bytes flow through a link.
    public enum Direction {
        /// Client -> server: commands.
        case toServer
        /// Server -> client: replies and pushed messages.
        case toClient
        /// Both ways.
        case both
    }

    /// Stops forwarding (both ways by default); every socket stays open, so
    /// clients and server see silence, not an error. Links accepted while
    /// frozen are connected to the target but stay silent too.
    ///
    /// `freeze(.toClient)` lets commands through but holds every reply back:
    /// the server does the work and the client never hears of it (then
    /// `cut()` for a lost acknowledgement).
    public func freeze(_ direction: Direction = .both) {
        loop.update {
            if direction != .toClient { $0.frozenUp = true }
            if direction != .toServer { $0.frozenDown = true }
        }
    }

    /// Forwards again (both ways by default), starting with whatever was
    /// held back.
    public func thaw(_ direction: Direction = .both) {
        loop.update {
            if direction != .toClient { $0.frozenUp = false }
            if direction != .toServer { $0.frozenDown = false }
        }
    }

    /// True while either direction is frozen.
    public var isFrozen: Bool { loop.read { $0.frozenUp || $0.frozenDown } }

    /// Closes every current link at once, both sides; the client sees the
    /// connection end (with `reset`, a TCP reset instead of a clean close).
    /// New connections are still accepted.
    public func cut(reset: Bool = false) {
        loop.update { $0.cutRequests += 1; $0.cutReset = reset }
    }

    /// From now on, cuts each link (current and future) once it has
    /// forwarded exactly `bytes` client -> server (counted from this call
    /// for the current links); nil turns it off. A cut link is closed on
    /// both sides; the client can reconnect and be cut again.
    public func cutEvery(bytes: Int?) {
        precondition(bytes.map { $0 > 0 } ?? true, "cutEvery needs a positive byte count")
        loop.update { $0.cutBytes = bytes; $0.cutRuleGeneration += 1 }
    }

    /// Points new connections at `host`:`port`; current links keep their
    /// server. "New" means accepted by the proxy after this call: a client
    /// whose connect returned just before may not have been accepted yet
    /// (send it a command first to be sure).
    public func setTarget(host: String = "127.0.0.1", port: Int) throws {
        let address = try ProxyLoop.address(host: host, port: port)
        loop.update { $0.target = address }
    }

    /// What the proxy has done so far. Byte counts are updated right after
    /// each write, so a client may see a reply a moment before it is
    /// counted: wait for counts with `wait(until:)`.
    public var counters: Counters { loop.read { $0.counters } }

    /// Waits until `condition` holds for the counters, or `timeout` seconds
    /// pass; returns whether it held.
    @discardableResult
    public func wait(timeout: TimeInterval = 5, until condition: (Counters) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(counters) { return true }
            usleep(5_000)
        }
        return condition(counters)
    }

    /// Closes the listener and every link and waits for the proxy's thread
    /// to end. Safe to call more than once.
    public func stop() { loop.stop() }
}

/// The proxy's thread and every socket it owns. Commands from other threads
/// change `Control` under the condition's lock and wake the thread through a
/// pipe; the thread applies them between two polls and reports back.
final class ProxyLoop {
    /// What test threads ask for, and what the thread reports back.
    struct Control {
        var frozenUp = false
        var frozenDown = false
        var target: sockaddr_in
        var cutBytes: Int?
        var cutRuleGeneration = 0
        var cutRequests = 0
        var cutReset = false
        var stopRequested = false
        /// Bumped by every command; `applied` catches up once the thread has
        /// acted on it.
        var requested = 0
        var applied = 0
        var exited = false
        var counters = FaultProxy.Counters()
    }

    /// One direction of a link: bytes read from `source`, not yet all
    /// written to the other side.
    struct Flow {
        var buffer: [UInt8] = []
        var sent = 0
        /// The source sent EOF.
        var sourceEnded = false
        /// The write side of the destination has been shut down.
        var shut = false
        var pending: Bool { sent < buffer.count }
    }

    /// One client and its connection to the target.
    final class Link {
        let client: Int32
        let server: Int32
        var connecting: Bool
        var up = Flow()      // client -> server
        var down = Flow()    // server -> client
        /// Bytes written to the server since the cut rule last changed.
        var forwardedUp = 0
        var closed = false
        init(client: Int32, server: Int32, connecting: Bool) {
            self.client = client
            self.server = server
            self.connecting = connecting
        }
    }

    let port: Int
    private let listener: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let condition = NSCondition()
    private var control: Control
    private var stopped = false

    // Owned by the loop thread only.
    private var links: [Link] = []
    private var appliedCuts = 0
    private var appliedRuleGeneration = 0
    private var acceptPausedUntil: Date?

    init(target: sockaddr_in) throws {
        control = Control(target: target)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("proxy socket: \(ProxyLoop.errorText())") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0 && listen(fd, 128) == 0
            }
        }
        guard bound else {
            let reason = ProxyLoop.errorText()
            close(fd)
            throw FixtureError("proxy listen: \(reason)")
        }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            let reason = ProxyLoop.errorText()
            close(fd)
            throw FixtureError("proxy pipe: \(reason)")
        }
        ProxyLoop.makeNonBlocking(pipeFDs[0])
        ProxyLoop.makeNonBlocking(pipeFDs[1])
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        wakeRead = pipeFDs[0]
        wakeWrite = pipeFDs[1]
        let thread = Thread { [self] in
            ProxyLoop.nameCurrentThread("FaultProxy")
            run()
        }
        thread.start()
    }

    /// The IPv4 address of `host`:`port`.
    static func address(host: String, port: Int) throws -> sockaddr_in {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &found)
        defer { if let found { freeaddrinfo(found) } }
        guard status == 0, let first = found, let sa = first.pointee.ai_addr else {
            throw FixtureError("proxy target \(host):\(port) does not resolve")
        }
        return UnsafeRawPointer(sa).assumingMemoryBound(to: sockaddr_in.self).pointee
    }

    // MARK: Commands (any thread)

    /// Changes the control state and waits (at most 5 s) until the loop
    /// thread has acted on it.
    func update(_ change: (inout Control) -> Void) {
        condition.lock()
        change(&control)
        control.requested += 1
        let wanted = control.requested
        condition.unlock()
        wake()
        condition.lock()
        let deadline = Date().addingTimeInterval(5)
        while control.applied < wanted && !control.exited {
            if !condition.wait(until: deadline) { break }
        }
        condition.unlock()
    }

    /// Reads the control state under its lock.
    func read<T>(_ body: (Control) -> T) -> T {
        condition.lock(); defer { condition.unlock() }
        return body(control)
    }

    /// Ends the thread, which closes every socket, and waits for it.
    func stop() {
        condition.lock()
        if stopped { condition.unlock(); return }
        stopped = true
        control.stopRequested = true
        condition.unlock()
        wake()
        condition.lock()
        let deadline = Date().addingTimeInterval(5)
        while !control.exited {
            if !condition.wait(until: deadline) { break }
        }
        let exited = control.exited
        condition.unlock()
        // The pipe outlives the thread: never close an fd it may still poll.
        if exited {
            close(wakeRead)
            close(wakeWrite)
        }
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = retryingEINTR { Glibc.write(wakeWrite, &byte, 1) }  // a full pipe is already a wake-up
    }

    // MARK: The loop thread

    private func run() {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { scratch.deallocate() }
        while true {
            condition.lock()
            let snapshot = control
            condition.unlock()
            if snapshot.stopRequested { break }
            if snapshot.cutRequests != appliedCuts {
                appliedCuts = snapshot.cutRequests
                for link in links where !link.closed { cutLink(link, reset: snapshot.cutReset) }
                links.removeAll { $0.closed }
            }
            if snapshot.cutRuleGeneration != appliedRuleGeneration {
                appliedRuleGeneration = snapshot.cutRuleGeneration
                for link in links { link.forwardedUp = 0 }
            }
            condition.lock()
            control.applied = snapshot.requested
            condition.broadcast()
            condition.unlock()

            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let acceptPaused = acceptPausedUntil.map { Date() < $0 } ?? false
            fds.append(pollfd(fd: acceptPaused ? -1 : listener, events: Int16(POLLIN), revents: 0))
            for link in links {
                let (clientEvents, serverEvents) = events(for: link, snapshot)
                fds.append(pollfd(fd: clientEvents == 0 ? -1 : link.client, events: clientEvents, revents: 0))
                fds.append(pollfd(fd: serverEvents == 0 ? -1 : link.server, events: serverEvents, revents: 0))
            }
            let ready = poll(&fds, nfds_t(fds.count), acceptPaused ? 100 : -1)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if fds[0].revents != 0 { drainWakePipe(scratch) }
            if fds[1].revents != 0 { acceptClients(target: snapshot.target) }
            // Links accepted just now were not polled: only the first ones.
            for (i, link) in links.prefix((fds.count - 2) / 2).enumerated() {
                let c = fds[2 + 2 * i], s = fds[3 + 2 * i]
                if c.revents == 0 && s.revents == 0 { continue }
                service(link, client: c, server: s, snapshot, scratch: scratch)
            }
            links.removeAll { $0.closed }
        }
        for link in links where !link.closed { closeLink(link) }
        links.removeAll()
        close(listener)
        condition.lock()
        control.counters.openLinks = 0
        control.exited = true
        condition.broadcast()
        condition.unlock()
    }

    /// What to poll each side of a link for; 0 means "not at all" (a
    /// frozen direction is neither read nor written).
    private func events(for link: Link, _ rules: Control) -> (Int16, Int16) {
        if link.connecting { return (0, Int16(POLLOUT)) }
        var client: Int16 = 0, server: Int16 = 0
        if !rules.frozenUp {
            let budgetLeft = rules.cutBytes.map { link.forwardedUp < $0 } ?? true
            if !link.up.sourceEnded && !link.up.pending && budgetLeft { client |= Int16(POLLIN) }
            if link.up.pending { server |= Int16(POLLOUT) }
        }
        if !rules.frozenDown {
            if !link.down.sourceEnded && !link.down.pending { server |= Int16(POLLIN) }
            if link.down.pending { client |= Int16(POLLOUT) }
        }
        return (client, server)
    }

    private func drainWakePipe(_ scratch: UnsafeMutableRawBufferPointer) {
        while retryingEINTR({ Glibc.read(wakeRead, scratch.baseAddress, scratch.count) }) > 0 {}
    }

    /// Accepts every waiting client (at most 64 per round) and starts its
    /// connection to the target.
    private func acceptClients(target: sockaddr_in) {
        for _ in 0..<64 {
            let client = retryingEINTR { accept(listener, nil, nil) }
            if client < 0 {
                switch errno {
                case EAGAIN, EWOULDBLOCK, ECONNABORTED: break
                default: acceptPausedUntil = Date().addingTimeInterval(0.1)  // EMFILE and the like: back off
                }
                return
            }
            ProxyLoop.makeNonBlocking(client)
            condition.lock(); control.counters.linksAccepted += 1; condition.unlock()
            setNoDelay(client)
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard server >= 0 else { reset(client); continue }
            setNoDelay(server)
            var address = target
            let status = withUnsafePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if status != 0 && errno != EINPROGRESS {
                // The target is down: the client sees its connection reset.
                close(server)
                reset(client)
                continue
            }
            links.append(Link(client: client, server: server, connecting: status != 0))
            condition.lock(); control.counters.openLinks += 1; condition.unlock()
        }
    }

    /// Moves what the poll said can move on one link.
    private func service(_ link: Link, client: pollfd, server: pollfd, _ rules: Control, scratch: UnsafeMutableRawBufferPointer) {
        if link.connecting {
            guard server.revents != 0 else { return }
            var error: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(link.server, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0 {
                reset(link.client)
                close(link.server)
                link.closed = true
                condition.lock(); control.counters.openLinks -= 1; condition.unlock()
                return
            }
            link.connecting = false
            return
        }
        var alive = true
        if client.revents != 0 && client.events & Int16(POLLIN) != 0 {
            let budget = rules.cutBytes.map { max(0, $0 - link.forwardedUp) } ?? scratch.count
            alive = fill(&link.up, from: link.client, limit: min(budget, scratch.count), scratch: scratch)
        }
        if alive && server.revents != 0 && server.events & Int16(POLLIN) != 0 {
            alive = fill(&link.down, from: link.server, limit: scratch.count, scratch: scratch)
        }
        if alive && !rules.frozenUp { alive = flush(&link.up, to: link.server, link: link, upward: true) }
        if alive && !rules.frozenDown { alive = flush(&link.down, to: link.client, link: link, upward: false) }
        guard alive else { closeLink(link); return }
        if let cutBytes = rules.cutBytes, link.forwardedUp >= cutBytes, !link.up.pending {
            cutLink(link, reset: false)
            return
        }
        if link.up.shut && link.down.shut { closeLink(link) }
    }

    /// One read from `fd` into an empty flow; false when the link failed.
    private func fill(_ flow: inout Flow, from fd: Int32, limit: Int, scratch: UnsafeMutableRawBufferPointer) -> Bool {
        guard limit > 0 else { return true }
        let n = retryingEINTR { recv(fd, scratch.baseAddress, limit, 0) }
        if n > 0 {
            flow.buffer = Array(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            flow.sent = 0
            return true
        }
        if n == 0 { flow.sourceEnded = true; return true }
        return errno == EAGAIN || errno == EWOULDBLOCK
    }

    /// Writes what the flow holds (as much as the socket takes); passes an
    /// end of stream on once everything before it is written. False when
    /// the link failed.
    private func flush(_ flow: inout Flow, to fd: Int32, link: Link, upward: Bool) -> Bool {
        while flow.pending {
            let offset = flow.sent
            let n = flow.buffer.withUnsafeBytes { bytes -> Int in
                guard let base = bytes.baseAddress else { return 0 }
                return retryingEINTR { send(fd, base + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { return true }
                return false
            }
            flow.sent += n
            if upward { link.forwardedUp += n }
            condition.lock()
            if upward { control.counters.bytesToServer += n } else { control.counters.bytesToClient += n }
            condition.unlock()
        }
        if !flow.buffer.isEmpty { flow.buffer = []; flow.sent = 0 }
        if flow.sourceEnded && !flow.shut {
            shutdown(fd, Int32(SHUT_WR))
            flow.shut = true
        }
        return true
    }

    private func cutLink(_ link: Link, reset doReset: Bool) {
        guard !link.closed else { return }
        if doReset { reset(link.client); reset(link.server) } else { close(link.client); close(link.server) }
        link.closed = true
        condition.lock()
        control.counters.openLinks -= 1
        control.counters.linksCut += 1
        condition.unlock()
    }

    private func closeLink(_ link: Link) {
        guard !link.closed else { return }
        close(link.client)
        close(link.server)
        link.closed = true
        condition.lock(); control.counters.openLinks -= 1; condition.unlock()
    }

    /// Closes with a TCP reset (SO_LINGER 0) instead of a clean FIN.
    private func reset(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    private func setNoDelay(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Names the calling thread as ps(1) and /proc show it. (Foundation's
    /// `Thread.name`, set from inside a new thread, can race with `start()`
    /// and be lost.)
    static func nameCurrentThread(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = name.withCString { text in retryingEINTR { Glibc.write(fd, text, strlen(text)) } }
        close(fd)
    }

    /// O_NONBLOCK and FD_CLOEXEC (so no child process the tests start
    /// keeps a link open after the proxy closed it).
    static func makeNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
    }

    static func errorText() -> String { String(cString: strerror(errno)) }
}

/// Runs a system call again while it fails with EINTR.
func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result < 0 && errno == EINTR { continue }
        return result
    }
}
