import Foundation

/// Which archive entries `history` keeps: `--grep REGEX` on the message
/// (the same regular expressions as `watch --grep`) and `--from NAME`
/// (the envelope's `from` is one of the names; a raw entry has none).
/// They apply before `--last` and `--limit`.
///
/// Not Sendable: the thread that reads the archive uses it.
public struct MessageFilter {
    private let grep: NSRegularExpression?
    private let senders: [[UInt8]]

    /// Keeps every entry.
    public init() {
        grep = nil
        senders = []
    }

    /// Compiles `grep`; a usage error (exit 64) says what is wrong with it.
    public init(grep: String?, from senders: [String]) throws(RoomWardenError) {
        if let grep {
            do { self.grep = try NSRegularExpression(pattern: grep) } catch {
                throw .usage("--grep '\(grep)' is not a valid regular expression: \(RegexProblem.describe(grep))")
            }
        } else {
            self.grep = nil
        }
        self.senders = senders.map { Array($0.utf8) }
    }

    /// True when every entry is kept.
    public var keepsAll: Bool { grep == nil && senders.isEmpty }

    /// True if the entry passes every filter given.
    public func selects(_ m: MessageView) -> Bool {
        if !senders.isEmpty {
            guard let from = m.from, senders.contains(where: { $0.elementsEqual(from) }) else { return false }
        }
        if let grep {
            let text = String(decoding: m.payload, as: UTF8.self)
            return grep.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        }
        return true
    }
}
