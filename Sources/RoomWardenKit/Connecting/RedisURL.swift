import Hiredis

/// A parsed `redis://[user[:pass]@]host[:port][/db]` or
/// `unix:///path.sock[?db=N]` URL.
public struct RedisURL: Sendable, Equatable {
    public var endpoint: Endpoint
    public var user: String?
    public var password: String?
    public var db: Int?

    public init(parsing text: String) throws(RoomWardenError) {
        let safe = RedisURL.redacted(text)
        if text.hasPrefix("rediss://") {
            throw .usage("rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; reach the server through a local stunnel (see TLS in 'man roomwarden')")
        }
        let isUnix = text.hasPrefix("unix://")
        guard isUnix || text.hasPrefix("redis://") else {
            throw .usage("bad URL '\(safe)': use redis://[user[:password]@]host[:port][/db], unix:///path.sock[?db=N] or \(SentinelURL.form)")
        }
        var rest = Substring(text.dropFirst(isUnix ? "unix://".count : "redis://".count))
        if !(isUnix && rest.hasPrefix("/")) { RedisURL.takeUserInfo(&rest, into: &user, &password) }
        let query = RedisURL.takeQuery(&rest)
        if isUnix {
            guard rest.hasPrefix("/") else {
                throw .usage("bad URL '\(safe)': a unix socket URL is unix:///path/to/redis.sock[?db=N]")
            }
            endpoint = .unix(path: String(rest))
        } else {
            db = try RedisURL.dbPath(&rest, safe)
            endpoint = try RedisURL.hostAndPort(rest, safe)
        }
        for pair in query.split(separator: "&") {
            guard let eq = pair.firstIndex(of: "=") else {
                throw .usage("bad URL '\(safe)': a parameter without a value: use db=N or password=...")
            }
            let value = pair[pair.index(after: eq)...]
            switch pair[..<eq] {
            case "db":
                guard let n = Int(value), n >= 0 else { throw .usage("bad URL '\(safe)': db must be a number") }
                if let db, db != n { throw .usage("bad URL '\(safe)': two db numbers (/\(db) and db=\(n)): give one") }
                db = n
            case "password":
                let p = RedisURL.percentDecoded(String(value))
                password = p.isEmpty ? nil : p
            default:
                throw .usage("bad URL '\(safe)': unknown parameter '\(pair[..<eq])' (only db and password)")
            }
        }
    }

    /// `host`, `host:port`, `:port`, `[v6]` or `[v6]:port`; 127.0.0.1:6379 by default.
    private static func hostAndPort(_ text: Substring, _ safe: String) throws(RoomWardenError) -> Endpoint {
        var rest = text
        var host = "127.0.0.1"
        var port = 6379
        if rest.hasPrefix("[") {  // [::1]:6379
            guard let close = rest.firstIndex(of: "]") else { throw .usage("bad URL '\(safe)': unclosed [") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") {
                port = try RedisURL.port(rest.dropFirst(), safe)
            } else if !rest.isEmpty {
                throw .usage("bad URL '\(safe)': after [\(host)] comes :PORT, /DB or ?db=N, nothing else")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            if colon != rest.startIndex { host = String(rest[..<colon]) }
            port = try RedisURL.port(rest[rest.index(after: colon)...], safe)
        } else if !rest.isEmpty {
            host = String(rest)
        }
        return .tcp(host: host, port: port)
    }

    /// Takes a `/db` path off the end of `rest` (the part after the
    /// host): its number, or nil when there is no path or it is empty.
    /// Shared by redis:// and redis-sentinel:// URLs.
    static func dbPath(_ rest: inout Substring, _ safe: String) throws(RoomWardenError) -> Int? {
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let dbText = rest[rest.index(after: slash)...]
        rest = rest[..<slash]
        guard !dbText.isEmpty else { return nil }
        guard let n = Int(dbText), n >= 0 else { throw .usage("bad URL '\(safe)': the path must be a db number") }
        return n
    }

    private static func port(_ s: Substring, _ safe: String) throws(RoomWardenError) -> Int {
        guard let p = Int(s), (1...65535).contains(p) else {
            throw .usage("bad URL '\(safe)': port must be 1 to 65535")
        }
        return p
    }

    /// Takes `user:password@` off the front of `rest`, if there. The user
    /// information runs to the last @: a password may hold / ? or #.
    static func takeUserInfo(_ rest: inout Substring, into user: inout String?, _ password: inout String?) {
        guard let at = rest.lastIndex(of: "@") else { return }
        userInfo(rest[..<at], into: &user, &password)
        rest = rest[rest.index(after: at)...]
    }

    /// Takes `?query` off the end of `rest` and returns it (empty if none).
    static func takeQuery(_ rest: inout Substring) -> Substring {
        guard let q = rest.firstIndex(of: "?") else { return "" }
        defer { rest = rest[..<q] }
        return rest[rest.index(after: q)...]
    }

    static func userInfo(_ info: Substring, into user: inout String?, _ password: inout String?) {
        if let colon = info.firstIndex(of: ":") {
            let u = percentDecoded(String(info[..<colon]))
            user = u.isEmpty ? nil : u
            let p = percentDecoded(String(info[info.index(after: colon)...]))
            password = p.isEmpty ? nil : p
        } else if !info.isEmpty {
            // redis://secret@host is how many clients spell a password alone.
            password = percentDecoded(String(info))
        }
    }

    /// The text with every secret a URL can hold replaced by `***`,
    /// however malformed it is: everything up to the last `@` after the
    /// scheme (user information, even with a `/` or `?` in the password);
    /// the value of every query parameter but a numeric `db` (`password=`,
    /// `sentinel_password=`, any misspelling); and, outside unix:// URLs, a
    /// port or db path that is not a number (`redis://:secret` lacks its @).
    /// Safe to print.
    public static func redacted(_ text: String) -> String {
        var rest = Substring(text)
        var out = ""
        if let scheme = rest.firstRange(of: "://") {
            out += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
        }
        let isUnix = out == "unix://"
        if let at = rest.lastIndex(of: "@") {
            out += "***@"
            let inQuery = rest[..<at].contains("?")
            rest = rest[rest.index(after: at)...]
            if inQuery {
                // The @ may have been inside a query value (?password=a@b):
                // the rest of that value goes too.
                out += "***"
                rest = rest[(rest.firstIndex(of: "&") ?? rest.endIndex)...]
                return out + rest.split(separator: "&", omittingEmptySubsequences: false).map(redactedParameter).joined(separator: "&")
            }
        }
        let q = rest.firstIndex(of: "?") ?? rest.endIndex
        out += isUnix ? String(rest[..<q]) : redactedAuthorityAndPath(rest[..<q])
        guard q < rest.endIndex else { return out }
        let pairs = rest[rest.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false)
        return out + "?" + pairs.map(redactedParameter).joined(separator: "&")
    }

    /// `host:port/db` with a port or db that is not a number as `***`.
    private static func redactedAuthorityAndPath(_ text: Substring) -> String {
        let slash = text.firstIndex(of: "/") ?? text.endIndex
        var authority = String(text[..<slash])
        let afterBracket = authority.lastIndex(of: "]").map { authority.index(after: $0) } ?? authority.startIndex
        if let colon = authority[afterBracket...].lastIndex(of: ":"), Int(authority[authority.index(after: colon)...]) == nil {
            authority = authority[...colon] + "***"
        }
        let path = text[slash...].dropFirst()
        if slash == text.endIndex { return authority }
        return authority + "/" + (path.isEmpty || Int(path) != nil ? String(path) : "***")
    }

    /// `db=N` as it is; any other `key=value` as `key=***`; a bare word as `***`.
    private static func redactedParameter(_ pair: Substring) -> String {
        guard let eq = pair.firstIndex(of: "=") else { return pair.isEmpty ? "" : "***" }
        let key = pair[..<eq]
        return key == "db" && pair[pair.index(after: eq)...].allSatisfy(\.isASCII) && Int(pair[pair.index(after: eq)...]) != nil
            ? String(pair) : "\(key)=***"
    }

    static func percentDecoded(_ s: String) -> String {
        guard s.contains("%") else { return s }
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2,
               let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
