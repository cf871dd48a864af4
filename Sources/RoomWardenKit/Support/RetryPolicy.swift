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

/// Why a retry loop stopped trying.
public enum RetryStop: Error, Sendable {
    /// SIGINT or SIGTERM came.
    case interrupted(Int32)
    /// The outage lasted longer than the budget.
    case budgetSpent
    /// Reconnecting was refused for good (authentication, a bad --db).
    case refused(RoomWardenError)
}

extension RetryPolicy {
    /// The pause before the next attempt of an outage that began at
    /// `outageStarted` (monotonic ms); throws when the budget is spent or
    /// a signal comes (which also cuts the pause short).
    public func pause(outageStarted: Int64, attempt: inout Int, interruption: Interruption?) throws(RetryStop) {
        if let sig = interruption?.signal { throw .interrupted(sig) }
        let spent = Monotonic.milliseconds() - outageStarted
        if spent >= budgetMilliseconds { throw .budgetSpent }
        attempt += 1
        let wait = min(delay(attempt: attempt), budgetMilliseconds - spent)
        if let interruption {
            if !interruption.sleep(milliseconds: wait), let sig = interruption.signal { throw .interrupted(sig) }
        } else {
            Monotonic.sleep(milliseconds: wait)
        }
    }

    /// Pauses and connects again until `connect` succeeds. A server that
    /// cannot be reached (exit 69) is tried again, its failure kept in
    /// `lastFailure`; any other failure ends the outage.
    public func reconnect<Link>(
        outageStarted: Int64, attempt: inout Int, interruption: Interruption?, lastFailure: inout RoomWardenError?,
        connect: () throws(RoomWardenError) -> Link
    ) throws(RetryStop) -> Link {
        while true {
            try pause(outageStarted: outageStarted, attempt: &attempt, interruption: interruption)
            do {
                return try connect()
            } catch where error.exitCode == 69 {
                lastFailure = error
            } catch {
                throw .refused(error)
            }
        }
    }
}

/// What a failure means to a caller that retries.
public enum FailureDisposition: Sendable, Equatable {
    /// The link failed (closed, reset, timed out): what was in flight is in
    /// doubt; reconnect, find out, go on.
    case lostLink
    /// The server answered that it cannot serve now and ran nothing
    /// (`LOADING`, `BUSY`, `MASTERDOWN`, `TRYAGAIN`, `CLUSTERDOWN`): wait and
    /// send again.
    case busy
    /// The server ran nothing and named, or implied, another node: `MOVED`
    /// and `ASK` (a Redis Cluster slot served elsewhere), `READONLY` (the
    /// node was demoted to a replica). Ask the topology where to go, go
    /// there, send again.
    case redirected
    /// The server refused for good (`WRONGTYPE`, `OOM`, `NOPERM`, ...).
    case refused
}

extension RedisError {
    /// Whether retrying can help, and how.
    public var disposition: FailureDisposition {
        guard case .server = self else { return .lostLink }
        switch serverCode ?? "" {
        case "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN": return .busy
        case "MOVED", "ASK", "READONLY": return .redirected
        default: return .refused
        }
    }
}
