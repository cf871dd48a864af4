import Hiredis

/// The link `ResumableTransactions` sends on, and what is known of the
/// server behind it.
///
/// `node` tells servers apart: the server's `run_id` (`INFO server`), which
/// changes when a server restarts, or its address when INFO may not be
/// run. A link to another `node` than the one that confirmed the last
/// transactions means the archive there may lack some of them (a crash
/// failover, a restart): see `ResumableTransactions`.
public struct TransactionLink {
    /// The connection.
    public var connection: Connection
    /// Which server it reaches: its run id, else its address.
    public var node: String
    /// The server's id for this connection (`CLIENT ID`), when the ACL lets us ask.
    public var clientID: Int64?
    /// The node is importing the slot of the keys written (a Redis Cluster
    /// slot migration, after an `ASK`): every command on a key goes after
    /// `ASKING`, a transaction's `MULTI` too (the flag then lasts until
    /// `EXEC`).
    public var asking: Bool

    /// A link.
    public init(connection: Connection, node: String, clientID: Int64?, asking: Bool = false) {
        self.connection = connection
        self.node = node
        self.clientID = clientID
        self.asking = asking
    }

    /// Where it goes.
    public var endpoint: Endpoint { connection.endpoint }

    /// Sends `commands` as one pipeline and reads their replies in order,
    /// each after an `ASKING` on an `asking` link (whose replies are
    /// dropped: the flag lasts one command outside a transaction).
    public func run(_ commands: [Command]) throws(RedisError) -> [Reply] {
        for command in commands {
            if asking { try connection.append(TransactionLink.askingCommand) }
            try connection.append(command)
        }
        let replies = try connection.readReplies(commands.count * (asking ? 2 : 1))
        return asking ? stride(from: 1, to: replies.count, by: 2).map { replies[$0] } : replies
    }

    /// `ASKING`.
    static let askingCommand = Command(words: "ASKING")

    /// Opens a link on `connection`: one round trip for `INFO server` (the
    /// run id) and `CLIENT ID`. A refusal of either (an ACL) leaves that
    /// part unknown.
    public static func open(_ connection: Connection, asking: Bool = false) throws(RedisError) -> TransactionLink {
        try connection.append(.info("server"))
        try connection.append(.clientID)
        let replies = try connection.readReplies(2)
        return TransactionLink(connection: connection, node: node(infoServer: replies[0], endpoint: connection.endpoint),
                               clientID: replies[1].integer, asking: asking)
    }

    /// The node identity from an `INFO server` reply: `run_id`, else the address.
    public static func node(infoServer reply: Reply, endpoint: Endpoint) -> String {
        if let runID = ServerInfo(reply).field("run_id"), !runID.isEmpty { return runID }
        return endpoint.description
    }
}

@available(*, unavailable)
extension TransactionLink: Sendable {}

/// The `field:value` lines of an `INFO` reply (none when INFO was refused).
public struct ServerInfo {
    private let lines: [Substring]

    /// Reads an INFO reply; an error reply has no fields.
    public init(_ reply: Reply) {
        let text = reply.string ?? ""
        lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
    }

    /// The value of `name`, if the reply has it.
    public func field(_ name: String) -> String? {
        for line in lines where line.hasPrefix(name) {
            let rest = line.dropFirst(name.count)
            guard rest.first == ":" else { continue }
            var value = rest.dropFirst()
            while let last = value.last, last == "\r" || last == " " { value = value.dropLast() }
            return String(value)
        }
        return nil
    }
}
