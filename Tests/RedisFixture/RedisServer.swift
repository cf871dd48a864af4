import Foundation
import Hiredis

/// A scratch redis-server for one test suite: its own temp dir, a unix
/// socket and a free loopback port, no persistence. Stopped with
/// `SHUTDOWN NOSAVE`, SIGKILL as a last resort; the dir is removed.
///
/// Also a Redis Cluster node or a sentinel (`Mode`), and a process a test
/// can freeze (`pause()`), thaw (`resume()`) or crash (`kill9()`).
public final class RedisServer {
    /// What the process is: a plain server, a cluster node or a sentinel.
    public enum Mode {
        /// A plain redis-server.
        case standalone
        /// A Redis Cluster node: `cluster-enabled yes`, its `nodes.conf` in
        /// its own dir (kept across `kill9()`/`start()`), its cluster bus on a
        /// second free port, `cluster-node-timeout` as given. Replicas
        /// sync at once (`repl-diskless-sync-delay 0`), may always fail over
        /// (`cluster-replica-validity-factor 0`) and never migrate to another
        /// primary on their own.
        case clusterNode(nodeTimeoutMilliseconds: Int)
        /// A sentinel (`redis-server sentinel.conf --sentinel`); the text is
        /// written once to `sentinel.conf` in the server's dir and then
        /// belongs to the sentinel, which rewrites it.
        case sentinel(configuration: String)
    }

    /// The temp dir holding the socket and logs.
    public let directory: URL
    /// The unix socket path.
    public let socketPath: String
    /// The loopback TCP port.
    public let port: Int
    /// The cluster bus port of a cluster node, else nil.
    public let clusterBusPort: Int?
    /// What this server is.
    public let mode: Mode
    private let lock = NSLock()
    private var process: Process?
    private var paused = false
    private let extraArguments: [String]
    /// The default user's password, if the server has one.
    public let password: String?

    /// Starts a server; `extraArguments` go on its command line; with a
    /// `password`, the default user needs it (and a cluster node uses it as
    /// `masterauth` too).
    public init(mode: Mode = .standalone, extraArguments: [String] = [], password: String? = nil) throws {
        self.password = password
        self.mode = mode
        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("roomwarden-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        directory = base
        socketPath = base.appendingPathComponent("redis.sock").path
        if case .clusterNode = mode {
            let ports = try RedisServer.freePorts(count: 2)
            port = ports[0]
            clusterBusPort = ports[1]
        } else {
            port = try RedisServer.freePort()
            clusterBusPort = nil
        }
        self.extraArguments = extraArguments
        if case .sentinel(let configuration) = mode {
            try Data(configuration.utf8).write(to: base.appendingPathComponent("sentinel.conf"))
        }
        RedisServer.liveLock.lock(); RedisServer.directories[ObjectIdentifier(self)] = base; RedisServer.liveLock.unlock()
        try start()
    }

    deinit {
        stop()
        RedisServer.liveLock.lock(); RedisServer.directories[ObjectIdentifier(self)] = nil; RedisServer.liveLock.unlock()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The `-s` flag value for the CLI.
    public var socketArguments: [String] { ["-s", socketPath] }

    /// Every server started and not yet stopped, so that none outlives the
    /// test process (a suite-wide `static let` server is never deinitialised),
    /// and every server's dir, removed at exit too.
    private static var live: [ObjectIdentifier: Process] = [:]
    private static var directories: [ObjectIdentifier: URL] = [:]
    private static let liveLock = NSLock()
    private static let stopAtExit: Void = {
        atexit {
            RedisServer.liveLock.lock()
            let all = RedisServer.live.values
            let dirs = RedisServer.directories.values
            RedisServer.liveLock.unlock()
            for p in all where p.isRunning { kill(p.processIdentifier, SIGKILL) }
            for d in dirs { try? FileManager.default.removeItem(at: d) }
        }
    }()

    /// The log file the server writes.
    public var logPath: String { directory.appendingPathComponent("redis.log").path }

    /// The command line after the executable.
    private var arguments: [String] {
        var head: [String] = []
        var modeArguments: [String] = []
        var persistence = ["--save", "", "--appendonly", "no"]
        switch mode {
        case .standalone:
            break
        case .clusterNode(let timeout):
            modeArguments = [
                "--cluster-enabled", "yes",
                "--cluster-config-file", directory.appendingPathComponent("nodes.conf").path,
                "--cluster-node-timeout", String(timeout),
                "--cluster-port", String(clusterBusPort ?? port + 10000),
                "--cluster-replica-validity-factor", "0",
                "--cluster-allow-replica-migration", "no",
                "--repl-diskless-sync-delay", "0",
            ] + (password.map { ["--masterauth", $0] } ?? [])
        case .sentinel:
            head = [directory.appendingPathComponent("sentinel.conf").path, "--sentinel"]
            persistence = []
        }
        return head + [
            "--port", String(port), "--bind", "127.0.0.1",
            "--unixsocket", socketPath, "--unixsocketperm", "700",
        ] + persistence + [
            "--dir", directory.path, "--logfile", logPath,
        ] + (password.map { ["--requirepass", $0] } ?? []) + modeArguments + extraArguments
    }

    /// Starts (again) on the same socket and port; does nothing while the
    /// server runs.
    public func start() throws {
        _ = RedisServer.stopAtExit
        lock.lock()
        if let running = process, running.isRunning { lock.unlock(); return }
        let p = Process()
        do {
            p.executableURL = URL(fileURLWithPath: try RedisServer.which("redis-server"))
            p.arguments = arguments
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
        } catch {
            lock.unlock()
            throw error
        }
        process = p
        paused = false
        lock.unlock()
        RedisServer.liveLock.lock(); RedisServer.live[ObjectIdentifier(self)] = p; RedisServer.liveLock.unlock()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let c = try? connect(timeout: .seconds(2)), let r = try? c.command("PING"), r == .status("PONG") {
                return
            }
            if !p.isRunning { break }
            usleep(20_000)
        }
        throw FixtureError("redis-server did not start; see \(logPath)")
    }

    /// Stops the server without saving; waits until it is gone. A paused
    /// server is resumed first; a killed one is only forgotten.
    public func stop() {
        RedisServer.liveLock.lock(); RedisServer.live[ObjectIdentifier(self)] = nil; RedisServer.liveLock.unlock()
        lock.lock()
        let current = process
        process = nil
        let wasPaused = paused
        paused = false
        lock.unlock()
        guard let p = current, p.isRunning else { return }
        if wasPaused { kill(p.processIdentifier, SIGCONT) }
        if let c = try? connect(timeout: .seconds(2)) {
            _ = try? c.command("SHUTDOWN", "NOSAVE")
        }
        let deadline = Date().addingTimeInterval(5)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    /// The server's process id while it runs (also while paused), else nil.
    public var processID: pid_t? {
        lock.lock(); defer { lock.unlock() }
        guard let p = process, p.isRunning else { return nil }
        return p.processIdentifier
    }

    /// True while the process exists (running or paused).
    public var isRunning: Bool { processID != nil }

    /// True between `pause()` and `resume()`.
    public var isPaused: Bool { lock.lock(); defer { lock.unlock() }; return paused }

    /// Freezes the server with SIGSTOP: connections stay open and nothing
    /// answers (the kernel still accepts new connections). Undone by
    /// `resume()`; `stop()` resumes it first.
    public func pause() throws {
        lock.lock(); defer { lock.unlock() }
        guard let p = process, p.isRunning else { throw FixtureError("redis-server on port \(port) is not running") }
        guard kill(p.processIdentifier, SIGSTOP) == 0 else { throw FixtureError("SIGSTOP failed: \(String(cString: strerror(errno)))") }
        paused = true
    }

    /// Lets a paused server run again (SIGCONT).
    public func resume() throws {
        lock.lock(); defer { lock.unlock() }
        guard let p = process, p.isRunning else { throw FixtureError("redis-server on port \(port) is not running") }
        guard kill(p.processIdentifier, SIGCONT) == 0 else { throw FixtureError("SIGCONT failed: \(String(cString: strerror(errno)))") }
        paused = false
    }

    /// Crashes the server (SIGKILL) and waits until the process is gone:
    /// clients see their connections drop, nothing is shut down cleanly.
    /// `start()` brings it back on the same port and dir; `stop()` is safe.
    public func kill9() {
        lock.lock()
        let current = process
        paused = false
        lock.unlock()
        guard let p = current, p.isRunning else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// A fresh connection, as the default user.
    public func connect() throws -> Connection {
        let c = try Connection(endpoint: .unix(path: socketPath), connectTimeout: .seconds(2))
        if let password { try c.command("AUTH", password).check() }
        return c
    }

    /// A fresh connection, as the default user, whose every read and write
    /// (the AUTH too) gives up after `timeout`: a paused or dead server is
    /// an error, not a hang.
    public func connect(timeout: Duration) throws -> Connection {
        let c = try Connection(endpoint: .unix(path: socketPath), connectTimeout: .seconds(2))
        try c.setTimeout(timeout)
        if let password { try c.command("AUTH", password).check() }
        return c
    }

    /// A fresh TCP connection to 127.0.0.1:`port`, as the default user.
    /// With a `timeout`, no read or write (the AUTH too) waits longer.
    public func connectTCP(timeout: Duration? = nil) throws -> Connection {
        let c = try Connection(endpoint: endpoint, connectTimeout: .seconds(2))
        if let timeout { try c.setTimeout(timeout) }
        if let password { try c.command("AUTH", password).check() }
        return c
    }

    /// Where the server listens on TCP.
    public var endpoint: Endpoint { .tcp(host: "127.0.0.1", port: port) }

    /// Runs one command on a fresh connection and returns its reply.
    @discardableResult
    public func run(_ args: String...) throws -> Reply {
        try connect().command(args.map { Array($0.utf8) })
    }

    /// Runs one command on a fresh connection that gives up after `timeout`
    /// (so a paused or dead server is an error, not a hang).
    @discardableResult
    public func run(timeout: Duration, _ args: [String]) throws -> Reply {
        try connect(timeout: timeout).command(args.map { Array($0.utf8) })
    }

    /// Empties every database.
    public func flush() throws { try run("FLUSHALL") }

    static func which(_ name: String) throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") + ["/usr/sbin", "/usr/bin"] {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw FixtureError("\(name) not found: run 'make test', which installs it")
    }

    /// `count` distinct loopback ports nobody listens on right now.
    public static func freePorts(count: Int) throws -> [Int] {
        var ports: [Int] = []
        var attempts = 0
        while ports.count < count {
            attempts += 1
            guard attempts <= count * 20 else { throw FixtureError("no \(count) free ports") }
            let p = try freePort()
            if !ports.contains(p) { ports.append(p) }
        }
        return ports
    }

    /// A loopback port nobody listens on right now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else { throw FixtureError("no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// A fixture could not do its job.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
