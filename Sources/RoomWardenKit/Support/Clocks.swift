#if canImport(Glibc)
import Glibc
#endif

/// The wall clock in Unix milliseconds: message times, archive scores,
/// windows. It can jump (NTP, a changed date): never use it for timeouts.
public enum WallClock {
    /// Milliseconds since the Unix epoch, now.
    public static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// A clock that never jumps, in milliseconds: timeouts, heartbeats, rates.
public enum Monotonic {
    /// Milliseconds since an arbitrary fixed point (boot).
    public static func milliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

extension Monotonic {
    /// Sleeps `milliseconds` (through signals that interrupt nanosleep).
    public static func sleep(milliseconds: Int64) {
        guard milliseconds > 0 else { return }
        var want = timespec(tv_sec: Int(milliseconds / 1000), tv_nsec: Int(milliseconds % 1000) * 1_000_000)
        var left = timespec()
        while nanosleep(&want, &left) != 0 && errno == EINTR { want = left }
    }
}
