import Hiredis

/// A parsed `redis-sentinel://` URL (the form Lettuce and Spring use):
///
///     redis-sentinel://[[user:]password@]host[:port][,host[:port]...][/db][?params]#MASTER
///
/// The hosts are sentinels (port 26379 unless given); `MASTER` is the name
/// they know the master by; user, password and db are the data node's.
/// Parameters: `sentinel_user` and `sentinel_password`, the sentinels' own
/// credentials. User, password, parameters and master name may be
/// percent-encoded. No password ever appears in an error or a description.
public struct SentinelURL: Sendable, Equatable, CustomStringConvertible {
    /// The default sentinel port.
    public static let defaultPort = 26379

    /// The URL's form, for messages.
    public static let form = "redis-sentinel://[[user:]password@]host[:port][,host[:port]...][/db]#MASTER"

    /// The sentinels, in the order given.
    public var sentinels: [Endpoint]
    /// The master's name (`sentinel monitor NAME ...`).
    public var masterName: String
    /// The data node's ACL user.
    public var user: String?
    /// The data node's password.
    public var password: String?
    /// The data node's database.
    public var db: Int?
    /// The sentinels' ACL user.
    public var sentinelUser: String?
    /// The sentinels' password.
    public var sentinelPassword: String?

    /// True for text that is meant as a sentinel URL.
    public static func matches(_ text: String) -> Bool { text.hasPrefix("redis-sentinel://") }

    /// Parses; a malformed URL is a usage error (64) that shows the URL redacted.
    public init(parsing text: String) throws(RoomWardenError) {
        let safe = SentinelURL.redacted(text)
        let form = SentinelURL.form
        guard SentinelURL.matches(text) else { throw .usage("bad URL '\(safe)': a sentinel URL is \(form)") }
        var rest = Substring(text.dropFirst("redis-sentinel://".count))
        // The master name is the fragment: after the last '#', so that a
        // password may hold a '#' of its own.
        guard let hash = rest.lastIndex(of: "#") else {
            throw .usage("bad URL '\(safe)': name the master after '#' (\(form))")
        }
        masterName = SentinelURL.percentDecoded(rest[rest.index(after: hash)...])
        guard !masterName.isEmpty else { throw .usage("bad URL '\(safe)': the master name after '#' is empty") }
        rest = rest[..<hash]
        user = nil
        password = nil
        RedisURL.takeUserInfo(&rest, into: &user, &password)
        let query = RedisURL.takeQuery(&rest)
        db = try RedisURL.dbPath(&rest, safe)
        sentinels = []
        for hostPort in rest.split(separator: ",", omittingEmptySubsequences: false) {
            sentinels.append(try SentinelURL.endpoint(hostPort, safe: safe))
        }
        sentinelUser = nil
        sentinelPassword = nil
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            let key = kv.first.map(String.init) ?? ""
            let value = kv.count == 2 ? SentinelURL.percentDecoded(kv[1]) : ""
            switch key {
            case "sentinel_user": sentinelUser = value.isEmpty ? nil : value
            case "sentinel_password": sentinelPassword = value
            default: throw .usage("bad URL '\(safe)': unknown parameter '\(key)' (only sentinel_user and sentinel_password)")
            }
        }
        if sentinelUser != nil, sentinelPassword == nil {
            throw .usage("bad URL '\(safe)': sentinel_user needs sentinel_password")
        }
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`; port 26379 by default.
    static func endpoint(_ text: Substring, safe: String) throws(RoomWardenError) -> Endpoint {
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .usage("bad URL '\(safe)': unclosed [ in '\(text)'") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw .usage("bad URL '\(safe)': '\(text)' is not host:port")
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            host = text
        }
        guard !host.isEmpty else { throw .usage("bad URL '\(safe)': a sentinel host is empty (hosts are separated by ',')") }
        var port = defaultPort
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw .usage("bad URL '\(safe)': sentinel port '\(portText)' must be 1 to 65535")
            }
            port = p
        }
        return .tcp(host: String(host), port: port)
    }

    /// The URL with its password and `sentinel_password` replaced by `***`,
    /// safe to print.
    public static func redacted(_ text: String) -> String {
        var out = text
        if let scheme = out.firstRange(of: "://") {
            let end = out.lastIndex(of: "#") ?? out.endIndex
            if let at = out[scheme.upperBound..<end].lastIndex(of: "@") {
                let info = out[scheme.upperBound..<at]
                let kept = info.firstIndex(of: ":").map { String(info[..<$0]) + ":***" } ?? "***"
                out.replaceSubrange(scheme.upperBound..<at, with: kept)
            }
        }
        var searchFrom = out.startIndex
        while let r = out[searchFrom...].firstRange(of: "password=") {
            let end = out[r.upperBound...].firstIndex { $0 == "&" || $0 == "#" } ?? out.endIndex
            out.replaceSubrange(r.upperBound..<end, with: "***")
            searchFrom = out.index(r.upperBound, offsetBy: 3, limitedBy: out.endIndex) ?? out.endIndex
        }
        return out
    }

    /// The sentinels to ask, with their credentials.
    public func settings(connectTimeout: Duration = .seconds(5)) -> SentinelSettings {
        SentinelSettings(sentinels: sentinels, masterName: masterName, user: sentinelUser,
                         password: sentinelPassword, connectTimeout: connectTimeout)
    }

    /// The URL with passwords redacted.
    public var description: String {
        var text = "redis-sentinel://"
        if user != nil || password != nil { text += (user ?? "") + (password != nil ? ":***" : "") + "@" }
        text += sentinels.map(\.description).joined(separator: ",")
        if let db { text += "/\(db)" }
        var params: [String] = []
        if let sentinelUser { params.append("sentinel_user=\(sentinelUser)") }
        if sentinelPassword != nil { params.append("sentinel_password=***") }
        if !params.isEmpty { text += "?" + params.joined(separator: "&") }
        return text + "#" + masterName
    }

    static func percentDecoded(_ s: Substring) -> String { RedisURL.percentDecoded(String(s)) }
}
