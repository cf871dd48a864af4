#if canImport(Glibc)
import Glibc
#endif

/// One line of progress on stderr for long runs at a terminal:
/// `roomwarden: 12,345 of 40,000 messages (30%), 45,678/s`. It appears
/// only after `delay` (short runs show nothing), is redrawn in place at
/// most four times a second, and is erased by `finish()`, so the terminal
/// keeps only results and diagnostics.
public final class ProgressLine {
    private let noun: String
    /// The count at 100%, when known.
    public var total: Int?
    private var count = 0
    private let started = Monotonic.milliseconds()
    private let delay: Int64
    private var lastDrawn: Int64 = 0
    private var shown = false

    /// `noun` names what is counted (`messages`).
    public init(noun: String, total: Int? = nil, delayMilliseconds: Int64 = 500) {
        self.noun = noun
        self.total = total
        self.delay = delayMilliseconds
    }

    /// True when progress belongs on stderr: it is a terminal, and it is
    /// not where the results go (a line redrawn in place would tear them).
    public static func wanted(resultsOnStdout: Bool) -> Bool {
        isatty(2) == 1 && !(resultsOnStdout && isatty(1) == 1)
    }

    /// Counts `n` more; redraws when it is time.
    public func add(_ n: Int = 1) {
        count += n
        let now = Monotonic.milliseconds()
        guard now - started >= delay, now - lastDrawn >= 250 else { return }
        lastDrawn = now
        draw(now)
    }

    /// Erases the line, if it was drawn.
    public func finish() {
        guard shown else { return }
        write("\r\u{1B}[K")
        shown = false
    }

    private func draw(_ now: Int64) {
        var line = "\r\u{1B}[Kroomwarden: \(ProgressLine.grouped(count))"
        if let total, total > 0 {
            line += " of \(ProgressLine.grouped(total)) \(noun) (\(min(100, count * 100 / total))%)"
        } else {
            line += " \(noun)"
        }
        let seconds = Double(now - started) / 1000
        if seconds > 0 { line += ", \(ProgressLine.grouped(Int(Double(count) / seconds)))/s" }
        write(line)
        shown = true
    }

    /// 1234567 as `1,234,567`.
    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n.magnitude))
        var out = n < 0 ? "-" : ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }
}
