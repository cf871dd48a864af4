/// The transactions confirmed lately, oldest first, kept so that they can
/// be checked again on another server after a switch (see
/// `ResumableTransactions`): Redis replicates asynchronously, so a replica
/// promoted after a crash may lack what the old server confirmed last.
///
/// Bounded three ways: by age (what was confirmed longer ago than that
/// before a loss has long reached the replicas), by count and by bytes (so
/// that a fast stream keeps a shorter span, never unbounded memory).
public struct RecentTransactions<T: ResumableTransaction> {
    /// The limits.
    public let limits: RecheckWindow
    /// Kept from `head` on; those before it were dropped (set to nil at
    /// once, so their memory goes then, not at the next compaction).
    private var entries: [(transaction: T?, at: Int64)] = []
    private var head = 0
    private var bytes = 0

    /// An empty window.
    public init(limits: RecheckWindow) {
        self.limits = limits
    }

    /// How many are kept.
    public var count: Int { entries.count - head }

    /// Keeps `transaction`, confirmed at `at` (monotonic ms), dropping the
    /// oldest beyond the limits.
    public mutating func add(_ transaction: T, at: Int64) {
        entries.append((transaction, at))
        bytes += transaction.size
        while head < entries.count - 1,
              count > limits.count || bytes > limits.bytes || entries[head].at < at - limits.milliseconds {
            bytes -= entries[head].transaction?.size ?? 0
            entries[head].transaction = nil
            head += 1
        }
        if head > 1024 && head > entries.count / 2 {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// Those confirmed at `since` or later, oldest first.
    public func confirmed(since: Int64) -> [T] {
        entries[head...].filter { $0.at >= since }.compactMap(\.transaction)
    }

    /// After a check of `confirmed(since:)` on a new server: keeps those
    /// found there (`missing[i]` false), drops the others (they are sent
    /// again, and kept again once confirmed) and everything older.
    public mutating func keepFound(since: Int64, missing: [Bool]) {
        let checked = entries[head...].filter { $0.at >= since }
        entries = zip(checked, missing).filter { !$0.1 }.map(\.0)
        head = 0
        bytes = entries.reduce(0) { $0 + ($1.transaction?.size ?? 0) }
    }
}

/// How much of what was confirmed lately `ResumableTransactions` keeps to
/// check again after a switch of server.
public struct RecheckWindow: Sendable, Equatable {
    /// Transactions confirmed longer ago than this are dropped.
    public var milliseconds: Int64
    /// At most this many transactions.
    public var count: Int
    /// At most this many bytes (`ResumableTransaction.size`).
    public var bytes: Int

    /// Limits.
    public init(milliseconds: Int64, count: Int, bytes: Int) {
        self.milliseconds = milliseconds
        self.count = count
        self.bytes = bytes
    }

    /// 30 s, 20,000 transactions, 32 MB: a forced failover (the old
    /// server keeps taking writes until it is demoted, seconds later)
    /// and the replication lag of a crash are both inside 30 s; 32 MB
    /// bounds what a fast stream keeps.
    public static let standard = RecheckWindow(milliseconds: 30_000, count: 20_000, bytes: 32 << 20)
}
