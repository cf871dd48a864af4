#if canImport(Glibc)
import Glibc
#endif

/// A point in time as `--since` and `--until` take it (SPEC §7): a duration
/// back from now (`90s`, `1h30m`, also written `-1h`), RFC 3339
/// (`2026-11-21T10:00:00Z`, with an offset or fractional seconds), a local
/// date (`2026-11-21`, local midnight) or local time without a zone
/// (`2026-11-22 02:00:00`, as `date -d` reads it), `@EPOCH` seconds, or
/// `now`. Range-checked here, once: from 0000-01-01 to 9999-12-31 UTC, and
/// at most 100 years back.
public struct TimePoint: Sendable, Equatable, CustomStringConvertible {
    /// The earliest time accepted: 0000-01-01T00:00:00Z, in Unix ms.
    public static let earliest: Int64 = -62_167_219_200_000
    /// The latest time accepted: 9999-12-31T23:59:59.999Z, in Unix ms.
    public static let latest: Int64 = 253_402_300_799_999

    private enum Kind: Sendable, Equatable {
        case now
        case ago(Span)
        case at(Int64)
    }

    private let kind: Kind
    /// The text as it was given, for messages.
    public let text: String

    private init(kind: Kind, text: String) {
        self.kind = kind
        self.text = text
    }

    /// Unix milliseconds, relative to `now` (Unix ms) for `90s` and `now`.
    public func milliseconds(now: Int64) -> Int64 {
        switch kind {
        case .now: return now
        case .ago(let span): return now - span.milliseconds
        case .at(let ms): return ms
        }
    }

    public var description: String { text }

    static let usage = "not a time: use a duration back from now (90s, 15m, 2h, 7d, 1h30m), RFC 3339 (2026-11-21T10:00:00Z), a local date or time (2026-11-21, '2026-11-21 10:00'), @EPOCH or now"
    static let outOfRange = "out of range: a time is between 0000-01-01 and 9999-12-31"

    /// Parses a time; says what is wrong otherwise.
    public init(parsing text: String) throws(ValueError) {
        var scanner = ValueScanner(text)
        let given = String(decoding: scanner.bytes, as: UTF8.self)
        if scanner.isEmpty { throw ValueError(TimePoint.usage) }
        if given.lowercased() == "now" {
            self.init(kind: .now, text: given)
            return
        }
        if scanner.skip(UInt8(ascii: "@")) {
            let negative = scanner.skip(UInt8(ascii: "-"))
            guard let seconds = scanner.decimal(), scanner.atEnd else {
                throw ValueError("not Unix seconds: use e.g. @1763762245 or @1763762245.5")
            }
            let ms = (negative ? -seconds : seconds) * 1000
            guard ms >= Double(TimePoint.earliest), ms <= Double(TimePoint.latest) else { throw ValueError(TimePoint.outOfRange) }
            self.init(kind: .at(Int64(ms.rounded())), text: given)
            return
        }
        if scanner.bytes.count >= 10, scanner.bytes[4] == UInt8(ascii: "-"), scanner.bytes[0] != UInt8(ascii: "-") {
            let ms = try TimePoint.calendar(scanner.bytes)
            guard ms >= TimePoint.earliest, ms <= TimePoint.latest else { throw ValueError(TimePoint.outOfRange) }
            self.init(kind: .at(ms), text: given)
            return
        }
        // A duration back from now; `-1h` says the same as `1h`.
        _ = scanner.skip(UInt8(ascii: "-"))
        let start = scanner.index
        guard let back = Span.scan(&scanner), scanner.atEnd else { throw ValueError(TimePoint.usage) }
        if scanner.bytes[start...].allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") }) {
            throw ValueError("a bare number is not a time: write 5m for five minutes ago, or @5 for Unix seconds")
        }
        guard back <= Double(Span.longest.milliseconds) else {
            throw ValueError("too far back: a duration back from now is at most 100 years (36500d)")
        }
        self.init(kind: .ago(Span(milliseconds: Int64(back.rounded())) ?? .longest), text: given)
    }

    /// `YYYY-MM-DD` (local midnight), `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]`
    /// with a zone (`Z`, `±HH:MM`) or without one (local time).
    static func calendar(_ b: [UInt8]) throws(ValueError) -> Int64 {
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        let bad = ValueError(usage)
        guard let y = num(0, 4), b[4] == 0x2D, let mo = num(5, 2), b[7] == 0x2D, let d = num(8, 2) else { throw bad }
        guard (1...12).contains(mo), (1...daysIn(month: mo, year: y)).contains(d) else {
            throw ValueError("no such date: \(String(decoding: b[0..<10], as: UTF8.self))")
        }
        if b.count == 10 {  // a date: local midnight, whatever the zone's rules make of it
            return try local(y, mo, d, 0, 0, 0, 0, exact: false)
        }
        guard b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == 0x20,
              let h = num(11, 2), b.count > 13, b[13] == 0x3A, let mi = num(14, 2) else { throw bad }
        guard h < 24, mi < 60 else { throw ValueError("no such time of day: \(String(decoding: b[11..<16], as: UTF8.self))") }
        var i = 16
        var s = 0
        var ms = 0
        if i < b.count, b[i] == 0x3A {
            guard let sec = num(i + 1, 2) else { throw bad }
            guard sec < 61 else { throw ValueError("no such second: \(sec)") }
            s = sec
            i += 3
            if i < b.count, b[i] == 0x2E || b[i] == 0x2C {
                i += 1
                var digits = 0
                var frac = 0
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                    if digits < 3 { frac = frac * 10 + Int(b[i] - 0x30) }
                    digits += 1
                    i += 1
                }
                guard digits > 0 else { throw bad }
                for _ in digits..<max(digits, 3) { frac *= 10 }
                ms = frac
            }
        }
        if i == b.count {  // no zone: local time, as date -d reads it
            return try local(y, mo, d, h, mi, s, ms, exact: true)
        }
        var offset = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            guard i + 1 == b.count else { throw bad }
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3A, let om = num(i + 4, 2),
                  i + 6 == b.count, oh < 24, om < 60 else { throw bad }
            offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            throw bad
        }
        let days = daysFromCivil(y, mo, d)
        let seconds = days * 86400 + Int64(h * 3600 + mi * 60 + s) - Int64(offset)
        return seconds * 1000 + Int64(ms)
    }

    /// A local wall-clock time in Unix ms, by the zone's rules (`TZ`). With
    /// `exact`, a time a daylight-saving change skips is refused, as
    /// `date -d` refuses it, instead of being moved.
    private static func local(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int, _ ms: Int,
                              exact: Bool) throws(ValueError) -> Int64 {
        var parts = tm()
        parts.tm_year = Int32(y - 1900)
        parts.tm_mon = Int32(mo - 1)
        parts.tm_mday = Int32(d)
        parts.tm_hour = Int32(h)
        parts.tm_min = Int32(mi)
        parts.tm_sec = Int32(min(s, 59))
        parts.tm_isdst = -1
        let secs = mktime(&parts)
        let moved = parts.tm_mday != Int32(d) || parts.tm_hour != Int32(h) || parts.tm_min != Int32(mi)
        if secs == -1 && moved { throw ValueError(TimePoint.outOfRange) }
        if exact && moved {
            throw ValueError("no such local time: a daylight-saving change skips it; give a zone (Z or +HH:MM)")
        }
        return Int64(secs) * 1000 + Int64(ms) + (s == 60 ? 1000 : 0)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int64 {
        let y = Int64(m <= 2 ? y0 - 1 : y0)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64(m > 2 ? m - 3 : m + 9)
        let doy = (153 * mp + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
