#if canImport(Glibc)
import Glibc
#endif

/// `watch --grep`: a POSIX extended regular expression, the dialect of
/// `grep -E` (`a|b`, `(x)+`, `[[:digit:]]{3}`, `^`, `$`, `\<word\>`),
/// matched anywhere in the message's payload bytes. The C library's
/// regcomp/regexec do the work, in the C.UTF-8 locale where the system has
/// it, so `.` is one character and `-i` folds case.
///
/// Not Sendable: one thread (the one that formats) uses it.
public final class GrepFilter {
    private let compiled: UnsafeMutablePointer<regex_t>
    /// C.UTF-8 for this filter's calls only (uselocale), nil to stay in C.
    private let locale: locale_t?

    /// Compiles `pattern`; a usage error (exit 64) says what regcomp
    /// found wrong.
    public init(_ pattern: String, ignoreCase: Bool = false) throws(RoomWardenError) {
        // Everything is made in locals first: a throw before the stored
        // properties are set runs no deinit, so nothing is freed twice.
        if let reference = GrepFilter.backReference(in: pattern) {
            throw .usage("--grep '\(pattern)' uses the back-reference \\\(reference): matching one can take exponential time on a long message, so roomwarden does not take them; match the text itself, or pipe the output to grep -E")
        }
        let locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil)
        let regex = UnsafeMutablePointer<regex_t>.allocate(capacity: 1)
        var flags = REG_EXTENDED | REG_NOSUB
        if ignoreCase { flags |= REG_ICASE }
        let status = GrepFilter.inLocale(locale) { regcomp(regex, pattern, flags) }
        guard status == 0 else {
            var text = [CChar](repeating: 0, count: 256)
            regerror(status, regex, &text, text.count)
            regex.deallocate()
            if let locale { freelocale(locale) }
            throw .usage("--grep '\(pattern)' is not an extended regular expression (the grep -E dialect): \(GrepFilter.problem(pattern, regerror: text))")
        }
        self.compiled = regex
        self.locale = locale
    }

    deinit {
        regfree(compiled)
        compiled.deallocate()
        if let locale { freelocale(locale) }
    }

    /// True if the pattern matches somewhere in `payload` (binary-safe:
    /// NUL bytes are characters like any other).
    public func matches(_ payload: UnsafeRawBufferPointer) -> Bool {
        var span = regmatch_t(rm_so: 0, rm_eo: regoff_t(payload.count))
        return GrepFilter.inLocale(locale) {
            guard let base = payload.baseAddress else { return regexec(compiled, "", 1, &span, REG_STARTEND) == 0 }
            return regexec(compiled, base.assumingMemoryBound(to: CChar.self), 1, &span, REG_STARTEND) == 0
        }
    }

    /// What is wrong, where: RegexProblem's position when it finds the
    /// fault, else the C library's reason; and a word on Perl syntax,
    /// which is not grep -E.
    private static func problem(_ pattern: String, regerror text: [CChar]) -> String {
        let reason = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).lowercased()
        let located = RegexProblem.describe(pattern)
        var said = located.hasPrefix("check its") ? reason : located
        if pattern.contains("(?") { said += "; Perl syntax such as (?i) is not part of grep -E: use -i" }
        return said
    }

    /// The digit of the first back-reference (`\1` to `\9`) outside a
    /// bracket expression, where a backslash is a plain character.
    static func backReference(in pattern: String) -> Character? {
        var chars = Array(pattern)[...]
        while let c = chars.popFirst() {
            switch c {
            case "\\":
                guard let next = chars.popFirst() else { return nil }
                if ("1"..."9").contains(next) { return next }
            case "[":
                // `]` right after `[` or `[^` is a member; `[:class:]`,
                // `[=e=]` and `[.c.]` hold their own `]`.
                if chars.first == "^" { chars.removeFirst() }
                if chars.first == "]" { chars.removeFirst() }
                while let m = chars.popFirst(), m != "]" {
                    if m == "[", let kind = chars.first, kind == ":" || kind == "=" || kind == "." {
                        chars.removeFirst()
                        while let k = chars.popFirst(), !(k == kind && chars.first == "]") {}
                        chars = chars.dropFirst()
                    }
                }
            default:
                continue
            }
        }
        return nil
    }

    private static func inLocale<T>(_ locale: locale_t?, _ body: () -> T) -> T {
        guard let locale else { return body() }
        let previous = uselocale(locale)
        defer { uselocale(previous) }
        return body()
    }
}
