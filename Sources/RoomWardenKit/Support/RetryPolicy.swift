import Hiredis

/// How a command that lost its server tries again: capped exponential
/// back-off with jitter, for at most `budgetMilliseconds` per outage (from
/// the failure to the next success). `publish --retry-for` sets the budget;
/// 0 never retries.
public struct RetryPolicy: Sendable {
    /// How long one outage may last before the command gives up; 0: at once.
    public var budgetMilliseconds: Int64
    /// The first pause before reconnecting.
    public var firstDelayMilliseconds: Int64 = 50
    /// The longest pause between two attempts.
    public var maxDelayMilliseconds: Int64 = 2000

    public init(budgetMilliseconds: Int64) {
        self.budgetMilliseconds = budgetMilliseconds
    }

    /// The pause before attempt `attempt` (1, 2, ...): doubling from the
    /// first delay up to the cap, each a random value between half and all
    /// of it, so that many clients cut at once do not come back in step.
    public func delay(attempt: Int) -> Int64 {
        let doublings = min(max(attempt - 1, 0), 20)
        let ceiling = min(maxDelayMilliseconds, firstDelayMilliseconds << doublings)
        return Int64.random(in: (ceiling / 2)...max(ceiling / 2, ceiling))
    }
}

/// What a failure means to a caller that retries.
///
/// This is the seam where Cluster and Sentinel plug in later: `MOVED`/`ASK`
/// become redirections to another node, `READONLY` and a failover become
/// "ask the topology again, then retry"; today every node is the one the
/// user named.
public enum FailureDisposition: Sendable, Equatable {
    /// The link failed (closed, reset, timed out): what was in flight is in
    /// doubt; reconnect, find out, go on.
    case lostLink
    /// The server answered that it cannot serve now and ran nothing
    /// (`LOADING`, `BUSY`, `MASTERDOWN`, `TRYAGAIN`, `CLUSTERDOWN`): wait and
    /// send again.
    case busy
    /// The server refused for good (`WRONGTYPE`, `OOM`, `NOPERM`, ...).
    case refused
}

extension RedisError {
    /// Whether retrying can help, and how.
    public var disposition: FailureDisposition {
        guard case .server = self else { return .lostLink }
        switch serverCode ?? "" {
        case "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN": return .busy
        default: return .refused
        }
    }
}
