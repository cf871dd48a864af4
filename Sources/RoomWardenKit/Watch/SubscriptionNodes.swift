import Hiredis

/// Where watch's subscription link goes (SPEC §10, §11): the server named;
/// on a Redis Cluster any live node (classic pub/sub is broadcast
/// cluster-wide), another one at once when that node is lost; behind Redis
/// Sentinel the master the sentinels name, asked again on every new link,
/// with the sentinels' `+switch-master` announcements heard on the side.
///
/// Used by the reader thread only.
final class SubscriptionNodes {
    private let settings: ConnectionSettings
    private enum Kind {
        /// Not known before the first link: a server or a cluster node.
        case unknown
        case single
        case cluster(ClusterTopology)
        case sentinel(SentinelResolver, SentinelSettings)
    }
    private var kind: Kind
    /// The node the current (or last) link went to.
    private(set) var current: Endpoint
    /// Hears `+switch-master` (sentinel only); nil until it could subscribe.
    private(set) var listener: SentinelSwitchListener?
    /// When to try again to listen to the sentinels (monotonic ms).
    private var listenerRetryAt: Int64 = 0
    private var toldListenerFailure = false
    /// A line for stderr left by the last `connect`, taken by the reader.
    var notice: String?

    init(settings: ConnectionSettings) {
        self.settings = settings
        if var sentinel = settings.sentinel {
            sentinel.connectTimeout = settings.connectTimeout
            kind = .sentinel(SentinelResolver(settings: sentinel), sentinel)
        } else {
            kind = .unknown
        }
        current = settings.endpoint
    }

    /// True where a lost node has others to move to at once (a cluster's
    /// other nodes, the sentinels' master): the first try after a loss
    /// needs no backoff.
    var movesAtOnce: Bool {
        switch kind {
        case .cluster, .sentinel: return true
        case .unknown, .single: return false
        }
    }

    /// What the link goes to, for messages: `Redis at HOST:PORT`, `the
    /// Redis Cluster node HOST:PORT`, `the Redis Sentinel master 'NAME'
    /// at HOST:PORT`.
    var description: String {
        switch kind {
        case .unknown, .single: return "Redis at \(current)"
        case .cluster: return "the Redis Cluster node \(current)"
        case .sentinel(_, let s): return "the Redis Sentinel master '\(s.masterName)' at \(current)"
        }
    }

    /// An authenticated connection for a new link. `avoidingCurrent`: the
    /// node of the last link was just lost; on a cluster another node is
    /// tried first (it comes last, when no other answers).
    func connect(avoidingCurrent: Bool) throws(RoomWardenError) -> Connection {
        switch kind {
        case .unknown:
            let conn = try settings.connect()
            try learn(through: conn)
            return conn
        case .single:
            return try settings.connect()
        case .cluster(let cluster):
            let (node, conn) = try cluster.openAnyNode(avoiding: avoidingCurrent ? [current.description] : [])
            current = node.endpoint
            return conn
        case .sentinel(let resolver, _):
            // The reader's own backoff retries: one short round here.
            var budget = RetryBudget(settings.connectTimeout)
            let found = try resolver.resolveMaster(connect: settings.connector, budget: &budget, retrySentinels: false)
            current = found.master
            listener?.follow(found.master)
            return found.connection
        }
    }

    /// Asks the first node what it runs as (`INFO cluster`, bounded by
    /// `--connect-timeout`: a stopped server must not hold the first
    /// link for `--timeout`); on a cluster learns the map through a
    /// connection of its own, and which node of it `conn` is.
    private func learn(through conn: Connection) throws(RoomWardenError) {
        do { try conn.setTimeout(settings.connectTimeout) } catch {
            throw RoomWardenError.from(error, doing: "connecting", endpoint: settings.endpoint)
        }
        switch try Topology.mode(of: conn) {
        case .standalone:
            kind = .single
        case .sentinel:
            throw .usage("\(settings.endpoint) is a Redis Sentinel, not a data node: use --sentinel \(settings.endpoint) --master NAME, or -u redis-sentinel://\(settings.endpoint)#NAME")
        case .cluster:
            let myID: String?
            do { myID = try conn.command("CLUSTER", "MYID").string } catch {
                throw RoomWardenError.from(error, doing: "asking the cluster node its id (CLUSTER MYID)", endpoint: settings.endpoint)
            }
            do {
                let cluster = try ClusterTopology(seed: try settings.connect(), connect: settings.connector, retryFor: settings.failoverWait)
                if let myID, let me = cluster.allNodes.first(where: { $0.id == myID }) { current = me.endpoint }
                kind = .cluster(cluster)
            } catch {
                // Subscribing needs no map: stay on this node, as on one server.
                kind = .single
                notice = "cannot read the Redis Cluster's map (\(error.message)); watching through \(settings.endpoint) only: if it is lost, watch reconnects to it alone"
            }
        }
        do { try conn.setTimeout(settings.replyTimeout) } catch {
            throw RoomWardenError.from(error, doing: "connecting", endpoint: settings.endpoint)
        }
    }

    // MARK: Hearing failovers

    /// Behind Redis Sentinel: subscribes to the sentinels' `+switch-master`
    /// if not yet listening (again at most every 5 s after a failure).
    /// Returns a line for stderr the first time that fails.
    func listen() -> String? {
        guard case .sentinel(let resolver, _) = kind, listener == nil,
              Monotonic.milliseconds() >= listenerRetryAt else { return nil }
        do {
            listener = try SentinelSwitchListener(resolver: resolver, master: current)
            toldListenerFailure = false
            return nil
        } catch {
            return listenerFailed(error)
        }
    }

    /// The listener's socket, to poll beside the link's.
    var listenerDescriptor: Int32? { listener?.fileDescriptor }

    /// What the sentinels announced: the new master if it is not the one
    /// in use; a line for stderr in `notice` if the sentinels could no
    /// longer be heard.
    func heardSwitch(notice: (String) -> Void) -> Endpoint? {
        guard let listener else { return nil }
        do {
            guard let to = try listener.next(timeoutMilliseconds: 0), to != current else { return nil }
            return to
        } catch {
            self.listener = nil
            if let line = listenerFailed(error) { notice(line) }
            return nil
        }
    }

    /// Keeps the listener's sentinel answering (`keepAlive`); the new
    /// master when the sentinel asked after a silent one names another.
    func keepListenerAlive(heartbeatMilliseconds: Int64, notice: (String) -> Void) -> Endpoint? {
        guard let listener else { return nil }
        do {
            guard let to = try listener.keepAlive(heartbeatMilliseconds: heartbeatMilliseconds), to != current else { return nil }
            return to
        } catch {
            self.listener = nil
            if let line = listenerFailed(error) { notice(line) }
            return nil
        }
    }

    private func listenerFailed(_ error: RoomWardenError) -> String? {
        listenerRetryAt = Monotonic.milliseconds() + 5_000
        guard !toldListenerFailure else { return nil }
        toldListenerFailure = true
        return "cannot hear the sentinels' failover announcements (+switch-master): \(error.message); a failover will be noticed when the link to the master is lost"
    }
}

@available(*, unavailable)
extension SubscriptionNodes: Sendable {}
