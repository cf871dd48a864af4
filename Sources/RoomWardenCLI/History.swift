import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import RoomWardenKit

extension RoomWarden {
    /// `roomwarden history [CHANNEL|PATTERN...]`: SPEC §7.
    struct History: RedisCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "Print the archive by time window, merged across rooms.",
            discussion: """
                Reads the archives of the given channels, or of every channel matching the given \
                patterns (default room:*), merged in time order. Times (--since, --until): a duration \
                back from now (90s, 15m, 2h, 7d, 1h30m; --since=-1h says the same as --since 1h), \
                RFC 3339 (2026-11-21T10:00:00Z, or with an offset), a local date (2026-11-21, local \
                midnight) or local time ('2026-11-21 10:00:00', as date -d reads it), @EPOCH seconds, \
                or now. --since is inclusive, --until exclusive. --grep and --from pick messages before \
                --last and --limit count. --delete removes exactly what the same command prints, one \
                entry at a time.
                """)

        @OptionGroup(title: "Connection") var connection: ConnectionOptions
        @OptionGroup(title: "Output") var output: OutputOptions
        @OptionGroup(title: "Archive") var archive: ArchiveOptions

        /// Channels or patterns.
        @Argument(help: "Channels or patterns whose archives to read (default room:*).")
        var targets: [String] = []

        /// Window start.
        @Option(name: .long, help: ArgumentHelp("From this time on (inclusive).", valueName: "time"))
        var since: TimePoint?

        /// Window end.
        @Option(name: .long, help: ArgumentHelp("Up to this time (exclusive).", valueName: "time"))
        var until: TimePoint?

        /// The newest N.
        @Option(name: .long, help: ArgumentHelp("Only the newest N in the window (printed oldest first).", valueName: "n"))
        var last: Count?

        /// The first N.
        @Option(name: .long, help: ArgumentHelp("Stop after N messages.", valueName: "n"))
        var limit: Count?

        /// Newest first.
        @Flag(name: .long, help: "Newest first.")
        var reverse = false

        /// Then live.
        @Flag(name: .long, help: "After the archive, go on with live messages (no gap, no duplicate).")
        var follow = false

        /// Extended regular expression on the message (grep -E).
        @Option(name: .long, help: ArgumentHelp("Only messages matching this extended regular expression (as grep -E, and watch --grep).", valueName: "regex"))
        var grep: String?

        /// --grep ignores case.
        @Flag(name: [.customShort("i"), .customLong("ignore-case")], help: "With --grep: ignore case, as grep -i.")
        var ignoreCase = false

        /// Senders.
        @Option(name: .long, help: ArgumentHelp("Only messages from this sender (the envelope's from; repeatable).", valueName: "name"))
        var from: [String] = []

        /// Rooms to leave out.
        @Option(name: .long, help: ArgumentHelp("Leave out rooms matching this glob (repeatable).", valueName: "glob"))
        var ignore: [String] = []

        /// Remove what is printed.
        @Flag(name: .long, help: "Remove from the archives exactly the entries printed (asks first on a terminal).")
        var delete = false

        /// Remove with no window or filter.
        @Flag(name: .long, help: "With --delete: allow it without a window, filter or count (every entry read is removed).")
        var all = false

        /// Do not ask.
        @Flag(name: .long, help: "With --delete: remove without asking (needed when stdin is not a terminal).")
        var yes = false

        /// How raw scores are read.
        @Option(name: .long, help: ArgumentHelp("Scores of entries that are not roomwarden envelopes: s, ms, or auto (below 1e11 is seconds).", valueName: "unit"))
        var scoreUnit: ScoreUnit = .auto

        func validate() throws {
            if follow && reverse { throw ValidationError("--follow prints oldest first: it cannot go with --reverse") }
            if follow && until != nil { throw ValidationError("--follow goes on past now: it cannot go with --until") }
            if follow && limit != nil { throw ValidationError("--follow does not stop: it cannot go with --limit (use --last)") }
            if follow && !from.isEmpty {
                throw ValidationError("--from reads the sender from archive envelopes, and live messages carry none: it cannot go with --follow (use --grep)")
            }
            if targets.contains("") || ignore.contains("") { throw ValidationError("channels, patterns and --ignore globs must not be empty") }
            if ignoreCase && grep == nil { throw ValidationError("-i/--ignore-case goes with --grep") }
            do { _ = try MessageFilter(grep: grep, ignoreCase: ignoreCase, from: from) } catch { throw ValidationError(error.message) }
            try validateDelete()
            let now = WallClock.nowMilliseconds()
            if let since, let until, until.milliseconds(now: now) < since.milliseconds(now: now) {
                throw ValidationError("the window ends (--until \(until)) before it starts (--since \(since))")
            }
        }

        /// --delete's refusals: nothing is removed by accident.
        func validateDelete() throws {
            if all && !delete { throw ValidationError("--all goes with --delete") }
            if yes && !delete { throw ValidationError("--yes goes with --delete") }
            guard delete else { return }
            if follow { throw ValidationError("--delete removes what the archives hold now: it cannot go with --follow") }
            let narrowed = since != nil || until != nil || grep != nil || !from.isEmpty || last != nil || limit != nil
            if !narrowed && !all {
                throw ValidationError("--delete without a window (--since/--until), a filter (--grep/--from) or a count (--last/--limit) "
                                      + "would remove every entry it reads: add --all if that is what you mean")
            }
            if !yes && isatty(0) != 1 {
                throw ValidationError("--delete asks before removing, and stdin is not a terminal: add --yes to remove without asking")
            }
        }

        func run(settings: ConnectionSettings) throws(RoomWardenError) {
            let now = WallClock.nowMilliseconds()
            var options = HistoryOptions()
            options.targets = targets.isEmpty ? ["room:*"] : targets
            options.template = try archive.template()
            options.backlog = try archive.backlogTemplate()
            options.ignore = ignore
            options.since = since?.milliseconds(now: now)
            options.until = until?.milliseconds(now: now)
            options.last = last?.value
            options.limit = limit?.value
            options.reverse = reverse
            options.scoreUnit = scoreUnit
            let sink = OutputSink()
            let formatter = try output.formatter()
            let filter = try MessageFilter(grep: grep, ignoreCase: ignoreCase, from: from)
            // A failover met while reading is waited out for up to --timeout.
            let topology = try settings.topology(retryFor: settings.failoverWait)
            let reader = HistoryReader(topology: topology, options: options, filter: filter, formatter: formatter, sink: sink)
            if delete {
                try remove(with: reader)
                return
            }
            guard follow else {
                // A long export to a file, watched at a terminal: count,
                // rate and share done on stderr, erased at the end.
                var progress: ProgressLine?
                defer { progress?.finish() }
                if ProgressLine.wanted(resultsOnStdout: true) {
                    let line = ProgressLine(noun: "messages", total: filter.keepsAll ? options.expectedCount(topology) : nil)
                    reader.printed = { _ in line.add() }
                    progress = line
                }
                try reader.run()
                return
            }
            // Subscribe first (to the rooms and the handoff's marker), then
            // read the archive to its end and send the marker: nothing
            // published meanwhile is missed; what both hold prints once.
            var live = WatchOptions()
            live.patterns = options.targets.filter(ArchiveDiscovery.isPattern)
            live.channels = options.targets.filter { !ArchiveDiscovery.isPattern($0) }
            live.ignore = ignore
            live.grep = grep
            live.grepIgnoresCase = ignoreCase
            live.replayGaps = true
            live.archiveTemplate = options.template
            let watcher = try Watcher(settings: settings.subscribing(through: topology), options: live, formatter: formatter, sink: sink)
            guard let handoff = watcher.handoff else { return }
            watcher.start()
            let markerRefused = try watcher.waitUntilSubscribed()
            handoff.begin(subscribedAt: WallClock.nowMilliseconds())
            reader.printed = handoff.archived
            reader.shouldStop = { watcher.interruption }
            try reader.run()
            try handoff.archiveDone(on: topology, markerRefused: markerRefused)
            try watcher.consume()
        }
    }
}

extension RoomWarden.History {
    /// --delete: at once with --yes; on a terminal, after saying how many
    /// entries it would remove and getting a yes.
    /// Once removing starts, SIGINT/SIGTERM stop it between pages and the
    /// error says what was removed before (not at the prompt: there the
    /// default action ends it with nothing removed).
    private func remove(with reader: HistoryReader) throws(RoomWardenError) {
        if yes {
            stopOnSignal(reader)
            return try reader.delete()
        }
        let pending = try reader.pendingDeletion()
        if pending.count > 0 {
            let entries = pending.count == 1 ? "1 entry" : "\(pending.count) entries"
            let rooms = pending.roomCount == 1 ? "1 room" : "\(pending.roomCount) rooms"
            guard Terminal.confirm("remove \(entries) from \(rooms) from the archives?") else {
                throw .failure("nothing removed (not confirmed)")
            }
        }
        stopOnSignal(reader)
        try reader.remove(pending)
    }

    private func stopOnSignal(_ reader: HistoryReader) {
        let interruption = Interruption()
        reader.shouldStop = { interruption.signal.map { RoomWardenError(exitCode: 128 + $0, "interrupted") } }
    }
}

extension ScoreUnit: ExpressibleByArgument {}

extension RoomWarden.History: QuickParsable {
    /// The quick path's reading: the same names as above.
    static func quick(_ a: inout QuickArguments) -> Self? {
        var c = Self()
        guard let connection = ConnectionOptions.quick(&a), let output = OutputOptions.quick(&a),
              let archive = ArchiveOptions.quick(&a) else { return nil }
        c.connection = connection
        c.output = output
        c.archive = archive
        c.since = a.value("since")
        c.until = a.value("until")
        c.last = a.value("last")
        c.limit = a.value("limit")
        c.reverse = a.flag("reverse")
        c.follow = a.flag("follow")
        c.grep = a.value("grep")
        c.ignoreCase = a.flag("ignore-case", short: "i")
        c.from = a.values("from")
        c.ignore = a.values("ignore")
        c.delete = a.flag("delete")
        c.all = a.flag("all")
        c.yes = a.flag("yes")
        c.scoreUnit = a.value("score-unit") ?? .auto
        c.targets = a.positionals()
        return c
    }
}
