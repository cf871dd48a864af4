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
        var commands: [Command] = []
        for room in rooms {
            switch room.kind {
            case .sortedSet:
                // The newest timed score (for --score-unit auto), then the
                // window counted in each unit: milliseconds, seconds.
                commands.append(.newestFiniteEntry(key: room.key))
                for unit in [ScoreUnit.milliseconds, .seconds] {
                    let from = since.map { ScoreBound.inclusive(unit.score(forMilliseconds: $0)) } ?? .negativeInfinity
                    let to = until.map { ScoreBound.exclusive(unit.score(forMilliseconds: $0)) } ?? .positiveInfinity
                    commands.append(.zcount(key: room.key, from: from, to: to))
                }
            case .list:
                commands.append(.llen(key: room.key))
            case .missing, .other:
                break
            }
        }
        guard let replies = try? connection.pipeline(commands, doing: "counting the window"),
              replies.allSatisfy({ $0.errorMessage == nil }) else { return nil }
        // --last N keeps the newest N of the merged sets, and of each list;
        // --limit caps what is printed.
        var sorted = 0, listed = 0
        var next = replies.makeIterator()
        for room in rooms {
            switch room.kind {
            case .sortedSet:
                guard let newest = next.next(), let inMilliseconds = next.next()?.integer, let inSeconds = next.next()?.integer else { return nil }
                var newestScore: Double?
                if let parts = newest.elements, parts.count == 2, let text = parts[1].string { newestScore = Double(text) }
                sorted += Int(scoreUnit.resolved(newestScore: newestScore) == .seconds ? inSeconds : inMilliseconds)
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
