/// Redis' glob rules (`*`, `?`, `[abc]`, `[^a-z]`, `\x`), on bytes, as
/// PSUBSCRIBE and SCAN MATCH apply them.
public struct Glob: Sendable, Equatable {
    /// The pattern's bytes.
    public let pattern: [UInt8]

    public init(_ pattern: [UInt8]) { self.pattern = pattern }
    public init(_ pattern: String) { self.pattern = Array(pattern.utf8) }

    /// True if the pattern has no special characters (it names one channel).
    public var isLiteral: Bool {
        !pattern.contains { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "\\") }
    }

    /// Does `text` match?
    public func matches(_ text: UnsafeRawBufferPointer) -> Bool {
        pattern.withUnsafeBytes { Glob.match($0, 0, text, 0) }
    }

    /// Does `text` match?
    public func matches(_ text: [UInt8]) -> Bool {
        text.withUnsafeBytes { matches($0) }
    }

    private static func match(_ p: UnsafeRawBufferPointer, _ pi: Int, _ s: UnsafeRawBufferPointer, _ si: Int) -> Bool {
        var pi = pi, si = si
        while pi < p.count {
            let c = p[pi]
            switch c {
            case UInt8(ascii: "*"):
                while pi + 1 < p.count && p[pi + 1] == UInt8(ascii: "*") { pi += 1 }
                if pi + 1 == p.count { return true }
                var k = si
                while k <= s.count {
                    if match(p, pi + 1, s, k) { return true }
                    k += 1
                }
                return false
            case UInt8(ascii: "?"):
                if si >= s.count { return false }
                si += 1
            case UInt8(ascii: "["):
                if si >= s.count { return false }
                pi += 1
                let negate = pi < p.count && p[pi] == UInt8(ascii: "^")
                if negate { pi += 1 }
                var matched = false
                while pi < p.count && p[pi] != UInt8(ascii: "]") {
                    if p[pi] == UInt8(ascii: "\\") && pi + 1 < p.count {
                        pi += 1
                        if p[pi] == s[si] { matched = true }
                    } else if pi + 2 < p.count && p[pi + 1] == UInt8(ascii: "-") && p[pi + 2] != UInt8(ascii: "]") {
                        var lo = p[pi], hi = p[pi + 2]
                        if lo > hi { swap(&lo, &hi) }
                        if s[si] >= lo && s[si] <= hi { matched = true }
                        pi += 2
                    } else if p[pi] == s[si] {
                        matched = true
                    }
                    pi += 1
                }
                if negate { matched.toggle() }
                if !matched { return false }
                si += 1
            case UInt8(ascii: "\\") where pi + 1 < p.count:
                pi += 1
                if si >= s.count || p[pi] != s[si] { return false }
                si += 1
            default:
                if si >= s.count || c != s[si] { return false }
                si += 1
            }
            pi += 1
        }
        return si == s.count
    }
}
