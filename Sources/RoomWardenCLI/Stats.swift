import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import RoomWardenKit

extension RoomWarden {
    /// `roomwarden stats [PATTERN]`: SPEC §8.
    struct Stats: RedisCommand {
        static let configuration = CommandConfiguration(
            commandName: "stats",
            abstract: "Rooms, subscribers, activity and server health at a glance.",
            discussion: """
                Rooms are the channels matching PATTERN (default room:*) that have subscribers \
                or an archive. Per room: subscribers, archived messages, messages in each \
                --window, the last message's time. What the ACL user may not read shows as \
                unknown (? in text, null in JSON).
                """)

        @OptionGroup(title: "Connection") var connection: ConnectionOptions
        @OptionGroup(title: "Archive") var archive: ArchiveOptions

        /// The channel pattern.
        @Argument(help: "Channel pattern.")
        var pattern: String = "room:*"

        /// Activity windows.
        @Option(name: .long, help: ArgumentHelp("Comma-separated windows to count messages in.", valueName: "list"))
        var window: WindowList = .standard

        /// Only the first N rooms.
        @Option(name: .long, help: ArgumentHelp("Show only the first N rooms.", valueName: "n"))
        var top: Count?

        /// Order.
        @Option(name: .long, help: ArgumentHelp("Order rooms by messages (most active first), subscribers, name, or last (most recent first).", valueName: "key"))
        var sort: StatsSort = .messages

        /// text or json.
        @Option(name: [.customShort("f", allowingJoined: true), .long], help: ArgumentHelp("text (a table) or json (one object).", valueName: "format"))
        var format: StatsFormat?

        /// Same as --format json.
        @Flag(name: .long, help: "Same as --format json.")
        var json = false

        /// Refresh.
        @Option(name: .long, help: ArgumentHelp("Refresh every INTERVAL, in place on a terminal, one report per interval otherwise.", valueName: "interval"))
        var watch: Span?

        /// Listen first.
        @Option(name: .long, help: ArgumentHelp("Listen this long first and report live messages per room and second.", valueName: "duration"))
        var sample: Span?

        enum StatsFormat: String, ExpressibleByArgument, CaseIterable {
            case text, json
        }

        func validate() throws {
            if pattern.isEmpty { throw ValidationError("PATTERN must not be empty") }
            if json && format == .text {
                throw ValidationError("--json and --format text disagree: choose one")
            }
            for (flag, value) in [("--watch", watch), ("--sample", sample)] where value == .zero {
                throw ValidationError("\(flag) must be longer than 0: use e.g. 2s, 30s, 1m")
            }
        }

        func run(settings: ConnectionSettings) throws(RoomWardenError) {
            var options = StatsOptions()
            options.pattern = pattern
            options.template = try archive.template()
            options.backlog = try archive.backlogTemplate()
            options.windows = window.windows.map { ($0.label, $0.span.milliseconds) }
            options.sampleMilliseconds = sample?.milliseconds
            // A failover met on the way is waited out for up to --timeout.
            let topology = try settings.topology(retryFor: settings.failoverWait)
            let collector = StatsCollector(topology: topology, settings: settings, options: options)
            let out = OutputSink()
            let asJSON = json || format == .json
            let terminal = isatty(1) == 1
            while true {
                let report = try collector.collect()
                let order = sort.order(report.rooms, top: top?.value)
                // Written piece by piece: the whole report is never in memory.
                if asJSON {
                    try StatsRenderer.json(report, order: order) { (piece) throws(RoomWardenError) in try out.write(piece) }
                } else {
                    if watch != nil && terminal { try out.write("\u{1B}[H\u{1B}[2J") }
                    try StatsRenderer.text(report, order: order, width: terminal ? Self.terminalWidth() : nil) { (piece) throws(RoomWardenError) in
                        try out.write(piece)
                    }
                }
                try out.flush()
                guard let interval = watch else { return }
                if !asJSON && !terminal { try out.write("\n") }
                // usleep takes at most a second's worth of microseconds.
                var left = interval.microseconds
                while left > 0 {
                    usleep(UInt32(min(left, 999_999)))
                    left -= 999_999
                }
            }
        }

        static func terminalWidth() -> Int? {
            var ws = winsize()
            guard ioctl(1, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0 else { return nil }
            return Int(ws.ws_col)
        }
    }
}

extension StatsSort: ExpressibleByArgument {}

extension RoomWarden.Stats: QuickParsable {
    /// The quick path's reading: the same names as above.
    static func quick(_ a: inout QuickArguments) -> Self? {
        var c = Self()
        guard let connection = ConnectionOptions.quick(&a), let archive = ArchiveOptions.quick(&a) else { return nil }
        c.connection = connection
        c.archive = archive
        c.window = a.value("window") ?? .standard
        c.top = a.value("top")
        c.sort = a.value("sort") ?? .messages
        c.format = a.value("format", short: "f", joined: true)
        c.json = a.flag("json")
        c.watch = a.value("watch")
        c.sample = a.value("sample")
        c.pattern = a.positional() ?? "room:*"
        return c
    }
}
