import Hiredis

/// Where publish's transactions go (SPEC §6, §10, §11), and where they go
/// next after a lost link or a redirection: the server the user named; the
/// Redis Cluster primary that owns the slot of the room's key; or the
/// master the sentinels name.
///
/// Each link it hands out has been asked for the server's run id and the
/// link's `CLIENT ID` (`TransactionLink.open`), so that the engine can
/// tell a switch to another server (or a restarted one) from a link that
/// came back to the same. Not thread-safe: the publishing thread uses it.
final class PublishRoute {
    /// What the user's connection settings reach.
    enum Kind {
        /// One server, or any node of a cluster for `--no-archive` (classic
        /// pub/sub is broadcast cluster-wide).
        case single(ConnectionSettings)
        /// A Redis Cluster: the primary owning `key`'s slot.
        case cluster(ClusterTopology)
        /// The master behind Redis Sentinel.
        case sentinel(SentinelTopology)
    }

    let kind: Kind
    /// The key written (cluster: its slot decides the node).
    var key: [UInt8] = []
    /// The server of the last link handed out.
    private(set) var current: Endpoint

    init(_ kind: Kind, current: Endpoint) {
        self.kind = kind
        self.current = current
    }

    /// A fresh link to where transactions go now, after `failure`: a lost
    /// link (the same server again; the cluster map refreshed and the
    /// slot's owner; the sentinels asked again), `MOVED` (the new owner),
    /// `ASK` (the importing node, `asking`) or `READONLY` (a demoted
    /// master: as a lost link). 69 when it cannot be reached now (the
    /// engine retries), other codes end the run.
    func reconnect(after failure: RedisError) throws(RoomWardenError) -> TransactionLink {
        let connection: Connection
        var asking = false
        switch kind {
        case .single(let settings):
            connection = try settings.connect()
        case .cluster(let cluster):
            switch ServerErrorAction(failure, repliedBy: current) {
            case .moved(let slot, let to)?:
                try cluster.follow(moved: slot, to: to)
                connection = try cluster.connection(forKey: key)
            case .ask(_, let to)?:
                connection = try cluster.connection(to: to)
                asking = true
            default:
                if failure.isConnectionFailure { cluster.drop(current) }
                do { try cluster.refresh() } catch { if error.exitCode == 77 { throw error } }
                connection = try cluster.connection(forKey: key)
            }
        case .sentinel(let sentinel):
            // One round of asking: the engine's back-off paces the rounds.
            var budget = RetryBudget(.zero)
            connection = try sentinel.reresolve(budget: &budget)
        }
        current = connection.endpoint
        do {
            return try TransactionLink.open(connection, asking: asking)
        } catch {
            if case .cluster(let cluster) = kind { cluster.drop(connection.endpoint) }
            throw RoomWardenError.from(error, doing: "reconnecting to publish", endpoint: connection.endpoint)
        }
    }

    /// The link for the first transaction on a connection just opened
    /// (one round trip).
    func open(_ connection: Connection) throws(RoomWardenError) -> TransactionLink {
        current = connection.endpoint
        do {
            return try TransactionLink.open(connection)
        } catch {
            throw RoomWardenError.from(error, doing: "connecting to publish", endpoint: connection.endpoint)
        }
    }
}

@available(*, unavailable)
extension PublishRoute: Sendable {}
