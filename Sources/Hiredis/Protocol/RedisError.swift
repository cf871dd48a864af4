/// What went wrong talking to Redis: the server said no, or the link failed.
public enum RedisError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The server answered with an error line (`WRONGTYPE ...`, `NOPERM ...`).
    case server(String)
    /// Could not connect at all.
    case connect(endpoint: String, reason: String)
    /// The connection failed while reading or writing.
    case io(String)
    /// The server closed the connection.
    case closed
    /// The bytes received were not Redis protocol.
    case protocolError(String)
    /// No answer within the time allowed.
    case timeout(String)

    /// The first word of a server error (`WRONGTYPE`, `NOPERM`, `ERR` ...).
    public var serverCode: String? {
        guard case .server(let line) = self else { return nil }
        return String(line.prefix { $0 != " " })
    }

    /// True for everything that is not the server refusing a command.
    public var isConnectionFailure: Bool {
        if case .server = self { return false }
        return true
    }

    public var description: String {
        switch self {
        case .server(let line): return line
        case .connect(let endpoint, let reason): return "could not connect to Redis at \(endpoint): \(reason)"
        case .io(let reason): return "connection to Redis failed: \(reason)"
        case .closed: return "Redis closed the connection"
        case .protocolError(let reason): return "Redis protocol error: \(reason)"
        case .timeout(let what): return "Redis did not answer in time (\(what))"
        }
    }
}
