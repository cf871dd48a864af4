import Foundation
import Hiredis

/// A scratch redis-server for one test suite: its own temp dir, a unix
/// socket and a free loopback port, no persistence. Stopped with
/// `SHUTDOWN NOSAVE`, SIGKILL as a last resort; the dir is removed.
public final class RedisServer {
    /// The temp dir holding the socket and logs.
    public let directory: URL
    /// The unix socket path.
    public let socketPath: String
    /// The loopback TCP port.
    public let port: Int
    private var process: Process?
    private let extraArguments: [String]
    /// The default user's password, if the server has one.
    public let password: String?

    /// Starts a server; `extraArguments` go on its command line; with a
    /// `password`, the default user needs it.
    public init(extraArguments: [String] = [], password: String? = nil) throws {
        self.password = password
        let base = FileManager.default.temporaryDirectory
            .appendingPathComponent("roomwarden-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        directory = base
        socketPath = base.appendingPathComponent("redis.sock").path
        port = try RedisServer.freePort()
        self.extraArguments = extraArguments
        try start()
    }

    deinit { stop(); try? FileManager.default.removeItem(at: directory) }

    /// The `-s` flag value for the CLI.
    public var socketArguments: [String] { ["-s", socketPath] }

    /// Every server started and not yet stopped, so that none outlives the
    /// test process (a suite-wide `static let` server is never deinitialised).
    private static var live: [ObjectIdentifier: Process] = [:]
    private static let liveLock = NSLock()
    private static let stopAtExit: Void = {
        atexit {
            RedisServer.liveLock.lock()
            let all = RedisServer.live.values
            RedisServer.liveLock.unlock()
            for p in all where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
    }()

    /// Starts (again) on the same socket and port.
    public func start() throws {
        _ = RedisServer.stopAtExit
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try RedisServer.which("redis-server"))
        p.arguments = [
            "--port", String(port), "--bind", "127.0.0.1",
            "--unixsocket", socketPath, "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", directory.path,
            "--logfile", directory.appendingPathComponent("redis.log").path,
        ] + (password.map { ["--requirepass", $0] } ?? []) + extraArguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        RedisServer.liveLock.lock(); RedisServer.live[ObjectIdentifier(self)] = p; RedisServer.liveLock.unlock()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let c = try? connect(), let r = try? c.command("PING"), r == .status("PONG") {
                return
            }
            if !p.isRunning { break }
            usleep(20_000)
        }
        throw FixtureError("redis-server did not start; see \(directory.path)/redis.log")
    }

    /// Stops the server without saving; waits until it is gone.
    public func stop() {
        RedisServer.liveLock.lock(); RedisServer.live[ObjectIdentifier(self)] = nil; RedisServer.liveLock.unlock()
        guard let p = process, p.isRunning else { process = nil; return }
        if let c = try? connect() {
            _ = try? c.command("SHUTDOWN", "NOSAVE")
        }
        let deadline = Date().addingTimeInterval(5)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        process = nil
    }

    /// A fresh connection, as the default user.
    public func connect() throws -> Connection {
        let c = try Connection(endpoint: .unix(path: socketPath), connectTimeout: .seconds(2))
        if let password { try c.command("AUTH", password).check() }
        return c
    }

    /// Runs one command on a fresh connection and returns its reply.
    @discardableResult
    public func run(_ args: String...) throws -> Reply {
        try connect().command(args.map { Array($0.utf8) })
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
