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

/// Sends transactions over a connection that may be lost at any moment,
/// each executed exactly once, in order, as long as the link comes back
/// within the retry budget.
///
/// One transaction is in flight (its `EXEC` sent, its replies not yet
/// read) while the next is already queued on the server (`MULTI` and its
/// commands sent, `EXEC` held back): the server parses the next one while
/// the client reads the replies of the last, and the next runs only once
/// the last is confirmed, so a refusal stops the stream exactly there
/// (the queued one gets `DISCARD`). When the link fails, only the one in
/// flight is in doubt (a transaction without its `EXEC` never runs): the
/// engine reconnects (`connect`), drops the old link on the server
/// (`CLIENT KILL ID`, see `fence`), asks `check` whether it ran, settles it
/// as found executed or sends it again, cut smaller each time the link
/// fails before a success, so that a link that breaks every few hundred KB
/// still lets transactions through. It gives up when the budget of one
/// outage is spent, the check cannot tell, a signal comes, or reconnecting
/// is refused for good; `GaveUp` then says what is in doubt and what was
/// not sent.
///
/// The seam for Cluster and Sentinel: `connect` is where a topology hands
/// out "the connection for this key" after asking again, and
/// `FailureDisposition` is where `MOVED`/`ASK`/`READONLY` will be told
/// apart from a lost link; the exactly-once check stays as it is.
public final class ResumableTransactions<T: ResumableTransaction> {
    /// How a transaction ended.
    public enum Settled {
        /// It ran and its replies were read.
        case confirmed(T, T.Outcome)
        /// It ran (found out after a lost link); its replies were lost.
        case foundExecuted(T)
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

    /// The connection in use.
    public private(set) var connection: Connection
    /// The largest transaction to send now; producers keep new ones under
    /// it. Halved by every failure of the link before a success, restored
    /// step by step by successes.
    public private(set) var sizeLimit: Int
    /// How many times the link was lost and regained.
    public private(set) var reconnects = 0

    private let maxSize: Int
    private let policy: RetryPolicy
    private let reconnect: () throws(RoomWardenError) -> Connection
    private let check: ([T], Connection) throws(RedisError) -> Int?
    private let describe: (RedisError) -> RoomWardenError
    private let interruption: Interruption?
    /// Its `EXEC` sent, replies not read yet.
    private var inFlight: T?
    /// Queued on the server behind `inFlight`, its `EXEC` held back.
    private var staged: T?
    /// Not sent yet.
    private var queued: [T] = []
    private var outageStarted: Int64?
    /// The server's id for the link in use (`CLIENT ID`), when the ACL lets us ask.
    private var clientID: Int64?
    private var outageCause: RedisError?
    /// `settle` asked to stop: nothing more is sent.
    private var halted = false
    private var batch = CommandBatch()

    /// - Parameters:
    ///   - connection: the link to start with.
    ///   - clientID: its `CLIENT ID`, when known (see `fence`).
    ///   - maxSize: the size limit when the link is healthy.
    ///   - reconnect: opens a fresh, authenticated link; exit 69 failures
    ///     are retried, any other exit code ends the run.
    ///   - check: how many of the transactions sent (oldest first) ran, or
    ///     nil when it cannot tell; called on the fresh link.
    ///   - describe: the user's words for a link failure that ends the run.
    public init(
        connection: Connection, clientID: Int64?, maxSize: Int, policy: RetryPolicy,
        interruption: Interruption?,
        reconnect: @escaping () throws(RoomWardenError) -> Connection,
        check: @escaping ([T], Connection) throws(RedisError) -> Int?,
        describe: @escaping (RedisError) -> RoomWardenError
    ) {
        self.connection = connection
        self.clientID = clientID
        self.maxSize = maxSize
        self.sizeLimit = maxSize
        self.policy = policy
        self.interruption = interruption
        self.reconnect = reconnect
        self.check = check
        self.describe = describe
        interruption?.guardSocket(connection.fileDescriptor)
    }

    deinit { interruption?.guardSocket(nil) }

    /// True when nothing is in flight or waiting to be sent.
    public var isIdle: Bool { inFlight == nil && staged == nil && queued.isEmpty }

    /// Sends `transaction` after those before it: queued on the server at
    /// once if only one is in flight, else once the one in flight is
    /// settled (its replies read, `settle` called). When `settle` returns
    /// false, nothing more runs: what waits stays for `abandon`.
    public func send(_ transaction: T, settle: (Settled) -> Bool) throws(GaveUp) {
        queued.append(transaction)
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
        let left = (inDoubt: inFlight.map { [$0] } ?? [], unsent: (staged.map { [$0] } ?? []) + queued)
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
            if next.size > sizeLimit, let (a, b) = next.halves() {
                queued.replaceSubrange(0..<1, with: [a, b])
                continue
            }
            if inFlight == nil {
                queued.removeFirst()
                inFlight = next
                try write(next, then: Command.exec)
            } else if staged == nil {
                queued.removeFirst()
                staged = next
                try write(next, then: nil)
            } else {
                try settleInFlight(settle)
            }
        }
    }

    /// Writes a transaction's queued commands, and `closing` (EXEC) if given.
    private func write(_ transaction: T, then closing: Command?) throws(RedisError) {
        batch.removeAll()
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
            let outcome = try current.readOutcome(from: connection)
            inFlight = nil
            outageStarted = nil
            outageCause = nil
            sizeLimit = sizeLimit > maxSize / 2 ? maxSize : sizeLimit * 2
            if !settle(.confirmed(current, outcome)) { halted = true }
        } catch where error.disposition == .busy {
            // Nothing of it ran: it goes again, first, after a pause; the
            // one queued behind it must not run before it.
            inFlight = nil
            let behind = staged
            staged = nil
            queued.insert(contentsOf: [current] + (behind.map { [$0] } ?? []), at: 0)
            // (EXEC itself is let through while the server is busy: it
            // answered EXECABORT, and the link is out of MULTI again.)
            if let behind { try discard(behind) }
            throw error
        }
        guard let next = staged else { return }
        staged = nil
        if halted {
            queued.insert(next, at: 0)
            try discard(next)
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
        _ = try connection.readReplies(dropped.queuedReplies + 1)
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
            let largest = max(inFlight?.size ?? 0, staged?.size ?? 0)
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
            while true {
                var unreachable: RoomWardenError?
                let fresh = try policy.reconnect(outageStarted: started, attempt: &attempt, interruption: interruption,
                                                 lastFailure: &unreachable, connect: reconnect)
                if let unreachable { last = unreachable }
                connection = fresh
                interruption?.guardSocket(fresh.fileDescriptor)
                do {
                    try fence(fresh)
                    if let sent = inFlight {
                        guard let ran = try check([sent], fresh) else {
                            throw giveUp(last, undecidable: true)
                        }
                        inFlight = nil
                        if ran == 1 {
                            if !settle(.foundExecuted(sent)) { halted = true }
                        } else {
                            queued.insert(sent, at: 0)
                        }
                    }
                } catch let failed as RedisError {
                    if failed.disposition != .lostLink { throw giveUp(describe(failed)) }
                    interruption?.guardSocket(nil)
                    last = describe(failed)
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

    /// Makes sure the old link can run nothing more before the check: a
    /// server that stalled may still hold a transaction the old link sent,
    /// and run it after the check said it did not run. `CLIENT KILL ID`
    /// drops the old link and whatever it left unread; from then on the
    /// check's answer stays true. Also learns the new link's id. Without
    /// the ACL for CLIENT, neither is done.
    private func fence(_ fresh: Connection) throws(RedisError) {
        if let old = clientID { try fresh.append(.clientKill(id: old)) }
        try fresh.append(.clientID)
        let replies = try fresh.readReplies(clientID == nil ? 1 : 2)
        clientID = replies.last?.integer
    }

    private func giveUp(_ error: RoomWardenError, undecidable: Bool = false) -> GaveUp {
        defer { inFlight = nil; staged = nil; queued = [] }
        return GaveUp(error: error, cause: outageCause, undecidable: undecidable,
                      inDoubt: inFlight.map { [$0] } ?? [], unsent: (staged.map { [$0] } ?? []) + queued)
    }
}
