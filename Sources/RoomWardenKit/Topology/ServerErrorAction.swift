import Hiredis

/// What to do about a server error line that means "not here" or "not
/// now" rather than "no": the one place where cluster redirections and
/// failover states are read.
///
/// Any other error line (`WRONGTYPE`, `NOPERM`, `ERR ...`) gets no action:
/// it is the command's own answer. Inside `MULTI`, the redirection comes as
/// the reply to a queued command and `EXEC` then says `EXECABORT`:
/// classify the queued command's error, not EXEC's.
public enum ServerErrorAction: Equatable, Sendable {
    /// `MOVED slot host:port`: the slot has a new owner for good. Refresh
    /// the map, then send the command to the owner.
    case moved(slot: Int, to: Endpoint)
    /// `ASK slot host:port`: the slot is being migrated and this key is
    /// already on the importing node. Send `ASKING` and then the command to
    /// that node, once; the map does not change.
    case ask(slot: Int, to: Endpoint)
    /// `TRYAGAIN`: a multi-key command during a slot migration. Wait a
    /// little and retry.
    case tryAgain
    /// `CLUSTERDOWN`: the cluster cannot serve the slot right now (a
    /// primary failed and no replica has been promoted yet). Back off,
    /// refresh the map, retry.
    case clusterDown
    /// `READONLY`: a write reached a replica: the node was a primary and
    /// has been demoted. Re-resolve the primary (map refresh, or ask the
    /// sentinels) and retry there.
    case readOnly
    /// `LOADING`: the node is loading its dataset. Back off and retry.
    case loading
    /// `MASTERDOWN`: a replica lost its primary and serves no stale data.
    /// Re-resolve the primary, back off, retry.
    case masterDown

    /// Reads an error line. `repliedBy` is the node that sent it: a MOVED
    /// or ASK naming no host (`MOVED 3999 :6380`, the cluster's way of
    /// saying "the same host as me") means that node's host.
    public init?(errorLine line: String, repliedBy node: Endpoint? = nil) {
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let code = words.first else { return nil }
        switch code {
        case "MOVED", "ASK":
            guard words.count >= 3, let slot = Int(words[1]), (0..<KeySlot.count).contains(slot),
                  let target = ServerErrorAction.endpoint(words[2], sameHostAs: node)
            else { return nil }
            self = code == "MOVED" ? .moved(slot: slot, to: target) : .ask(slot: slot, to: target)
        case "TRYAGAIN": self = .tryAgain
        case "CLUSTERDOWN": self = .clusterDown
        case "READONLY": self = .readOnly
        case "LOADING": self = .loading
        case "MASTERDOWN": self = .masterDown
        default: return nil
        }
    }

    /// The action for a `RedisError`, if it is a server error line with one.
    public init?(_ error: RedisError, repliedBy node: Endpoint? = nil) {
        guard case .server(let line) = error else { return nil }
        self.init(errorLine: line, repliedBy: node)
    }

    /// True when the node's role or the map changed under us, so where to
    /// send the command must be looked up again.
    public var needsNewTopology: Bool {
        switch self {
        case .moved, .clusterDown, .readOnly, .masterDown: return true
        case .ask, .tryAgain, .loading: return false
        }
    }

    /// `host:port` as Redis writes it in a redirection: the port after the
    /// last colon (an IPv6 address has colons of its own), the host before
    /// it; an empty host is the replying node's host.
    static func endpoint(_ text: Substring, sameHostAs node: Endpoint?) -> Endpoint? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty || host == "?" {
            // A node reached through a unix socket is on this machine.
            if case .tcp(let sameHost, _)? = node { host = sameHost } else { host = "127.0.0.1" }
        }
        return .tcp(host: host, port: port)
    }
}
