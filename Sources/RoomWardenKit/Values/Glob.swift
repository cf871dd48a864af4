/// Redis' glob rules (`*`, `?`, `[abc]`, `[^a-z]`, `\x`), on bytes, exactly
/// as PSUBSCRIBE, KEYS and SCAN MATCH apply them: a port of
/// `stringmatchlen` (util.c, Redis 7.0) with its quirks kept, so that
/// roomwarden never disagrees with the server about which channel a
/// pattern matches:
///
/// - `[a-]` is the range from `a` to `]` (the `-` needs no third byte
///   before the `]`), reversed ranges are swapped, and range bounds
///   compare as C's signed `char` (x86-64), so a byte >= 0x80 sorts
///   below `a`;
/// - an unterminated class (`[ab`) ends the pattern; `\` escapes the next
///   byte inside and outside a class, and a trailing `\` is literal;
/// - `*` matches at least one byte where it is the last thing left to
///   match against a non-empty rest, so `*` never matches the empty name
///   (KEYS and SCAN special-case a lone `*`; pub/sub does not);
/// - after a `*` fails at every position, the earlier `*`s stop trying
///   longer spans (Redis' fix for CVE-2022-36021): matching costs about
///   pattern length times name length, never exponential time.
public struct Glob: Sendable, Equatable {
    /// The pattern's bytes.
    public let pattern: [UInt8]

    public init(_ pattern: [UInt8]) { self.pattern = pattern }
    public init(_ pattern: String) { self.pattern = Array(pattern.utf8) }

    /// True if the pattern has no special characters (it names one channel).
    public var isLiteral: Bool {
        !pattern.contains { $0 == Glob.star || $0 == Glob.question || $0 == Glob.open || $0 == Glob.backslash }
    }

    /// `literal` as a target that names exactly that channel: as it is
    /// when it has no special character, else with each one escaped.
    public static func escaping(_ literal: [UInt8]) -> String {
        if Glob(literal).isLiteral { return String(decoding: literal, as: UTF8.self) }
        var out: [UInt8] = []
        for b in literal {
            if b == star || b == question || b == open || b == close || b == backslash { out.append(backslash) }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Does `text` match?
    public func matches(_ text: UnsafeRawBufferPointer) -> Bool {
        pattern.withUnsafeBytes { p in
            var skipLongerMatches = false
            return Glob.match(p, 0, text, 0, &skipLongerMatches)
        }
    }

    /// Does `text` match?
    public func matches(_ text: [UInt8]) -> Bool {
        text.withUnsafeBytes { matches($0) }
    }

    private static let star = UInt8(ascii: "*"), question = UInt8(ascii: "?"), open = UInt8(ascii: "[")
    private static let close = UInt8(ascii: "]"), caret = UInt8(ascii: "^"), dash = UInt8(ascii: "-")
    private static let backslash = UInt8(ascii: "\\")

    /// `stringmatchlen_impl` with `nocase` off. Indexes replace C's moving
    /// pointers; `at` stands for C reading one byte past the end, where
    /// Redis' strings hold their NUL terminator.
    private static func match(
        _ p: UnsafeRawBufferPointer, _ patternStart: Int,
        _ s: UnsafeRawBufferPointer, _ textStart: Int,
        _ skipLongerMatches: inout Bool
    ) -> Bool {
        @inline(__always) func at(_ i: Int) -> UInt8 { i < p.count ? p[i] : 0 }
        @inline(__always) func signed(_ b: UInt8) -> Int { Int(Int8(bitPattern: b)) }
        var pi = patternStart, si = textStart
        while pi < p.count && si < s.count {
            switch p[pi] {
            case star:
                while at(pi + 1) == star { pi += 1 }
                if p.count - pi == 1 { return true }
                while si < s.count {
                    if match(p, pi + 1, s, si, &skipLongerMatches) { return true }
                    if skipLongerMatches { return false }
                    si += 1
                }
                skipLongerMatches = true
                return false
            case question:
                si += 1
            case open:
                pi += 1
                let negated = at(pi) == caret
                if negated { pi += 1 }
                let c = s[si]
                var matched = false
                while true {
                    let left = p.count - pi
                    if at(pi) == backslash && left >= 2 {
                        pi += 1
                        if p[pi] == c { matched = true }
                    } else if at(pi) == close {
                        break
                    } else if left == 0 {
                        pi -= 1  // unterminated: the class ends the pattern
                        break
                    } else if left >= 3 && p[pi + 1] == dash {
                        var low = signed(p[pi]), high = signed(p[pi + 2])
                        if low > high { swap(&low, &high) }
                        pi += 2
                        if signed(c) >= low && signed(c) <= high { matched = true }
                    } else if p[pi] == c {
                        matched = true
                    }
                    pi += 1
                }
                if negated { matched.toggle() }
                if !matched { return false }
                si += 1
            default:
                if p[pi] == backslash && p.count - pi >= 2 { pi += 1 }
                if p[pi] != s[si] { return false }
                si += 1
            }
            pi += 1
            if si == s.count {
                while at(pi) == star { pi += 1 }
                break
            }
        }
        return pi == p.count && si == s.count
    }
}
