import Hiredis

extension HistoryOptions {
    /// How many entries `history` with these options will print, counted
    /// on the servers (ZCOUNT over the window, LLEN for list backlogs) in
    /// one pipelined round trip per node after discovery, for the progress
    /// line's share done. nil when anything stands in the way (an ACL
    /// without ZCOUNT, a key of another type, a node that fails): the
    /// export itself decides errors, never this estimate. With `--grep` or
    /// `--from` nothing says how many will match: the caller asks for no
    /// count then.
    public func expectedCount(_ topology: Topology) -> Int? {
        guard let found = try? ArchiveDiscovery.rooms(topology, targets: targets, template: template, backlog: backlog) else { return nil }
        // What history reads: --ignore leaves rooms out, a window leaves list backlogs out.
        let ignored = ignore.map { Glob($0) }
        let windowed = since != nil || until != nil
        let rooms = found.filter { room in !ignored.contains { $0.matches(room.channel) } && !(windowed && room.kind == .list) }
        // Each node's commands in one pipeline; `asked` remembers where
        // each room's replies are.
        var perNode: [ObjectIdentifier: (connection: Connection, commands: [Command])] = [:]
        var asked: [(room: ArchivedRoom, node: ObjectIdentifier, first: Int)] = []
        for room in rooms where room.kind == .sortedSet || room.kind == .list {
            guard let connection = try? topology.connection(forKey: room.key) else { return nil }
            let node = ObjectIdentifier(connection)
            var commands = perNode[node]?.commands ?? []
            asked.append((room, node, commands.count))
            if room.kind == .list {
                commands.append(.llen(key: room.key))
            } else {
                // The newest timed score (for --score-unit auto), then the
                // window counted in each unit: milliseconds, seconds.
                commands.append(.newestFiniteEntry(key: room.key))
                for unit in [ScoreUnit.milliseconds, .seconds] {
                    let from = since.map { ScoreBound.inclusive(unit.score(forMilliseconds: $0)) } ?? .negativeInfinity
                    let to = until.map { ScoreBound.exclusive(unit.score(forMilliseconds: $0)) } ?? .positiveInfinity
                    commands.append(.zcount(key: room.key, from: from, to: to))
                }
            }
            perNode[node] = (connection, commands)
        }
        var replies: [ObjectIdentifier: [Reply]] = [:]
        for (node, batch) in perNode {
            guard let got = try? batch.connection.pipeline(batch.commands, doing: "counting the window"),
                  got.count == batch.commands.count, got.allSatisfy({ $0.errorMessage == nil }) else { return nil }
            replies[node] = got
        }
        // --last N keeps the last N of all it would print; --limit caps
        // what is printed.
        var sorted = 0, listed = 0
        for (room, node, first) in asked {
            guard let got = replies[node] else { return nil }
            if room.kind == .list {
                guard let length = got[first].integer else { return nil }
                listed += Int(length)
            } else {
                guard let inMilliseconds = got[first + 1].integer, let inSeconds = got[first + 2].integer else { return nil }
                var newestScore: Double?
                if let parts = got[first].elements, parts.count == 2, let text = parts[1].string { newestScore = Double(text) }
                sorted += Int(scoreUnit.resolved(newestScore: newestScore) == .seconds ? inSeconds : inMilliseconds)
            }
        }
        var total = min(sorted + listed, last ?? .max)
        if let limit { total = min(total, limit) }
        return total
    }
}
