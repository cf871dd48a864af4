#if canImport(Glibc)
import Glibc
#endif

/// How to read a raw score as a time (`--score-unit`).
public enum ScoreUnit: String, Sendable, CaseIterable {
    case seconds = "s"
    case milliseconds = "ms"
    /// Below 1e11 seconds, otherwise milliseconds.
    case auto

    /// The score in Unix milliseconds.
    public func milliseconds(_ score: Double) -> Int64 {
        switch self {
        case .seconds: return Int64((score * 1000).rounded())
        case .milliseconds: return Int64(score.rounded())
        case .auto: return score < 1e11 ? Int64((score * 1000).rounded()) : Int64(score.rounded())
        }
    }

    /// The score that stands for `ms`, for a key whose scores are in
    /// seconds or not.
    public static func score(forMilliseconds ms: Int64, seconds: Bool) -> String {
        if !seconds { return String(ms) }
        let whole = ms.floorDiv(1000)
        let frac = ms - whole * 1000
        return frac == 0 ? String(whole) : "\(whole).\(String(repeating: "0", count: 3 - String(frac).count))\(frac)"
    }
}
