#if canImport(Glibc)
import Glibc
#endif

/// A time budget for retrying one operation (`--retry-for`, `--timeout`),
/// with the back-off of `RetryPolicy` between attempts (here 50 ms
/// doubling to 1 s, each wait between half and all of that).
///
/// Measured on the monotonic clock: a wall clock jump neither ends nor
/// stretches the budget.
public struct RetryBudget: Sendable {
    /// When the budget runs out, in `Monotonic` milliseconds.
    public let deadline: Int64
    /// How long the whole budget was.
    public let total: Duration
    /// The option that set it, for messages (`--retry-for`, `--timeout`).
    public let flag: String
    /// Waits taken so far.
    public private(set) var attempts = 0
    private let backoff: RetryPolicy

    /// A budget of `total` from now.
    public init(_ total: Duration, flag: String = "--retry-for", firstDelay: Duration = .milliseconds(50), cap: Duration = .seconds(1)) {
        self.total = total
        self.flag = flag
        let ms = RetryBudget.milliseconds(total)
        deadline = Monotonic.milliseconds() + ms
        var backoff = RetryPolicy(budgetMilliseconds: ms)
        backoff.firstDelayMilliseconds = RetryBudget.milliseconds(firstDelay)
        backoff.maxDelayMilliseconds = RetryBudget.milliseconds(cap)
        self.backoff = backoff
    }

    /// Milliseconds left, never below zero.
    public var remainingMilliseconds: Int64 { max(0, deadline - Monotonic.milliseconds()) }

    /// True once the deadline has passed.
    public var isSpent: Bool { Monotonic.milliseconds() >= deadline }

    /// Sleeps before the next attempt: false (without sleeping) when the
    /// budget is spent; the last wait is cut short at the deadline.
    public mutating func wait() -> Bool {
        let left = remainingMilliseconds
        guard left > 0 else { return false }
        attempts += 1
        let delay = min(left, max(1, backoff.delay(attempt: attempts)))
        usleep(UInt32(delay * 1000))
        return true
    }

    /// `total` as readable seconds and the option that set it, for
    /// messages: `30s (--timeout)`, `1.5s (--retry-for)`.
    public var totalDescription: String {
        let ms = RetryBudget.milliseconds(total)
        return (ms % 1000 == 0 ? "\(ms / 1000)s" : "\(Double(ms) / 1000)s") + " (\(flag))"
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        let (s, atto) = d.components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
