#if canImport(Glibc)
import Glibc
#endif

/// The points in time `--since` and `--until` take (SPEC §7): a duration
/// back from now (`90s`, `1h30m`), RFC 3339 (`2026-11-21T10:00:00Z`, with an
/// offset or fractional seconds), a date (`2026-11-21`, local midnight),
/// `@EPOCH` seconds, or `now`.
public enum TimePoint {
    /// Unix milliseconds for `text`, relative to `now` (Unix ms).
    public static func milliseconds(_ text: String, now: Int64) -> Int64? {
        let t = text.trimmingSpaces()
        if t == "now" { return now }
        if t.hasPrefix("@") {
            guard let seconds = Double(t.dropFirst()), seconds.isFinite else { return nil }
            return Int64((seconds * 1000).rounded())
        }
        if let date = rfc3339(t) { return date }
        if let back = TimeSpan.milliseconds(t), Double(t) == nil { return now - back }
        return nil
    }

    /// Parses `text` or throws a usage error naming the flag.
    public static func parse(_ text: String, flag: String, now: Int64) throws(RoomWardenError) -> Int64 {
        guard let ms = milliseconds(text, now: now) else {
            throw .usage("\(flag) '\(text)' is not a time: use a duration back from now (90s, 15m, 2h, 7d, 1h30m), RFC 3339 (2026-11-21T10:00:00Z), a date (2026-11-21), @EPOCH or now")
        }
        return ms
    }

    /// `YYYY-MM-DD` (local midnight) or `YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM)`.
    static func rfc3339(_ t: String) -> Int64? {
        let b = Array(t.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard b.count >= 10, let y = num(0, 4), b[4] == 0x2D, let mo = num(5, 2), b[7] == 0x2D, let d = num(8, 2),
              (1...12).contains(mo), (1...daysIn(month: mo, year: y)).contains(d) else { return nil }
        if b.count == 10 {  // a date: local midnight
            var parts = tm()
            parts.tm_year = Int32(y - 1900)
            parts.tm_mon = Int32(mo - 1)
            parts.tm_mday = Int32(d)
            parts.tm_isdst = -1
            let secs = mktime(&parts)
            return secs == -1 ? nil : Int64(secs) * 1000
        }
        guard b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == 0x20,
              let h = num(11, 2), b.count > 13, b[13] == 0x3A, let mi = num(14, 2),
              h < 24, mi < 60 else { return nil }
        var i = 16
        var s = 0
        var ms = 0
        if i < b.count, b[i] == 0x3A {
            guard let sec = num(i + 1, 2), sec < 61 else { return nil }
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
                guard digits > 0 else { return nil }
                for _ in digits..<max(digits, 3) { frac *= 10 }
                ms = frac
            }
        }
        guard i < b.count else { return nil }  // RFC 3339 needs a zone
        var offset = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            guard i + 1 == b.count else { return nil }
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 0x3A, let om = num(i + 4, 2),
                  i + 6 == b.count, oh < 24, om < 60 else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        let days = daysFromCivil(y, mo, d)
        let seconds = days * 86400 + Int64(h * 3600 + mi * 60 + s) - Int64(offset)
        return seconds * 1000 + Int64(ms)
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
