#if canImport(Glibc)
import Glibc
#endif

/// RFC 3339 with milliseconds, the part up to the seconds cached per second.
struct TimeStamper {
    let local: Bool
    private var second = Int64.min
    /// "2026-11-21T22:27:25." then "Z" or "+01:00", kept inline (no
    /// reference counting on the hot path).
    private var head: (UInt64, UInt64, UInt64) = (0, 0, 0)
    private var headCount = 0
    private var tail: (UInt64) = 0
    private var tailCount = 0

    init(local: Bool) { self.local = local }

    /// The Unix milliseconds RFC 3339 can print: 0000-01-01T00:00:00.000Z
    /// to 9999-12-31T23:59:59.999Z. Anything outside is no time to print.
    static let printable: ClosedRange<Int64> = -62_167_219_200_000...253_402_300_799_999

    /// Appends `ms` as RFC 3339; `ms` must be in `printable`.
    mutating func append(_ ms: Int64, to out: inout [UInt8]) {
        let sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        if sec != second { render(sec) }
        let count = headCount
        withUnsafeBytes(of: &head) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        let frac = Int(ms - sec * 1000)
        out.append(UInt8(0x30 + frac / 100)); out.append(UInt8(0x30 + frac / 10 % 10)); out.append(UInt8(0x30 + frac % 10))
        let tc = tailCount
        withUnsafeBytes(of: &tail) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<tc])) }
    }

    private mutating func render(_ sec: Int64) {
        second = sec
        var offset = 0
        if local {
            var t = time_t(sec)
            var parts = tm()
            localtime_r(&t, &parts)
            offset = parts.tm_gmtoff
        }
        var (y, mo, d) = civil(days: (sec + Int64(offset)).floorDiv(86400))
        // RFC 3339 has four-digit years and offsets in whole minutes: a
        // local time it cannot write (the year 0 west of UTC, 9999 east of
        // it, an old local mean time such as +00:19:32) is written in UTC.
        let inUTC = !local || offset % 60 != 0 || !(0...9999).contains(y)
        if local && inUTC {
            offset = 0
            (y, mo, d) = civil(days: sec.floorDiv(86400))
        }
        let daySec = Int((sec + Int64(offset)) - (sec + Int64(offset)).floorDiv(86400) * 86400)
        let headBytes = Array(fourDigits(y).utf8) + [0x2D] + two(mo) + [0x2D] + two(d) + [0x54]
            + two(daySec / 3600) + [0x3A] + two(daySec / 60 % 60) + [0x3A] + two(daySec % 60) + [0x2E]
        var tailBytes: [UInt8] = [0x5A]
        if !inUTC {
            let sign: UInt8 = offset < 0 ? 0x2D : 0x2B
            let a = abs(offset)
            tailBytes = [sign] + two(a / 3600) + [0x3A] + two(a / 60 % 60)
        }
        headCount = min(headBytes.count, 24)
        withUnsafeMutableBytes(of: &head) { raw in for i in 0..<headCount { raw[i] = headBytes[i] } }
        tailCount = tailBytes.count
        withUnsafeMutableBytes(of: &tail) { raw in for i in 0..<tailCount { raw[i] = tailBytes[i] } }
    }

    private func two(_ v: Int) -> [UInt8] { [UInt8(0x30 + v / 10 % 10), UInt8(0x30 + v % 10)] }

    /// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
    private func civil(days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), Int(m), Int(d))
    }
}

extension Int64 {
    func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : (self - d + 1) / d }
}

/// A year as four digits.
func fourDigits(_ v: Int) -> String {
    let digits = String(v)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
