/// One Redis reply, copied out of hiredis into memory Swift owns.
///
/// Bulk strings stay bytes: a string is made only where something is printed.
public enum Reply: Equatable, Sendable {
    /// `+OK`, `+QUEUED`, `+PONG` ...
    case status(String)
    /// `-ERR ...`: the server refused the command. Carries the whole line.
    case error(String)
    /// `:42`
    case integer(Int64)
    /// `$5 hello`, or `$-1` (nil) as `nil`.
    case bulk([UInt8]?)
    /// `*2 ...`, or `*-1` (nil multi-bulk) as `nil`.
    case array([Reply]?)

    /// The bulk's bytes, or nil for anything else.
    public var bytes: [UInt8]? {
        if case .bulk(let b) = self { return b }
        return nil
    }

    /// The bulk as UTF-8 text (lossy), or a status, or nil.
    public var string: String? {
        switch self {
        case .bulk(let b?): return String(decoding: b, as: UTF8.self)
        case .status(let s): return s
        default: return nil
        }
    }

    /// The integer, or nil for anything else.
    public var integer: Int64? {
        if case .integer(let i) = self { return i }
        return nil
    }

    /// The elements of an array, or nil for anything else.
    public var elements: [Reply]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The server's error line, if this is an error reply.
    public var errorMessage: String? {
        if case .error(let e) = self { return e }
        return nil
    }

    /// Throws `RedisError.server` if this is an error reply, else returns itself.
    @discardableResult
    public func check() throws(RedisError) -> Reply {
        if case .error(let e) = self { throw .server(e) }
        return self
    }
}
