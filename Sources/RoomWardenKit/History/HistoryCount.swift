import Hiredis

extension HistoryOptions {
    /// How many entries `history` with these options will print, counted
    /// on the server (ZCOUNT over the window, LLEN for list backlogs) in
    /// one pipelined round trip after discovery, for the progress line's
    /// share done. nil when anything stands in the way (an ACL without
    /// ZCOUNT, a key of another type): the export itself decides errors,
    /// never this estimate.
    public func expectedCount(_ connection: Connection) -> Int? {
        guard let rooms = try? ArchiveDiscovery.rooms(connection, targets: targets, template: template) else { return nil }
        var commands: [[[UInt8]]] = []
        for room in rooms {
            switch room.kind {
            case .sortedSet:
                // The newest score (for --score-unit auto), then the window
                // counted both ways: in milliseconds and in seconds.
                commands.append([Array("ZRANGE".utf8), room.key, Array("-1".utf8), Array("-1".utf8), Array("WITHSCORES".utf8)])
                for seconds in [false, true] {
                    let min = since.map { ScoreUnit.score(forMilliseconds: $0, seconds: seconds) } ?? "-inf"
                    let max = until.map { "(" + ScoreUnit.score(forMilliseconds: $0, seconds: seconds) } ?? "+inf"
                    commands.append([Array("ZCOUNT".utf8), room.key, Array(min.utf8), Array(max.utf8)])
                }
            case .list:
                commands.append([Array("LLEN".utf8), room.key])
            case .missing, .other:
                break
            }
        }
        guard let replies = try? ArchiveDiscovery.pipelined(connection, commands, doing: "counting the window"),
              replies.allSatisfy({ $0.errorMessage == nil }) else { return nil }
        // --last N keeps the newest N of the merged sorted sets, and the
        // newest N of each list; --limit caps what is printed.
        var sorted = 0, listed = 0
        var next = replies.makeIterator()
        for room in rooms {
            switch room.kind {
            case .sortedSet:
                guard let newest = next.next(), let inMilliseconds = next.next()?.integer, let inSeconds = next.next()?.integer else { return nil }
                var seconds = scoreUnit == .seconds
                if scoreUnit == .auto, let parts = newest.elements, parts.count == 2, let s = parts[1].string, let score = Double(s) {
                    seconds = score < 1e11
                }
                sorted += Int(seconds ? inSeconds : inMilliseconds)
            case .list:
                guard let length = next.next()?.integer else { return nil }
                listed += min(Int(length), last ?? .max)
            case .missing, .other:
                break
            }
        }
        var total = min(sorted, last ?? .max) + listed
        if let limit { total = min(total, limit) }
        return total
    }
}
