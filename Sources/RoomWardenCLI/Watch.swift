import ArgumentParser
import RoomWardenKit

extension RoomWarden {
    /// `roomwarden watch [PATTERN...]`: SPEC §5.
    struct Watch: RedisCommand {
        static let configuration = CommandConfiguration(
            commandName: "watch",
            abstract: "Print every message of every room, live.",
            discussion: """
                Subscribes to each PATTERN (default room:*) and each -c CHANNEL and prints one \
                line per published message, even where subscriptions overlap. Never falls behind \
                the server: the socket is drained into a bounded buffer; any loss is reported on \
                stderr. Reconnects on its own; on a Redis Cluster it moves to another node when its \
                node is lost, behind Redis Sentinel it follows the master through a failover, and \
                the gap is replayed from the rooms' archives.
                """)

        @OptionGroup(title: "Connection") var connection: ConnectionOptions
        @OptionGroup(title: "Output") var output: OutputOptions
        @OptionGroup(title: "Archive") var archiveOptions: ArchiveOptions

        /// Channel patterns.
        @Argument(help: "Channel patterns to PSUBSCRIBE to (default room:*).")
        var patterns: [String] = []

        /// Exact channels.
        @Option(name: [.customShort("c", allowingJoined: true), .customLong("channel")], help: ArgumentHelp("Also SUBSCRIBE to this channel (repeatable).", valueName: "channel"))
        var channels: [String] = []

        /// Channels to leave out.
        @Option(name: .long, help: ArgumentHelp("Leave out channels matching this glob (repeatable).", valueName: "glob"))
        var ignore: [String] = []

        /// Extended regular expression on the message (grep -E).
        @Option(name: .long, help: ArgumentHelp("Print only messages matching this extended regular expression (as grep -E).", valueName: "regex"))
        var grep: String?

        /// --grep ignores case.
        @Flag(name: [.customShort("i"), .customLong("ignore-case")], help: "With --grep: ignore case, as grep -i.")
        var ignoreCase = false

        /// Stop after N.
        @Option(name: [.customShort("n", allowingJoined: true), .customLong("count")], help: ArgumentHelp("Exit after N messages.", valueName: "n"))
        var count: Count?

        /// Stop when quiet.
        @Option(name: .long, help: ArgumentHelp("Exit when no message came for this long (exit 1 if --count was not reached).", valueName: "duration"))
        var wait: Span?

        /// Stop after a while.
        @Option(name: .long, help: ArgumentHelp("Exit after this long.", valueName: "duration"))
        var duration: Span?

        /// Queue size.
        @Option(name: .long, help: ArgumentHelp("Most memory for messages not yet printed.", valueName: "size"))
        var buffer: ByteCount = .megabytes(256)

        /// PING interval.
        @Option(name: .long, help: ArgumentHelp("PING the server after this long without traffic.", valueName: "duration"))
        var heartbeat: Span = .seconds(15)

        /// Exit on loss.
        @Flag(name: .long, help: "Exit 69 when the connection is lost instead of reconnecting.")
        var noReconnect = false

        /// Archive what is seen.
        @Flag(name: .long, help: "Also write every observed message to its room's archive.")
        var archive = false

        /// Follow sharded pub/sub too.
        @Flag(name: .long, help: "Also print sharded pub/sub messages (SPUBLISH, Redis 7): SSUBSCRIBE to the shard channels matching the patterns, on each shard's primary.")
        var sharded = false

        /// Replay the archives first.
        @Option(name: .long, help: ArgumentHelp("First replay the rooms' archives from this time (as for history --since), then go on live.", valueName: "time"))
        var since: TimePoint?

        func validate() throws {
            for (flag, value) in [("--wait", wait), ("--duration", duration), ("--heartbeat", heartbeat)] where value == .zero {
                throw ValidationError("\(flag) must be longer than 0: use e.g. 500ms, 10s, 5m, 1h")
            }
            if buffer < .megabytes(1) { throw ValidationError("--buffer \(buffer) is too small: give at least 1MB, e.g. 64MB, 1G") }
            if patterns.contains("") || channels.contains("") { throw ValidationError("patterns and channels must not be empty") }
            if ignoreCase && grep == nil { throw ValidationError("-i/--ignore-case goes with --grep") }
            if let grep {
                do { _ = try GrepFilter(grep, ignoreCase: ignoreCase) } catch { throw ValidationError(error.message) }
            }
        }

        func run(settings: ConnectionSettings) throws(RoomWardenError) {
            var options = WatchOptions()
            options.patterns = patterns.isEmpty && channels.isEmpty ? ["room:*"] : patterns
            options.channels = channels
            options.ignore = ignore
            options.grep = grep
            options.grepIgnoresCase = ignoreCase
            options.count = count?.value
            options.waitMilliseconds = wait?.milliseconds
            options.durationMilliseconds = duration?.milliseconds
            options.bufferBytes = buffer.bytes
            options.heartbeatMilliseconds = heartbeat.milliseconds
            options.reconnect = !noReconnect
            options.archive = archive ? try archiveOptions.template() : nil
            options.archiveTemplate = try archiveOptions.template()
            options.backlogTemplate = try archiveOptions.backlogTemplate()
            options.replayGaps = true
            options.since = since?.milliseconds(now: WallClock.nowMilliseconds())
            options.sharded = sharded
            let watcher = try Watcher(settings: settings, options: options, formatter: try output.formatter(), sink: OutputSink())
            try watcher.run()
        }
    }
}

extension RoomWarden.Watch: QuickParsable {
    /// The quick path's reading: the same names as above.
    static func quick(_ a: inout QuickArguments) -> Self? {
        var c = Self()
        guard let connection = ConnectionOptions.quick(&a), let output = OutputOptions.quick(&a),
              let archiveOptions = ArchiveOptions.quick(&a) else { return nil }
        c.connection = connection
        c.output = output
        c.archiveOptions = archiveOptions
        c.channels = a.values("channel", short: "c", joined: true)
        c.ignore = a.values("ignore")
        c.grep = a.value("grep")
        c.ignoreCase = a.flag("ignore-case", short: "i")
        c.count = a.value("count", short: "n", joined: true)
        c.wait = a.value("wait")
        c.duration = a.value("duration")
        c.buffer = a.value("buffer") ?? .megabytes(256)
        c.heartbeat = a.value("heartbeat") ?? .seconds(15)
        c.noReconnect = a.flag("no-reconnect")
        c.archive = a.flag("archive")
        c.sharded = a.flag("sharded")
        c.since = a.value("since")
        c.patterns = a.positionals()
        return c
    }
}
