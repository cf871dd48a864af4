/// Which archive entries `history` keeps: `--grep REGEX` on the message
/// (watch's `GrepFilter`: extended regular expressions, as grep -E; `-i`
/// ignores case) and `--from NAME` (the envelope's `from` is one of the
/// names; a raw entry has none). They apply before `--last` and `--limit`.
///
/// Not Sendable: the thread that reads the archive uses it.
public struct MessageFilter {
    private let grep: GrepFilter?
    private let senders: [[UInt8]]

    /// Keeps every entry.
    public init() {
        grep = nil
        senders = []
    }

    /// Compiles `grep`; a usage error (exit 64) says what is wrong with it.
    public init(grep: String?, ignoreCase: Bool = false, from senders: [String]) throws(RoomWardenError) {
        self.grep = try grep.map { (g: String) throws(RoomWardenError) in try GrepFilter(g, ignoreCase: ignoreCase) }
        self.senders = senders.map { Array($0.utf8) }
    }

    /// True when every entry is kept.
    public var keepsAll: Bool { grep == nil && senders.isEmpty }

    /// True if the entry passes every filter given.
    public func selects(_ m: MessageView) -> Bool {
        if !senders.isEmpty {
            guard let from = m.from, senders.contains(where: { $0.elementsEqual(from) }) else { return false }
        }
        return grep?.matches(m.payload) ?? true
    }
}
