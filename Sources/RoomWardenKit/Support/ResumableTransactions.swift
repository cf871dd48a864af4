import Hiredis

/// A transaction that a lost connection can leave in doubt, and whose fate
/// can be found out afterwards (see `ResumableTransactions`).
public protocol ResumableTransaction: Sendable {
    /// What its replies said.
    associatedtype Outcome
    /// The bytes it sends, roughly: the send limit shrinks on a link that
    /// keeps breaking.
    var size: Int { get }
    /// Appends its commands to `batch`.
    func encode(into batch: inout CommandBatch)
    /// Reads all of its replies, in order. Throws a connection failure, or
    /// a server error whose `disposition` is `.busy` when the server ran
    /// nothing of it and asks to come back later; every other refusal is
    /// part of the outcome.
    func readOutcome(from connection: Connection) throws(RedisError) -> Outcome
    /// The same work as two transactions, oldest half first; nil when it
    /// cannot be cut (one message).
    func halves() -> (Self, Self)?
}

/// Sends transactions over a connection that may be lost at any moment,
/// each executed exactly once, in order, as long as the link comes back
/// within the retry budget.
///
/// Up to `depth` transactions are in flight (sent, replies not yet read).
/// When the link fails, the ones in flight are in doubt: the engine
/// reconnects (`connect`), asks `check` how many of them ran (they ran in
/// order, so the answer is a count from the oldest), settles those as
/// found executed, and sends the rest again, cut to a smaller size each
/// time the link fails before a success, so that a link that breaks
/// every few hundred KB still lets transactions through. It gives up when
/// the budget of one outage is spent, the check cannot tell, a signal
/// comes, or reconnecting is refused for good; `GaveUp` then lists what
/// is in doubt and what was not sent.
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
        /// Whether it tried to get the link back before giving up.
        public var retried: Bool
        /// The link came back, but `check` could not tell what ran.
        public var undecidable: Bool
        /// Sent, and whether they ran is unknown: oldest first.
        public var inDoubt: [T]
        /// Known not to have run and not sent again: oldest first.
        public var unsent: [T]
    }

    /// How many transactions may be in flight at once.
    public let depth: Int
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
    private var inFlight: [T] = []
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
    ///   - depth: transactions in flight at once (1: the next one is
    ///     prepared while the last one runs).
    ///   - maxSize: the size limit when the link is healthy.
    ///   - reconnect: opens a fresh, authenticated link; exit 69 failures
    ///     are retried, any other exit code ends the run.
    ///   - check: how many of the transactions sent (oldest first) ran, or
    ///     nil when it cannot tell; called on the fresh link.
    ///   - describe: the user's words for a link failure that ends the run.
    public init(
        connection: Connection, clientID: Int64?, depth: Int, maxSize: Int, policy: RetryPolicy,
        interruption: Interruption?,
        reconnect: @escaping () throws(RoomWardenError) -> Connection,
        check: @escaping ([T], Connection) throws(RedisError) -> Int?,
        describe: @escaping (RedisError) -> RoomWardenError
    ) {
        self.connection = connection
        self.clientID = clientID
        self.depth = max(1, depth)
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
    public var isIdle: Bool { inFlight.isEmpty && queued.isEmpty }

    /// Sends `transaction` after those before it, settling the oldest ones
    /// (reading their replies) as far as `depth` requires, and calling
    /// `settle` for each, in order. When `settle` returns false, nothing
    /// more is sent: what waits stays queued for `abandon`.
    public func send(_ transaction: T, settle: (Settled) -> Bool) throws(GaveUp) {
        queued.append(transaction)
        try running(settle) { () throws(RedisError) in try pump(settle) }
    }

    /// Sends what waits and reads every reply still due.
    public func settleAll(_ settle: (Settled) -> Bool) throws(GaveUp) {
        try running(settle) { () throws(RedisError) in
            try pump(settle)
            while !inFlight.isEmpty { try settleOldest(settle) }
        }
    }

    /// Gives up now (the caller stops for its own reasons): whatever is in
    /// flight is settled first if the link allows, without retrying.
    public func abandon(_ settle: (Settled) -> Bool) -> (inDoubt: [T], unsent: [T]) {
        do {
            while !inFlight.isEmpty { try settleOldest(settle) }
        } catch {
            // The link failed: what is left in flight stays in doubt.
        }
        defer { inFlight = []; queued = [] }
        return (inFlight, queued)
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

    /// Sends the queued transactions, keeping at most `depth` in flight.
    private func pump(_ settle: (Settled) -> Bool) throws(RedisError) {
        while !queued.isEmpty && !halted {
            while inFlight.count >= depth { try settleOldest(settle) }
            if halted { return }
            let next = queued.removeFirst()
            if next.size > sizeLimit, let (a, b) = next.halves() {
                queued.insert(contentsOf: [a, b], at: 0)
                continue
            }
            inFlight.append(next)
            batch.removeAll()
            next.encode(into: &batch)
            try connection.append(batch)
            try connection.flush()
        }
    }

    /// Reads the replies of the oldest transaction in flight.
    private func settleOldest(_ settle: (Settled) -> Bool) throws(RedisError) {
        let oldest = inFlight[0]
        do {
            let outcome = try oldest.readOutcome(from: connection)
            inFlight.removeFirst()
            outageStarted = nil
            outageCause = nil
            sizeLimit = sizeLimit > maxSize / 2 ? maxSize : sizeLimit * 2
            if !settle(.confirmed(oldest, outcome)) { halted = true }
        } catch where error.disposition == .busy {
            // Nothing of it ran: it goes again, first, after a pause.
            inFlight.removeFirst()
            queued.insert(oldest, at: 0)
            throw error
        }
    }

    /// After a failure: waits, reconnects, finds out what ran, queues the
    /// rest again. Throws when it gives up.
    private func recover(from error: RedisError, _ settle: (Settled) -> Bool) throws(GaveUp) {
        if error.disposition == .refused { throw giveUp(describe(error), retried: false) }
        let started = outageStarted ?? Monotonic.milliseconds()
        if outageStarted == nil { outageCause = error }
        outageStarted = started
        if error.disposition == .lostLink {
            interruption?.guardSocket(nil)
            let largest = inFlight.map(\.size).max() ?? sizeLimit
            sizeLimit = max(1, min(sizeLimit, largest) / 2)
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
                    if !inFlight.isEmpty {
                        guard let ran = try check(inFlight, fresh) else {
                            throw giveUp(last, retried: true, undecidable: true)
                        }
                        for t in inFlight.prefix(ran) where !settle(.foundExecuted(t)) { halted = true }
                        queued.insert(contentsOf: inFlight.dropFirst(ran), at: 0)
                        inFlight = []
                    }
                } catch let failed as RedisError {
                    if failed.disposition != .lostLink { throw giveUp(describe(failed), retried: true) }
                    interruption?.guardSocket(nil)
                    last = describe(failed)
                    continue
                }
                reconnects += 1
                return
            }
        } catch let stop as RetryStop {
            switch stop {
            case .interrupted(let sig): throw giveUp(RoomWardenError(exitCode: 128 + sig, "interrupted"), retried: attempt > 0)
            case .budgetSpent: throw giveUp(last, retried: attempt > 0)
            case .refused(let refused): throw giveUp(refused, retried: true)
            }
        } catch let gaveUp as GaveUp {
            throw gaveUp
        } catch {
            throw giveUp(.failure("\(error)"), retried: attempt > 0)
        }
    }

    /// Makes sure the old link can run nothing more before the check: a
    /// server that stalled may still hold a transaction the old link sent,
    /// and run it after the check said it did not run. `CLIENT KILL ID`
    /// drops the old link and whatever it left unread; from then on the
    /// check's answer stays true. Also learns the new link's id. Without
    /// the ACL for CLIENT, neither is done.
    private func fence(_ fresh: Connection) throws(RedisError) {
        if let old = clientID {
            try fresh.append([Array("CLIENT".utf8), Array("KILL".utf8), Array("ID".utf8), Array(String(old).utf8)])
        }
        try fresh.append([Array("CLIENT".utf8), Array("ID".utf8)])
        let replies = try fresh.readReplies(clientID == nil ? 1 : 2)
        clientID = replies.last?.integer
    }

    private func giveUp(_ error: RoomWardenError, retried: Bool, undecidable: Bool = false) -> GaveUp {
        defer { inFlight = []; queued = [] }
        return GaveUp(error: error, cause: outageCause, retried: retried, undecidable: undecidable,
                      inDoubt: inFlight, unsent: queued)
    }
}
