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

    /// Turns a Redis failure into the user's terms. `doing` says what was
    /// being done (`publishing to room:lobby`), `endpoint` where.
    public static func from(_ error: RedisError, doing: String, endpoint: Endpoint) -> RoomWardenError {
        switch error {
        case .server(let line):
            switch error.serverCode ?? "" {
            case "NOPERM":
                return .denied("Redis denied \(doing): \(line) (the ACL user lacks this permission; ask the server's admin, or connect as another --user)")
            case "NOAUTH":
                return .denied("Redis at \(endpoint) requires a password (\(line)); give it with --askpass, REDISCLI_AUTH, -a or the URL")
            case "WRONGPASS":
                return .denied("authentication failed at \(endpoint): \(line); check --user and the password")
            default:
                return .data("Redis refused \(doing): \(line)")
            }
        case .connect:
            return .unreachable("\(error); is redis-server running there? (see --host, --port, --socket, --url)")
        default:
            return .unreachable("\(error) at \(endpoint) while \(doing); check that the server is up (redis-cli ping) and its log, then retry")
        }
    }
}
