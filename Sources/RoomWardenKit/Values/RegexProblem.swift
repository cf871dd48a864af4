/// Says what is wrong with a regular expression the engine refused (its
/// own error only says "invalid"): the first unbalanced parenthesis or
/// bracket, a repeat with nothing to repeat, a bad `{n,m}`, a trailing
/// backslash, a backwards range; each with where it is and what to write.
public enum RegexProblem {
    /// One line for `--grep '<pattern>' is not a valid regular expression: ...`.
    public static func describe(_ pattern: String) -> String {
        let c = Array(pattern.unicodeScalars)
        var open: [Int] = []  // positions of ( not yet closed
        var canRepeat = false  // something before that a quantifier may repeat
        var afterRepeat = false
        var i = 0
        func at(_ k: Int) -> String { "at character \(k + 1)" }
        while i < c.count {
            let ch = c[i]
            switch ch {
            case "\\":
                guard i + 1 < c.count else { return "it ends with a lone \\ (write \\\\ for a backslash)" }
                i += 2
                canRepeat = true
                afterRepeat = false
                continue
            case "(":
                open.append(i)
                // (?:...), (?i) and the like: skip the ? so it is not taken as a repeat.
                if i + 1 < c.count, c[i + 1] == "?" { i += 1 }
                canRepeat = false
            case ")":
                guard open.popLast() != nil else { return "unmatched ) \(at(i)) (write \\) for a parenthesis)" }
                canRepeat = true
            case "|":
                canRepeat = false
            case "[":
                let start = i
                i += 1
                if i < c.count, c[i] == "^" { i += 1 }
                if i < c.count, c[i] == "]" { i += 1 }  // a ] first is literal
                while i < c.count, c[i] != "]" {
                    if c[i] == "\\" { i += 2; continue }
                    if c[i] == "[", i + 1 < c.count, c[i + 1] == ":" {  // [:alpha:]
                        while i < c.count, c[i] != "]" { i += 1 }
                        i += 1
                        continue
                    }
                    if i + 2 < c.count, c[i + 1] == "-", c[i + 2] != "]", c[i + 2] != "\\", c[i].value > c[i + 2].value {
                        return "the range \(c[i])-\(c[i + 2]) \(at(i)) runs backwards (write \(c[i + 2])-\(c[i]))"
                    }
                    i += 1
                }
                guard i < c.count else { return "unclosed [ \(at(start)) (close it with ], or write \\[ for a bracket)" }
                canRepeat = true
                afterRepeat = false
                i += 1
                continue
            case "*", "+", "?":
                // One ? (lazy) or + (possessive) may follow a repeat.
                if afterRepeat && ch != "*" {
                    afterRepeat = false
                    i += 1
                    continue
                }
                guard canRepeat else { return "nothing to repeat before \(ch) \(at(i)) (write \\\(ch) for the character itself)" }
                afterRepeat = true
                canRepeat = false
                i += 1
                continue
            case "{" where i + 1 < c.count && ("0"..."9").contains(c[i + 1]):
                guard let close = c[i...].firstIndex(of: "}") else {
                    return "unclosed { \(at(i)) (a repeat count is {n}, {n,} or {n,m}; write \\{ for a brace)"
                }
                let body = String(String.UnicodeScalarView(c[(i + 1)..<close]))
                let parts = body.split(separator: ",", omittingEmptySubsequences: false)
                guard parts.count <= 2, let low = Int(parts[0]), parts.count == 1 || parts[1].isEmpty || Int(parts[1]) != nil else {
                    return "bad repeat count {\(body)} \(at(i)) (write {n}, {n,} or {n,m})"
                }
                if parts.count == 2, let high = Int(parts[1]), high < low {
                    return "the repeat count {\(body)} \(at(i)) has its minimum above its maximum"
                }
                guard canRepeat else { return "nothing to repeat before {\(body)} \(at(i))" }
                afterRepeat = true
                canRepeat = false
                i = close + 1
                continue
            default:
                canRepeat = true
            }
            afterRepeat = false
            i += 1
        }
        if let unclosed = open.first {
            return "unmatched ( \(at(unclosed)) (close it with ), or write \\( for a parenthesis)"
        }
        return "check its parentheses, brackets, braces and backslashes"
    }
}
