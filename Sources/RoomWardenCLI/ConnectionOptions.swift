import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import RoomWardenKit

/// How to reach Redis: SPEC §2. Flags beat the environment.
struct ConnectionOptions: ParsableArguments {
    /// redis://[user[:pass]@]host[:port][/db] or unix:///path.sock[?db=N].
    @Option(name: [.customShort("u", allowingJoined: true), .long], help: ArgumentHelp(
        "Server URL: redis://[user[:pass]@]host[:port][/db], unix:///path.sock[?db=N] or redis-sentinel://[[user:]pass@]host[:port][,host[:port]...][/db]#MASTER (env REDIS_URL).",
        valueName: "url"))
    var url: String?

    /// The server's host name or address.
    @Option(name: [.customShort("h", allowingJoined: true), .long], help: "Server host (default 127.0.0.1).")
    var host: String?

    /// The server's TCP port.
    @Option(name: [.customShort("p", allowingJoined: true), .long], help: "Server port (default 6379).")
    var port: Int?

    /// A unix socket path; beats host and port.
    @Option(name: [.customShort("s", allowingJoined: true), .long], help: ArgumentHelp("Server unix socket (beats host and port).", valueName: "path"),
            completion: .file())
    var socket: String?

    /// The database number.
    @Option(name: .long, help: ArgumentHelp("Database number (default 0).", valueName: "n"))
    var db: Int?

    /// The ACL user.
    @Option(name: .long, help: ArgumentHelp("ACL user name (needs a password).", valueName: "name"))
    var user: String?

    /// The password, visible in `ps`: a warning says so.
    @Option(name: [.customShort("a"), .customLong("pass")], help: ArgumentHelp(
        "Password (visible to other users in ps: prefer --askpass or REDISCLI_AUTH).", valueName: "password"))
    var password: String?

    /// Read the password from the terminal without echo.
    @Flag(name: .long, help: "Read the password from the terminal, without echo.")
    var askpass = false

    /// How long connecting may take.
    @Option(name: .long, help: ArgumentHelp("Give up connecting after this long.", valueName: "duration"))
    var connectTimeout: Span = .seconds(5)

    /// The longest wait for a reply; 0 waits for ever.
    @Option(name: .long, help: ArgumentHelp(
        "Give up when Redis does not answer for this long (0: wait for ever; watch uses --heartbeat).",
        valueName: "duration"))
    var timeout: Span = .seconds(30)

    /// Sentinels to ask for the master.
    @Option(name: .customLong("sentinel"), help: ArgumentHelp(
        "Ask this Redis Sentinel for the master (repeatable; port 26379 by default; needs --master).", valueName: "host[:port]"))
    var sentinels: [String] = []

    /// The master's name at the sentinels.
    @Option(name: .long, help: ArgumentHelp("The name the sentinels know the master by (with --sentinel).", valueName: "name"))
    var master: String?

    func validate() throws {
        if !sentinels.isEmpty || master != nil {
            if sentinels.isEmpty { throw ValidationError("--master needs --sentinel HOST[:PORT] (the sentinels to ask)") }
            if master == nil { throw ValidationError("--sentinel needs --master NAME (the name the sentinels know the master by)") }
            if master == "" { throw ValidationError("--master must not be empty") }
            if socket != nil || host != nil || port != nil {
                throw ValidationError("--sentinel asks the sentinels where the master is: it cannot go with -s, -h or -p")
            }
            if let url, SentinelURL.matches(url) {
                throw ValidationError("--sentinel and a redis-sentinel:// --url both name sentinels: choose one")
            }
            for address in sentinels { _ = try Self.checked { () throws(RoomWardenError) in try SentinelSettings.address(address) } }
        }
        if let url, SentinelURL.matches(url), socket != nil || host != nil || port != nil {
            throw ValidationError("a redis-sentinel:// URL asks the sentinels where the master is: it cannot go with -s, -h or -p")
        }
        if host == "" { throw ValidationError("--host must not be empty: give the server's name or address (default 127.0.0.1)") }
        if socket == "" { throw ValidationError("--socket must not be empty: give the path of the server's unix socket") }
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be 1 to 65535") }
        if let db, db < 0 { throw ValidationError("--db must be 0 or more") }
        if askpass && password != nil { throw ValidationError("--askpass and --pass both give a password: choose one") }
        if connectTimeout == .zero { throw ValidationError("--connect-timeout must be longer than 0: use e.g. 500ms, 5s, 1m") }
        if let url { try Self.check(url: url) }
        else if let env = Environment()["REDIS_URL"], !env.isEmpty { try Self.check(url: env, from: "REDIS_URL: ") }
    }

    /// `from` names where a URL the user did not type came from.
    private static func check(url: String, from: String = "") throws {
        do {
            var scratch = ConnectionSettings()
            try scratch.apply(url: url)
        } catch { throw ValidationError(from + error.message) }
    }

    private static func checked<T>(_ body: () throws(RoomWardenError) -> T) throws -> T {
        do { return try body() } catch { throw ValidationError(error.message) }
    }

    /// The settings these flags and the environment describe. Reads the
    /// terminal for --askpass; warns when a password came from argv.
    func settings() throws(RoomWardenError) -> ConnectionSettings {
        let env = Environment()
        var s = ConnectionSettings()
        if let envAuth = env["REDISCLI_AUTH"], !envAuth.isEmpty { s.password = envAuth }
        if let url {
            try s.apply(url: url)
            if SentinelURL.matches(url) ? (try? SentinelURL(parsing: url))?.password != nil : (try? RedisURL(parsing: url))?.password != nil {
                printDiagnostic("warning: a password in --url is visible to other users in ps; prefer REDIS_URL, --askpass or REDISCLI_AUTH")
            }
        } else if let envURL = env["REDIS_URL"], !envURL.isEmpty {
            try s.apply(url: envURL)
        }
        // -s, -h and -p beat a redis-sentinel:// REDIS_URL (flags beat the environment).
        if socket != nil || host != nil || port != nil { s.sentinel = nil }
        if let socket {
            s.endpoint = .unix(path: socket)
        } else if host != nil || port != nil {
            var h = "127.0.0.1", p = 6379
            if case .tcp(let uh, let up) = s.endpoint { h = uh; p = up }
            s.endpoint = .tcp(host: host ?? h, port: port ?? p)
        }
        if let master {
            s.sentinel = SentinelSettings(sentinels: try sentinels.map(SentinelSettings.address), masterName: master)
        }
        if let db { s.db = db }
        if let user { s.user = user }
        if let password {
            printDiagnostic("warning: using a password with -a/--pass is visible to other users in ps; prefer --askpass or REDISCLI_AUTH")
            s.password = password
        }
        if askpass { s.password = try Terminal.readSecret(prompt: "Password: ") }
        s.connectTimeout = connectTimeout.duration
        s.replyTimeout = timeout == .zero ? nil : timeout.duration
        return s
    }
}

/// Where archives live: SPEC §3.
struct ArchiveOptions: ParsableArguments {
    /// The archive key template.
    @Option(name: .long, help: ArgumentHelp(
        "Archive key template; * stands for the channel (default *:archive; env ROOMWARDEN_ARCHIVE_KEY).",
        valueName: "template"))
    var archiveKey: String?

    /// The list backlog key template.
    @Option(name: .long, help: ArgumentHelp(
        "List backlog key template, read where a room has no archive key; * stands for the channel (default *:backlog; env ROOMWARDEN_BACKLOG_KEY).",
        valueName: "template"))
    var backlogKey: String?

    func validate() throws {
        do {
            _ = try template()
            _ = try backlogTemplate()
        } catch { throw ValidationError(error.message) }
    }

    /// The template from the flag, else the environment, else `*:archive`.
    func template() throws(RoomWardenError) -> ArchiveKeyTemplate {
        guard let (given, source) = ArchiveOptions.given(archiveKey, flag: "--archive-key", env: "ROOMWARDEN_ARCHIVE_KEY") else { return .standard }
        return try ArchiveKeyTemplate(given, flag: source)
    }

    /// The backlog template from the flag, else the environment, else `*:backlog`.
    func backlogTemplate() throws(RoomWardenError) -> BacklogKeyTemplate {
        guard let (given, source) = ArchiveOptions.given(backlogKey, flag: "--backlog-key", env: "ROOMWARDEN_BACKLOG_KEY") else { return .standard }
        return try BacklogKeyTemplate(given, flag: source)
    }

    /// The flag's value, else the environment's (when not empty), with the
    /// name of the one it came from (for errors: the user looks there).
    private static func given(_ value: String?, flag: String, env name: String) -> (String, String)? {
        if let value { return (value, flag) }
        guard let env = Environment()[name], !env.isEmpty else { return nil }
        return (env, name)
    }
}

/// A subcommand that talks to Redis. `run()` resolves the connection
/// settings and maps every failure to its one stderr line and exit code,
/// here and nowhere else.
protocol RedisCommand: ParsableCommand {
    var connection: ConnectionOptions { get }
    func run(settings: ConnectionSettings) throws(RoomWardenError)
}

extension RedisCommand {
    func run() throws {
        // Interrupted: exit 130/143 as the contract says, not death by
        // signal. watch and history --follow take the signals over to flush
        // first.
        signal(SIGINT) { _exit(128 + $0) }
        signal(SIGTERM) { _exit(128 + $0) }
        do {
            try run(settings: try connection.settings())
        } catch {
            if !error.message.isEmpty { printDiagnostic(error.message) }
            throw ExitCode(error.exitCode)
        }
    }
}

extension ConnectionOptions {
    /// The quick path's reading (QuickParsable): the same names as above.
    static func quick(_ a: inout QuickArguments) -> Self? {
        var o = Self()
        o.url = a.value("url", short: "u", joined: true)
        o.host = a.value("host", short: "h", joined: true)
        o.port = a.value("port", short: "p", joined: true)
        o.socket = a.value("socket", short: "s", joined: true)
        o.db = a.value("db")
        o.user = a.value("user")
        o.password = a.value("pass", short: "a")
        o.askpass = a.flag("askpass")
        o.connectTimeout = a.value("connect-timeout") ?? .seconds(5)
        o.timeout = a.value("timeout") ?? .seconds(30)
        o.sentinels = a.values("sentinel")
        o.master = a.value("master")
        do { try o.validate() } catch { return nil }
        return o
    }
}

extension ArchiveOptions {
    /// The quick path's reading (QuickParsable): the same names as above.
    static func quick(_ a: inout QuickArguments) -> Self? {
        var o = Self()
        o.archiveKey = a.value("archive-key")
        o.backlogKey = a.value("backlog-key")
        do { try o.validate() } catch { return nil }
        return o
    }
}
