import Hiredis

/// A failure the user can act on: one line of text and the exit code the
/// contract gives it (SPEC §9).
public struct RoomWardenError: Error, Sendable, CustomStringConvertible {
    /// The exit status.
    public var exitCode: Int32
    /// One line: what happened and what to do.
    public var message: String

    public init(exitCode: Int32, _ message: String) {
        self.exitCode = exitCode
        self.message = message
    }

    public var description: String { message }

    /// Exit 64: a bad flag, URL, duration, time or template.
    public static func usage(_ message: String) -> RoomWardenError { .init(exitCode: 64, message) }
    /// Exit 65: the server refused a command on data.
    public static func data(_ message: String) -> RoomWardenError { .init(exitCode: 65, message) }
    /// Exit 69: Redis unreachable or lost.
    public static func unreachable(_ message: String) -> RoomWardenError { .init(exitCode: 69, message) }
    /// Exit 77: authentication failed, or the ACL denied a command.
    public static func denied(_ message: String) -> RoomWardenError { .init(exitCode: 77, message) }
    /// Exit 1: anything else.
    public static func failure(_ message: String) -> RoomWardenError { .init(exitCode: 1, message) }

    /// True when trying again cannot help: the server refused the
    /// password or the ACL denied a command (77), or the user asked for
    /// something impossible (64). Reconnect loops give up on these.
    public var isPermanent: Bool { exitCode == 77 || exitCode == 64 }

    /// The exit code for a server error line, by its code: the one place
    /// that decides it. `NOPERM` (the ACL), `NOAUTH` and `WRONGPASS`
    /// (authentication) are 77; a server that cannot serve now (`LOADING`,
    /// `BUSY`, `MASTERDOWN` ...: nothing is wrong with the data, try again)
    /// is 69; anything else the server refused (WRONGTYPE, ERR ...) is 65.
    public static func exitCode(forServerError line: String) -> Int32 {
        let error = RedisError.server(line)
        switch error.serverCode ?? "" {
        case "NOPERM", "NOAUTH", "WRONGPASS": return 77
        default: return error.disposition == .busy ? 69 : 65
        }
    }

    /// Turns a Redis failure into the user's terms. `doing` says what was
    /// being done (`publishing to room:lobby`), `endpoint` where.
    public static func from(_ error: RedisError, doing: String, endpoint: Endpoint) -> RoomWardenError {
        switch error {
        case .server(let line):
            let message: String
            switch error.serverCode ?? "" {
            case "NOPERM":
                message = "Redis denied \(doing): \(line) (the ACL user lacks this permission; ask the server's admin, or connect as another --user)"
            case "NOAUTH":
                message = "Redis at \(endpoint) requires a password (\(line)); give it with --askpass, REDISCLI_AUTH, -a or the URL"
            case "WRONGPASS":
                message = "authentication failed at \(endpoint): \(line); check --user and the password"
            default:
                message = error.disposition == .busy
                    ? "Redis at \(endpoint) cannot serve now (\(line)) while \(doing); try again later"
                    : "Redis refused \(doing): \(line)"
            }
            return RoomWardenError(exitCode: exitCode(forServerError: line), message)
        case .connect:
            return .unreachable("\(error); is redis-server running there? (see --host, --port, --socket, --url)")
        case .timeout(let what):
            return .unreachable("Redis at \(endpoint) \(what) while \(doing); check that the server is up and not stopped or overloaded (redis-cli ping), or allow longer with --timeout")
        default:
            return .unreachable("\(error) at \(endpoint) while \(doing); check that the server is up (redis-cli ping) and its log, then retry")
        }
    }
}
