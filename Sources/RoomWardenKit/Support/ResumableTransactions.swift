import Hiredis

/// A transaction that a lost connection can leave in doubt, and whose fate
/// can be found out afterwards (see `ResumableTransactions`): `MULTI`, the
/// commands it queues, then `EXEC` (or `DISCARD`), which the engine sends.
public protocol ResumableTransaction: Sendable {
    /// What its replies said.
    associatedtype Outcome
    /// The bytes it sends, roughly: the send limit shrinks on a link that
    /// keeps breaking.
    var size: Int { get }
    /// Appends `MULTI` and the commands it queues, not the `EXEC`.
    func encodeQueued(into batch: inout CommandBatch)
    /// How many replies `MULTI` and the queued commands bring.
    var queuedReplies: Int { get }
    /// Reads all of its replies, `EXEC`'s last. Throws a connection
    /// failure, or a server error whose `disposition` is `.busy` when the
    /// server ran nothing of it and asks to come back later; every other
    /// refusal is part of the outcome.
    func readOutcome(from connection: Connection) throws(RedisError) -> Outcome
    /// The same work as two transactions, oldest half first; nil when it
    /// cannot be cut (one message).
    func halves() -> (Self, Self)?
}

/// Sends transactions over a link that may be lost, or redirected, at any
/// moment, each executed exactly once, in order, as long as a server comes
/// back within the retry budget.
///
/// One transaction is in flight (its `EXEC` sent, its replies not yet
/// read) while the next is already queued on the server (`MULTI` and its
/// commands sent, `EXEC` held back): the server parses the next one while
/// the client reads the replies of the last, and the next runs only once
/// the last is confirmed, so a refusal stops the stream exactly there
/// (the queued one gets `DISCARD`).
///
/// When the link fails, only the one in flight is in doubt (a transaction
/// without its `EXEC` never runs): the engine gets a fresh link from
/// `reconnect` (the node the user named, the Redis Cluster primary that
/// now owns the slot, the master the sentinels now name), drops the old
/// link on the server if it is the same server (`CLIENT KILL ID`, see
/// `fence`), asks `check` whether the one in flight ran, settles it as
/// found executed or sends it again, cut smaller each time the link fails
/// before a success, so that a link that breaks every few hundred KB
/// still lets transactions through.
///
/// A transaction answered `MOVED`, `ASK` or `READONLY` ran nothing
/// (`FailureDisposition.redirected`): the engine asks `reconnect` where to
/// go (an `ASK` gives a link that sends `ASKING` before each `MULTI`) and
/// sends it there; `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `BUSY`: it waits
/// and sends it again on the same link.
///
/// After any switch to another server (`TransactionLink.node`: another
/// address, or the same address with another run id), Redis may have lost
/// what the old server confirmed last: replication is asynchronous, so a
/// replica promoted after a crash, or a forced failover, lacks the last
/// writes. The engine keeps the transactions confirmed lately
/// (`RecentTransactions`), has `recheck` look for them on the new server,
/// sends the missing ones again (settled with `resent: true`) and tells
/// `switched`.
///
/// It gives up when the budget of one outage is spent, the check cannot
/// tell, a signal comes, or reconnecting is refused for good; `GaveUp`
/// then says what is in doubt and what was not sent.
public final class ResumableTransactions<T: ResumableTransaction> {
    /// How a transaction ended.
    public enum Settled {
        /// It ran and its replies were read. `resent`: it had been
        /// confirmed before, by a server that then lost it.
        case confirmed(T, T.Outcome, resent: Bool)
        /// It ran (found out after a lost link); its replies were lost.
        case foundExecuted(T, resent: Bool)
    }

    /// A switch to another server, told once its recent transactions were
    /// checked there.
    public struct Switch {
        /// The server before.
        public var from: Endpoint
        /// The server now.
        public var to: Endpoint
        /// The recent transactions it lacked, sent again, and the one in
        /// flight if it was not found there (it may have run on the old
        /// server); nil when they could not be checked (no window, or
        /// `recheck` cannot tell).
        public var resent: [T]?
    }

    /// Why sending stopped, and where every unsettled transaction stands.
    public struct GaveUp: Error {
        /// What ended it (exit 69, 77, 130/143 ...).
        public var error: RoomWardenError
        /// The link failure that started the outage, if one did.
        public var cause: RedisError?
        /// The link came back, but `check` could not tell what ran.
        public var undecidable: Bool
        /// Sent, and whether they ran is unknown: oldest first.
        public var inDoubt: [T]
        /// Known not to have run and not sent again: oldest first.
        public var unsent: [T]
    }

    /// A transaction on its way, and whether it is sent again after a switch.
    private struct Pending {
        var transaction: T
        var resent: Bool
    }

    /// The link in use.
    public private(set) var link: TransactionLink
    /// The connection in use.
    public var connection: Connection { link.connection }
    /// The largest transaction to send now; producers keep new ones under
    /// it. Halved by every failure of the link before a success, restored
    /// step by step by successes.
    public private(set) var sizeLimit: Int
    /// How many times the link was lost, or redirected, and regained.
    public private(set) var reconnects = 0

    private let maxSize: Int
    private let policy: RetryPolicy
    private let reconnect: (RedisError) throws(RoomWardenError) -> TransactionLink
    private let check: ([T], TransactionLink) throws(RedisError) -> Int?
    private let recheck: ([T], TransactionLink) throws(RedisError) -> [Bool]?
    private let switched: (Switch) -> Void
    private let describe: (RedisError) -> RoomWardenError
    private let interruption: Interruption?
    /// Its `EXEC` sent, replies not read yet.
    private var inFlight: Pending?
    /// Queued on the server behind `inFlight`, its `EXEC` held back.
    private var staged: Pending?
    /// Not sent yet.
    private var queued: [Pending] = []
    private var outageStarted: Int64?
    private var outageCause: RedisError?
    /// Redirections since the last success.
    private var redirects = 0
    /// The confirmed transactions kept for `recheck`; nil: none kept.
    private var recent: RecentTransactions<T>?
    /// The server that confirmed the transactions in `recent`.
    private var recentNode: String
    /// `settle` asked to stop: nothing more is sent.
    private var halted = false
    private var batch = CommandBatch()

    /// - Parameters:
    ///   - link: the link to start with.
    ///   - maxSize: the size limit when the link is healthy.
    ///   - window: how many confirmed transactions to keep for `recheck`;
    ///     nil keeps none.
    ///   - reconnect: a fresh, authenticated link to where transactions go
    ///     now, after the failure given (a lost link, or the redirection);
    ///     exit 69 failures are retried, any other exit code ends the run.
    ///   - check: how many of the transactions sent (oldest first) ran, or
    ///     nil when it cannot tell; called on the fresh link.
    ///   - recheck: which of the transactions given (confirmed before, by
    ///     another server) are missing on the fresh link's server; nil
    ///     when it cannot tell.
    ///   - switched: told after each switch to another server.
    ///   - describe: the user's words for a link failure that ends the run.
    public init(
        link: TransactionLink, maxSize: Int, policy: RetryPolicy, interruption: Interruption?,
        window: RecheckWindow?,
        reconnect: @escaping (RedisError) throws(RoomWardenError) -> TransactionLink,
        check: @escaping ([T], TransactionLink) throws(RedisError) -> Int?,
        recheck: @escaping ([T], TransactionLink) throws(RedisError) -> [Bool]? = { _, _ in nil },
        switched: @escaping (Switch) -> Void = { _ in },
        describe: @escaping (RedisError) -> RoomWardenError
    ) {
        self.link = link
        self.maxSize = maxSize
        self.sizeLimit = maxSize
        self.policy = policy
        self.interruption = interruption
        self.reconnect = reconnect
        self.check = check
        self.recheck = recheck
        self.switched = switched
        self.describe = describe
        recent = window.map { RecentTransactions(limits: $0) }
        recentNode = link.node
        interruption?.guardSocket(link.connection.fileDescriptor)
    }

    deinit { interruption?.guardSocket(nil) }

    /// True when nothing is in flight or waiting to be sent.
    public var isIdle: Bool { inFlight == nil && staged == nil && queued.isEmpty }

    /// Sends `transaction` after those before it: queued on the server at
    /// once if only one is in flight, else once the one in flight is
    /// settled (its replies read, `settle` called). When `settle` returns
    /// false, nothing more runs: what waits stays for `abandon`.
    public func send(_ transaction: T, settle: (Settled) -> Bool) throws(GaveUp) {
        queued.append(Pending(transaction: transaction, resent: false))
        try running(settle) { () throws(RedisError) in try pump(settle) }
    }

    /// Sends what waits and reads every reply still due.
    public func settleAll(_ settle: (Settled) -> Bool) throws(GaveUp) {
        try running(settle) { () throws(RedisError) in
            try pump(settle)
            while inFlight != nil { try settleInFlight(settle) }
        }
    }

    /// Gives up now (the caller stops for its own reasons): the one in
    /// flight is settled if the link allows, the queued one discarded;
    /// nothing is retried.
    public func abandon(_ settle: (Settled) -> Bool) -> (inDoubt: [T], unsent: [T]) {
        halted = true
        do {
            while inFlight != nil { try settleInFlight(settle) }
        } catch {
            // The link failed: the one in flight stays in doubt.
        }
        let left = (inDoubt: inFlight.map { [$0.transaction] } ?? [],
                    unsent: ((staged.map { [$0] } ?? []) + queued).map(\.transaction))
        inFlight = nil
        staged = nil
        queued = []
        return left
    }

    // MARK: The loop

    /// Runs `body`; on a lost link, recovers and runs it again.
    private func running(_ settle: (Settled) -> Bool, _ body: () throws(RedisError) -> Void) throws(GaveUp) {
        while true {
            do {
                try body()
                return
            } catch {
                try recover(from: error, settle)
            }
        }
    }

    /// Sends the queued transactions: the first one whole when nothing is
    /// in flight, then one queued behind the one in flight.
    private func pump(_ settle: (Settled) -> Bool) throws(RedisError) {
        while !halted, let next = queued.first {
            if next.transaction.size > sizeLimit, let (a, b) = next.transaction.halves() {
                queued.replaceSubrange(0..<1, with: [Pending(transaction: a, resent: next.resent),
                                                     Pending(transaction: b, resent: next.resent)])
                continue
            }
            if inFlight == nil {
                queued.removeFirst()
                inFlight = next
                try write(next.transaction, then: Command.exec)
            } else if staged == nil {
                queued.removeFirst()
                staged = next
                try write(next.transaction, then: nil)
            } else {
                try settleInFlight(settle)
            }
        }
    }

    /// Writes a transaction's queued commands (after `ASKING` on a link
    /// that asks), and `closing` (EXEC) if given.
    private func write(_ transaction: T, then closing: Command?) throws(RedisError) {
        batch.removeAll()
        if link.asking { batch.add(TransactionLink.askingCommand) }
        transaction.encodeQueued(into: &batch)
        if let closing { batch.add(closing) }
        try connection.append(batch)
        try connection.flush()
    }

    /// Reads the replies of the one in flight; then runs the queued one
    /// (EXEC), or drops it (DISCARD) when `settle` said stop.
    private func settleInFlight(_ settle: (Settled) -> Bool) throws(RedisError) {
        guard let current = inFlight else { return }
        do {
            if link.asking { _ = try connection.readReply() }
            let outcome = try current.transaction.readOutcome(from: connection)
            inFlight = nil
            outageStarted = nil
            outageCause = nil
            redirects = 0
            sizeLimit = sizeLimit > maxSize / 2 ? maxSize : sizeLimit * 2
            remember(current.transaction)
            if !settle(.confirmed(current.transaction, outcome, resent: current.resent)) { halted = true }
        } catch where error.disposition == .busy || error.disposition == .redirected {
            // Nothing of it ran: it goes again, first, after a pause or on
            // another node; the one queued behind it must not run before it.
            inFlight = nil
            let behind = staged
            staged = nil
            queued.insert(contentsOf: [current] + (behind.map { [$0] } ?? []), at: 0)
            // (EXEC itself is let through while the server is busy: it
            // answered EXECABORT, and the link is out of MULTI again.)
            if let behind { try discard(behind.transaction) }
            throw error
        }
        guard let next = staged else { return }
        staged = nil
        if halted {
            queued.insert(next, at: 0)
            try discard(next.transaction)
        } else {
            inFlight = next
            batch.removeAll()
            batch.add(Command.exec)
            try connection.append(batch)
            try connection.flush()
        }
    }

    /// Drops a transaction queued on the server without its EXEC (DISCARD)
    /// and reads its replies. It is already back among the unsent.
    private func discard(_ dropped: T) throws(RedisError) {
        batch.removeAll()
        batch.add(Command.discard)
        try connection.append(batch)
        try connection.flush()
        _ = try connection.readReplies(dropped.queuedReplies + 1 + (link.asking ? 1 : 0))
    }

    /// Keeps a transaction that ran, for `recheck` after a switch.
    private func remember(_ transaction: T) {
        recent?.add(transaction, at: Monotonic.milliseconds())
    }

    /// After a failure: waits, reconnects, finds out what ran, queues the
    /// rest again. Throws when it gives up.
    private func recover(from error: RedisError, _ settle: (Settled) -> Bool) throws(GaveUp) {
        if error.disposition == .refused { throw giveUp(describe(error)) }
        let started = outageStarted ?? Monotonic.milliseconds()
        if outageStarted == nil { outageCause = error }
        outageStarted = started
        if error.disposition == .lostLink {
            interruption?.guardSocket(nil)
            let largest = max(inFlight?.transaction.size ?? 0, staged?.transaction.size ?? 0)
            sizeLimit = max(1, min(sizeLimit, largest > 0 ? largest : sizeLimit) / 2)
            // A transaction without its EXEC never runs: it goes again.
            if let dropped = staged { queued.insert(dropped, at: 0) }
            staged = nil
        }
        var last = describe(error)
        var attempt = 0
        do {
            if error.disposition == .busy {
                try policy.pause(outageStarted: started, attempt: &attempt, interruption: interruption)
                return  // the same link, the same transaction again
            }
            var failure = error
            // A redirection is followed at once, unless they go round in circles.
            var atOnce = false
            if error.disposition == .redirected {
                redirects += 1
                atOnce = redirects <= 3
            }
            while true {
                var unreachable: RoomWardenError?
                let fresh: TransactionLink
                if atOnce {
                    atOnce = false
                    do {
                        fresh = try reconnect(failure)
                    } catch where error.exitCode == 69 {
                        last = error
                        failure = .closed
                        continue
                    } catch {
                        throw RetryStop.refused(error)
                    }
                } else {
                    let cause = failure
                    fresh = try policy.reconnect(outageStarted: started, attempt: &attempt, interruption: interruption,
                                                 lastFailure: &unreachable,
                                                 connect: { () throws(RoomWardenError) -> TransactionLink in try reconnect(cause) })
                }
                if let unreachable { last = unreachable }
                let previous = link
                link = fresh
                interruption?.guardSocket(fresh.connection.fileDescriptor)
                do {
                    if inFlight != nil, fresh.node == previous.node, let old = previous.clientID {
                        try fence(fresh, killing: old)
                    }
                    let toRecheck = fresh.node == recentNode ? nil : recent?.confirmed(since: started - (recent?.limits.milliseconds ?? 0))
                    // On another server, one in flight that is not found may
                    // have run on the old one (and been published) before it
                    // was lost: it goes again all the same, and is told.
                    var againAfterSwitch: [T] = []
                    if let sent = inFlight {
                        guard let ran = try check([sent.transaction], fresh) else {
                            throw giveUp(last, undecidable: true)
                        }
                        inFlight = nil
                        if ran == 1 {
                            if !settle(.foundExecuted(sent.transaction, resent: sent.resent)) { halted = true }
                        } else {
                            queued.insert(sent, at: 0)
                            if fresh.node != recentNode { againAfterSwitch.append(sent.transaction) }
                        }
                    }
                    if fresh.node != recentNode {
                        try recheckRecent(toRecheck ?? [], inFlight: againAfterSwitch, since: started, from: previous, on: fresh)
                    }
                } catch let failed as RedisError {
                    if failed.disposition != .lostLink { throw giveUp(describe(failed)) }
                    interruption?.guardSocket(nil)
                    last = describe(failed)
                    failure = failed
                    continue
                }
                reconnects += 1
                return
            }
        } catch let stop as RetryStop {
            switch stop {
            case .interrupted(let sig): throw giveUp(RoomWardenError(exitCode: 128 + sig, "interrupted"))
            case .budgetSpent: throw giveUp(last)
            case .refused(let refused): throw giveUp(refused)
            }
        } catch let gaveUp as GaveUp {
            throw gaveUp
        } catch {
            throw giveUp(.failure("\(error)"))
        }
    }

    /// On a new server: looks for the transactions the old one confirmed
    /// lately, and queues the missing ones first, to be sent again.
    private func recheckRecent(_ transactions: [T], inFlight again: [T], since started: Int64, from previous: TransactionLink,
                               on fresh: TransactionLink) throws(RedisError) {
        let cutoff = started - (recent?.limits.milliseconds ?? 0)
        var resent: [T]?
        if recent != nil, let missing = transactions.isEmpty ? [] : try recheck(transactions, fresh) {
            let lost = zip(transactions, missing).filter { $0.1 }.map(\.0)
            recent?.keepFound(since: cutoff, missing: missing)
            queued.insert(contentsOf: lost.map { Pending(transaction: $0, resent: true) }, at: 0)
            resent = lost + again
        }
        recentNode = fresh.node
        switched(Switch(from: previous.endpoint, to: fresh.endpoint, resent: resent))
    }

    /// Makes sure the old link can run nothing more before the check: a
    /// server that stalled may still hold a transaction the old link sent,
    /// and run it after the check said it did not run. `CLIENT KILL ID`
    /// drops the old link and whatever it left unread; from then on the
    /// check's answer stays true. Only on the same server (another one
    /// has other clients under that id). Without the ACL for CLIENT,
    /// nothing is done.
    private func fence(_ fresh: TransactionLink, killing old: Int64) throws(RedisError) {
        _ = try fresh.connection.command(.clientKill(id: old))
    }

    private func giveUp(_ error: RoomWardenError, undecidable: Bool = false) -> GaveUp {
        defer { inFlight = nil; staged = nil; queued = [] }
        return GaveUp(error: error, cause: outageCause, undecidable: undecidable,
                      inDoubt: inFlight.map { [$0.transaction] } ?? [],
                      unsent: ((staged.map { [$0] } ?? []) + queued).map(\.transaction))
    }
}
