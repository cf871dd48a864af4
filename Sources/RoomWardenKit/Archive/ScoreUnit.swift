#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// How to read a raw score as a time (`--score-unit`): the one place that
/// decides between seconds and milliseconds.
public enum ScoreUnit: String, Sendable, CaseIterable {
    case seconds = "s"
    case milliseconds = "ms"
    /// Below 1e11 seconds, otherwise milliseconds.
    case auto

    /// Scores below this are seconds for `auto` (1e11 s is the year 5138;
    /// 1e11 ms is 1973).
    static let secondsBelow = 1e11

    /// The unit of an archive whose newest timed score is `newest` (nil for
    /// an empty archive): `auto` decides by it, `s` and `ms` stay as given.
    public func resolved(newestScore newest: Double?) -> ScoreUnit {
        guard self == .auto else { return self }
        guard let newest else { return .milliseconds }
        return newest < ScoreUnit.secondsBelow ? .seconds : .milliseconds
    }

    /// The score as Unix milliseconds, or nil when it is no time:
    /// infinite, or outside the years 0000 to 9999 that RFC 3339 can print.
    /// `auto` decides by the score itself.
    public func milliseconds(_ score: Double) -> Int64? {
        let unit = resolved(newestScore: score)
        let ms = unit == .seconds ? score * 1000 : score
        guard ms.isFinite else { return nil }
        let rounded = ms.rounded()
        guard rounded >= Double(TimeStamper.printable.lowerBound), rounded <= Double(TimeStamper.printable.upperBound) else { return nil }
        return Int64(rounded)
    }

    /// The score that stands for `ms` in an archive of this unit (`auto`
    /// counts as milliseconds): exact, with no rounding.
    public func score(forMilliseconds ms: Int64) -> Score {
        self == .seconds ? Score(scaled: ms, decimals: 3) : Score(ms)
    }

    /// A score in this unit as milliseconds for ordering entries of
    /// archives in different units (no range check: infinities order too).
    public func order(_ score: Double) -> Double {
        self == .seconds ? score * 1000 : score
    }
}
