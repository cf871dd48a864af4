import ArgumentParser
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
                or now. --since is inclusive, --until exclusive.
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

        /// How raw scores are read.
        @Option(name: .long, help: ArgumentHelp("Scores of entries that are not roomwarden envelopes: s, ms, or auto (below 1e11 is seconds).", valueName: "unit"))
        var scoreUnit: ScoreUnit = .auto

        func validate() throws {
            if follow && reverse { throw ValidationError("--follow prints oldest first: it cannot go with --reverse") }
            if follow && until != nil { throw ValidationError("--follow goes on past now: it cannot go with --until") }
            if follow && limit != nil { throw ValidationError("--follow does not stop: it cannot go with --limit (use --last)") }
            if targets.contains("") { throw ValidationError("channels and patterns must not be empty") }
            let now = WallClock.nowMilliseconds()
            if let since, let until, until.milliseconds(now: now) < since.milliseconds(now: now) {
                throw ValidationError("the window ends (--until \(until)) before it starts (--since \(since))")
            }
        }

        func run(settings: ConnectionSettings) throws(RoomWardenError) {
            let now = WallClock.nowMilliseconds()
            var options = HistoryOptions()
            options.targets = targets.isEmpty ? ["room:*"] : targets
            options.template = try archive.template()
            options.since = since?.milliseconds(now: now)
            options.until = until?.milliseconds(now: now)
            options.last = last?.value
            options.limit = limit?.value
            options.reverse = reverse
            options.scoreUnit = scoreUnit
            let sink = OutputSink()
            let formatter = try output.formatter()
            // A failover met while reading is waited out for up to --timeout.
            let topology = try settings.topology(retryFor: settings.failoverWait)
            let reader = HistoryReader(topology: topology, options: options, formatter: formatter, sink: sink)
            guard follow else {
                // A long export to a file, watched at a terminal: count,
                // rate and share done on stderr, erased at the end.
                var progress: ProgressLine?
                defer { progress?.finish() }
                if ProgressLine.wanted(resultsOnStdout: true) {
                    let line = ProgressLine(noun: "messages", total: options.expectedCount(topology))
                    reader.printed = { _ in line.add() }
                    progress = line
                }
                try reader.run()
                return
            }
            // Subscribe first, then read the archive to its end: nothing
            // published meanwhile is missed; what both hold prints once.
            var live = WatchOptions()
            live.patterns = options.targets.filter(ArchiveDiscovery.isPattern)
            live.channels = options.targets.filter { !ArchiveDiscovery.isPattern($0) }
            let watcher = try Watcher(settings: settings.subscribing(through: topology), options: live, formatter: formatter, sink: sink)
            watcher.start()
            try watcher.waitUntilSubscribed()
            let handoff = Handoff(subscribedAt: WallClock.nowMilliseconds())
            reader.printed = handoff.archived
            reader.shouldStop = { watcher.interruption }
            try reader.run()
            handoff.archiveDone()
            watcher.admit = handoff.admit
            try watcher.consume()
        }
    }
}

extension ScoreUnit: ExpressibleByArgument {}
