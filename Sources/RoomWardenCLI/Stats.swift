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
        var window: String = "1m,1h,24h"

        /// Only the first N rooms.
        @Option(name: .long, help: ArgumentHelp("Show only the first N rooms.", valueName: "n"))
        var top: Int?

        /// Order.
        @Option(name: .long, help: ArgumentHelp("Order rooms by messages (most active first), subscribers, name, or last (most recent first).", valueName: "key"))
        var sort: StatsSort = .messages

        /// text or json.
        @Option(name: [.customShort("f"), .long], help: ArgumentHelp("text (a table) or json (one object).", valueName: "format"))
        var format: StatsFormat?

        /// Same as --format json.
        @Flag(name: .long, help: "Same as --format json.")
        var json = false

        /// Refresh.
        @Option(name: .long, help: ArgumentHelp("Refresh every INTERVAL, in place on a terminal, one report per interval otherwise.", valueName: "interval"))
        var watch: String?

        /// Listen first.
        @Option(name: .long, help: ArgumentHelp("Listen this long first and report live messages per room and second.", valueName: "duration"))
        var sample: String?

        enum StatsFormat: String, ExpressibleByArgument, CaseIterable {
            case text, json
        }

        func validate() throws {
            if let top, top < 1 { throw ValidationError("--top must be at least 1") }
            if pattern.isEmpty { throw ValidationError("PATTERN must not be empty") }
            if json && format == .text {
                throw ValidationError("--json and --format text disagree: choose one")
            }
            do { _ = try windows() } catch { throw ValidationError(error.message) }
            for (flag, value) in [("--watch", watch), ("--sample", sample)] {
                if let value, (TimeSpan.milliseconds(value) ?? 0) <= 0 {
                    throw ValidationError("\(flag) '\(value)' is not a duration: use e.g. 2s, 30s, 1m")
                }
            }
        }

        func windows() throws(RoomWardenError) -> [(label: String, milliseconds: Int64)] {
            let parts = window.split(separator: ",").map { String($0.filter { !$0.isWhitespace }) }
            guard !parts.isEmpty else { throw .usage("--window needs at least one duration, e.g. 1m,1h,24h") }
            return try parts.map { (p: String) throws(RoomWardenError) -> (label: String, milliseconds: Int64) in
                guard let ms = TimeSpan.milliseconds(p), ms > 0 else {
                    throw .usage("--window '\(p)' is not a duration: use e.g. 1m,1h,24h")
                }
                return (p, ms)
            }
        }

        func run(settings: ConnectionSettings) throws(RoomWardenError) {
            var options = StatsOptions()
            options.pattern = pattern
            options.template = try archive.template()
            options.windows = try windows()
            options.sampleMilliseconds = sample.flatMap(TimeSpan.milliseconds)
            let connection = try settings.connect()
            let collector = StatsCollector(connection: connection, settings: settings, options: options)
            let out = OutputSink()
            let asJSON = json || format == .json
            let terminal = isatty(1) == 1
            let interval = watch.flatMap(TimeSpan.milliseconds)
            while true {
                let report = try collector.collect()
                var rooms = sort.apply(report.rooms)
                if let top { rooms = Array(rooms.prefix(top)) }
                if asJSON {
                    try out.write(StatsRenderer.json(report, rooms: rooms))
                } else {
                    if interval != nil && terminal { try out.write("\u{1B}[H\u{1B}[2J") }
                    try out.write(StatsRenderer.text(report, rooms: rooms, width: terminal ? Self.terminalWidth() : nil))
                }
                try out.flush()
                guard let interval else { return }
                if !asJSON && !terminal { try out.write("\n") }
                usleep(UInt32(clamping: interval * 1000))
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
