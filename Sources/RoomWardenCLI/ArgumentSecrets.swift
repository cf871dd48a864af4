import RoomWardenKit

/// Keeps the secrets of a command line out of its usage errors. The parser
/// echoes what it cannot take (`Unknown option '-as3cret'`, `'--askpass'
/// does not take any value, but 's3cret' was specified`), and so does the
/// check for arguments that are not UTF-8: a password given the wrong way
/// must not end up on a terminal or in a cron mail.
enum ArgumentSecrets {
    /// Short options that take a value: in a cluster (`-ia...`), what
    /// follows one of them is its value, not more options.
    private static let shortWithValue: Set<Character> = ["a", "u", "h", "p", "s", "n", "f", "c"]

    /// `message` with every password of `arguments` as `***` and every
    /// URL redacted as `RedisURL` and `SentinelURL` show them.
    static func redacted(_ message: String, arguments: [String]) -> String {
        var out = message
        for (secret, shownAs) in secrets(in: arguments) where !secret.isEmpty {
            out = replacing(secret, with: shownAs, in: out)
            let shown = RawArguments.shown(secret)
            if shown != secret { out = replacing(shown, with: redactedForm(of: shown, like: shownAs), in: out) }
        }
        return out
    }

    /// `target` replaced with `replacement` in `text`, except inside what
    /// is already `replacement` (a URL's redacted form may begin with the
    /// URL itself: `...?db=` shows as `...?db=***`).
    private static func replacing(_ target: String, with replacement: String, in text: String) -> String {
        text.pieces(separatedBy: replacement).map { $0.replacingOccurrences(of: target, with: replacement) }
            .joined(separator: replacement)
    }

    /// Each secret with what stands for it in a message, longest first (a
    /// password that is part of a URL goes with the URL).
    static func secrets(in arguments: [String]) -> [(String, String)] {
        var found: [(String, String)] = []
        func password(_ s: Substring) { found.append((String(s), "***")) }
        func url(_ s: Substring) { found.append((String(s), redactedURL(String(s)))) }
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            let next = i + 1 < arguments.count ? arguments[i + 1][...] : nil
            if arg == "--" { break }
            if arg == "-a" || arg == "--pass" {
                if let next { password(next) }
                i += 2
                continue
            }
            if arg == "-u" || arg == "--url" {
                if let next { url(next) }
                i += 2
                continue
            }
            if let value = arg.value(after: "--pass=") ?? arg.value(after: "--askpass=") { password(value) }
            if let value = arg.value(after: "--url=") { url(value) }
            if arg.hasPrefix("-"), !arg.hasPrefix("--") {
                // A cluster: flags, then at most one option with its value glued on.
                var rest = arg.dropFirst()
                while let c = rest.first {
                    rest = rest.dropFirst()
                    guard shortWithValue.contains(c) else { continue }
                    if c == "a", !rest.isEmpty { password(rest) }
                    if c == "u", !rest.isEmpty { url(rest) }
                    break
                }
            }
            i += 1
        }
        return found.sorted { $0.0.count > $1.0.count }
    }

    private static func redactedURL(_ text: String) -> String {
        SentinelURL.matches(text) ? SentinelURL.redacted(text) : RedisURL.redacted(text)
    }

    private static func redactedForm(of shown: String, like replacement: String) -> String {
        replacement == "***" ? "***" : redactedURL(shown)
    }
}

private extension String {
    /// The part after `prefix`, if the string starts with it.
    func value(after prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }

    func replacingOccurrences(of target: String, with replacement: String) -> String {
        pieces(separatedBy: target).joined(separator: replacement)
    }

    /// The text between the occurrences of `separator`.
    func pieces(separatedBy separator: String) -> [String] {
        guard !separator.isEmpty else { return [self] }
        var out: [String] = []
        var rest = self[...]
        while let r = rest.firstRange(of: separator) {
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}
