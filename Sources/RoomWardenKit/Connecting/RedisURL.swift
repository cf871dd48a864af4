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
        if text.hasPrefix("unix://") {
            var rest = Substring(text.dropFirst("unix://".count))
            var query = ""
            if let q = rest.firstIndex(of: "?") {
                query = String(rest[rest.index(after: q)...])
                rest = rest[..<q]
            }
            if let at = rest.lastIndex(of: "@") {
                try RedisURL.userInfo(rest[..<at], into: &user, &password)
                rest = rest[rest.index(after: at)...]
            }
            guard rest.hasPrefix("/") else {
                throw .usage("bad URL '\(safe)': a unix socket URL is unix:///path/to/redis.sock[?db=N]")
            }
            endpoint = .unix(path: String(rest))
            for pair in query.split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2, kv[0] == "db" {
                    guard let n = Int(kv[1]), n >= 0 else { throw .usage("bad URL '\(safe)': db must be a number") }
                    db = n
                } else if kv.count == 2, kv[0] == "password" {
                    password = RedisURL.percentDecoded(kv[1])
                } else {
                    throw .usage("bad URL '\(safe)': unknown parameter '\(kv[0])' (only db and password)")
                }
            }
            return
        }
        guard text.hasPrefix("redis://") else {
            throw .usage("bad URL '\(safe)': use redis://[user[:password]@]host[:port][/db] or unix:///path.sock[?db=N]")
        }
        var rest = Substring(text.dropFirst("redis://".count))
        if let slash = rest.firstIndex(of: "/") {
            let dbText = rest[rest.index(after: slash)...]
            if !dbText.isEmpty {
                guard let n = Int(dbText), n >= 0 else { throw .usage("bad URL '\(safe)': the path must be a db number") }
                db = n
            }
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            try RedisURL.userInfo(rest[..<at], into: &user, &password)
            rest = rest[rest.index(after: at)...]
        }
        var host = "127.0.0.1"
        var port = 6379
        if rest.hasPrefix("[") {  // [::1]:6379
            guard let close = rest.firstIndex(of: "]") else { throw .usage("bad URL '\(safe)': unclosed [") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") { rest = rest.dropFirst() } else { rest = "" }
            if !rest.isEmpty { port = try RedisURL.port(rest, safe) }
        } else if let colon = rest.lastIndex(of: ":") {
            if colon != rest.startIndex { host = String(rest[..<colon]) }
            port = try RedisURL.port(rest[rest.index(after: colon)...], safe)
        } else if !rest.isEmpty {
            host = String(rest)
        }
        endpoint = .tcp(host: host, port: port)
    }

    private static func port(_ s: Substring, _ safe: String) throws(RoomWardenError) -> Int {
        guard let p = Int(s), (1...65535).contains(p) else {
            throw .usage("bad URL '\(safe)': port must be 1 to 65535")
        }
        return p
    }

    private static func userInfo(_ info: Substring, into user: inout String?, _ password: inout String?) throws(RoomWardenError) {
        if let colon = info.firstIndex(of: ":") {
            let u = percentDecoded(String(info[..<colon]))
            user = u.isEmpty ? nil : u
            password = percentDecoded(String(info[info.index(after: colon)...]))
        } else if !info.isEmpty {
            // redis://secret@host is how many clients spell a password alone.
            password = percentDecoded(String(info))
        }
    }

    /// The URL with any user information replaced, safe to print.
    public static func redacted(_ text: String) -> String {
        guard let scheme = text.firstRange(of: "://") else { return text }
        let afterScheme = text[scheme.upperBound...]
        let hostEnd = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? afterScheme.endIndex
        var out = text
        if let at = afterScheme[..<hostEnd].lastIndex(of: "@") {
            out = String(text[..<scheme.upperBound]) + "***@" + String(text[text.index(after: at)...])
        }
        if let q = out.firstRange(of: "password=") {
            let end = out[q.upperBound...].firstIndex(of: "&") ?? out.endIndex
            out.replaceSubrange(q.upperBound..<end, with: "***")
        }
        return out
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
