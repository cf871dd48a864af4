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
                back from now (90s, 15m, 2h, 7d, 1h30m), RFC 3339 (2026-11-21T10:00:00Z, or with an \
                offset), a date (2026-11-21, local midnight), @EPOCH seconds, or now. --since is \
                inclusive, --until exclusive.
                """)

        @OptionGroup(title: "Connection") var connection: ConnectionOptions
        @OptionGroup(title: "Output") var output: OutputOptions
        @OptionGroup(title: "Archive") var archive: ArchiveOptions

        /// Channels or patterns.
        @Argument(help: "Channels or patterns whose archives to read (default room:*).")
        var targets: [String] = []

        /// Window start.
        @Option(name: .long, help: ArgumentHelp("From this time on (inclusive).", valueName: "time"))
        var since: String?

        /// Window end.
        @Option(name: .long, help: ArgumentHelp("Up to this time (exclusive).", valueName: "time"))
        var until: String?

        /// The newest N.
        @Option(name: .long, help: ArgumentHelp("Only the newest N in the window (printed oldest first).", valueName: "n"))
        var last: Int?

        /// The first N.
        @Option(name: .long, help: ArgumentHelp("Stop after N messages.", valueName: "n"))
        var limit: Int?

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
            if let last, last < 1 { throw ValidationError("--last must be at least 1") }
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
            if follow && reverse { throw ValidationError("--follow prints oldest first: it cannot go with --reverse") }
            if follow && until != nil { throw ValidationError("--follow goes on past now: it cannot go with --until") }
            if follow && limit != nil { throw ValidationError("--follow does not stop: it cannot go with --limit (use --last)") }
            if targets.contains("") { throw ValidationError("channels and patterns must not be empty") }
            let now = WallClock.nowMilliseconds()
            do {
                let from = try since.map { (t: String) throws(RoomWardenError) -> Int64 in try TimePoint.parse(t, flag: "--since", now: now) }
                let to = try until.map { (t: String) throws(RoomWardenError) -> Int64 in try TimePoint.parse(t, flag: "--until", now: now) }
                if let from, let to, to < from {
                    throw RoomWardenError.usage("the window ends (--until \(until ?? "")) before it starts (--since \(since ?? ""))")
                }
            } catch let error as RoomWardenError {
                throw ValidationError(error.message)
            }
        }

        func run(settings: ConnectionSettings) throws(RoomWardenError) {
            let now = WallClock.nowMilliseconds()
            var options = HistoryOptions()
            options.targets = targets.isEmpty ? ["room:*"] : targets
            options.template = try archive.template()
            options.since = try since.map { (t: String) throws(RoomWardenError) -> Int64 in try TimePoint.parse(t, flag: "--since", now: now) }
            options.until = try until.map { (t: String) throws(RoomWardenError) -> Int64 in try TimePoint.parse(t, flag: "--until", now: now) }
            options.last = last
            options.limit = limit
            options.reverse = reverse
            options.scoreUnit = scoreUnit
            let sink = OutputSink()
            let formatter = try output.formatter()
            let connection = try settings.connect()
            let reader = HistoryReader(connection: connection, options: options, formatter: formatter, sink: sink)
            guard follow else {
                // A long export to a file, watched at a terminal: count,
                // rate and share done on stderr, erased at the end.
                var progress: ProgressLine?
                defer { progress?.finish() }
                if ProgressLine.wanted(resultsOnStdout: true) {
                    let line = ProgressLine(noun: "messages", total: options.expectedCount(connection))
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
            let watcher = try Watcher(settings: settings, options: live, formatter: formatter, sink: sink)
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
