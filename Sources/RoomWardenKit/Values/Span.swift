/// A duration as users type it: `90s`, `15m`, `2h`, `7d`, `2w`, `1h30m`,
/// `500ms`, `1.5s`, or a bare number of seconds. Whole milliseconds (at
/// least 1 when more than 0 was typed), from 0 to 100 years: range-checked
/// here, once, so no caller can overflow.
public struct Span: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The length in milliseconds, 0 ... `Span.longest.milliseconds`.
    public let milliseconds: Int64

    /// No time at all.
    public static let zero = Span(unchecked: 0)
    /// The longest duration accepted: 100 years of 365 days.
    public static let longest = Span(unchecked: 100 * 365 * 86_400_000)

    private init(unchecked milliseconds: Int64) { self.milliseconds = milliseconds }

    /// `n` seconds, held within 0 ... 100 years.
    public static func seconds(_ n: Int64) -> Span {
        Span(unchecked: min(max(n, 0), longest.milliseconds / 1000) * 1000)
    }

    /// A span of `milliseconds`; nil outside 0 ... 100 years.
    public init?(milliseconds: Int64) {
        guard milliseconds >= 0, milliseconds <= Span.longest.milliseconds else { return nil }
        self.milliseconds = milliseconds
    }

    /// Parses a duration; says what is wrong otherwise.
    public init(parsing text: String) throws(ValueError) {
        var scanner = ValueScanner(text)
        guard let ms = Span.scan(&scanner), scanner.atEnd else {
            throw ValueError("not a duration: use e.g. 500ms, 90s, 15m, 2h, 7d, 1h30m")
        }
        guard ms <= Double(Span.longest.milliseconds) else {
            throw ValueError("too long: a duration is at most 100 years (36500d)")
        }
        // Whole milliseconds; what is more than 0 stays more than 0
        // (`--timeout 0.4ms` must not become 0, "wait for ever").
        milliseconds = ms > 0 ? max(1, Int64(ms.rounded())) : 0
    }

    /// Reads a duration at the scanner into milliseconds (not range
    /// checked): number-unit parts, or one bare number of seconds.
    static func scan(_ scanner: inout ValueScanner) -> Double? {
        var total = 0.0
        var parts = 0
        while !scanner.atEnd {
            guard let value = scanner.decimal() else { break }
            let unit = scanner.word()
            let scale: Double
            switch unit {
            case "": scale = 1000; guard parts == 0, scanner.atEnd else { return nil }
            case "ms": scale = 1
            case "s": scale = 1000
            case "m": scale = 60_000
            case "h": scale = 3_600_000
            case "d": scale = 86_400_000
            case "w": scale = 604_800_000
            default: return nil
            }
            total += value * scale
            parts += 1
        }
        return parts > 0 ? total : nil
    }

    /// The span as a Swift `Duration`.
    public var duration: Duration { .milliseconds(milliseconds) }

    /// Microseconds, for `usleep`-style waits.
    public var microseconds: Int64 { milliseconds * 1000 }

    /// The shortest way to type it back: `5s`, `15m`, `1h30m`, `1500ms`.
    public var description: String {
        if milliseconds == 0 { return "0s" }
        var rest = milliseconds
        var out = ""
        if rest % 1000 != 0 { return "\(rest)ms" }
        rest /= 1000
        for (unit, size) in [("d", Int64(86_400)), ("h", 3600), ("m", 60), ("s", 1)] where rest >= size {
            out += "\(rest / size)\(unit)"
            rest %= size
        }
        return out
    }

    public static func < (a: Span, b: Span) -> Bool { a.milliseconds < b.milliseconds }
}
