/// Parses the durations users type: `90s`, `15m`, `2h`, `7d`, `1h30m`,
/// `500ms`, `1.5s`; a bare number is seconds.
public enum TimeSpan {
    /// The duration in milliseconds, or nil if the text is not a duration.
    public static func milliseconds(_ text: String) -> Int64? {
        let t = text.trimmingSpaces()
        if t.isEmpty { return nil }
        if let plain = Double(t), plain >= 0, plain.isFinite { return Int64((plain * 1000).rounded()) }
        var total: Double = 0
        var i = t.startIndex
        var sawPart = false
        while i < t.endIndex {
            let numStart = i
            while i < t.endIndex, t[i].isNumber || t[i] == "." { i = t.index(after: i) }
            guard numStart < i, let value = Double(t[numStart..<i]) else { return nil }
            let unitStart = i
            while i < t.endIndex, t[i].isLetter { i = t.index(after: i) }
            let scale: Double
            switch t[unitStart..<i] {
            case "ms": scale = 1
            case "s": scale = 1000
            case "m": scale = 60_000
            case "h": scale = 3_600_000
            case "d": scale = 86_400_000
            case "w": scale = 604_800_000
            default: return nil
            }
            total += value * scale
            sawPart = true
        }
        return sawPart ? Int64(total.rounded()) : nil
    }

    /// The duration as a Swift `Duration`, or a usage error naming the flag.
    public static func parse(_ text: String, flag: String) throws(RoomWardenError) -> Duration {
        guard let ms = milliseconds(text) else {
            throw .usage("\(flag) '\(text)' is not a duration: use e.g. 500ms, 90s, 15m, 2h, 7d, 1h30m")
        }
        return .milliseconds(ms)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
