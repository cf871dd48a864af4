import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import RoomWardenKit

extension RoomWarden {
    /// `roomwarden publish CHANNEL [MESSAGE]`: SPEC §6.
    struct Publish: RedisCommand {
        static let configuration = CommandConfiguration(
            commandName: "publish",
            abstract: "Publish a message and archive it, in one transaction.",
            discussion: """
                Without MESSAGE (or with -), publishes each line of stdin; -0 splits stdin on NUL \
                bytes, --whole sends all of it as one message. Messages go in batches, each one \
                transaction: MULTI; ZADD to the archive (or LPUSH to the room's list backlog); \
                PUBLISH each; EXEC. A lost connection is retried (--retry-for) without publishing \
                anything twice. Prints the number of receivers of each message; when it stops \
                short, says on stderr which line to resume from (tail -n +LINE).
                """)

        @OptionGroup(title: "Connection") var connection: ConnectionOptions
        @OptionGroup(title: "Archive") var archive: ArchiveOptions

        /// The room's channel.
        @Argument(help: "The channel to publish to (e.g. room:lobby).")
        var channel: String

        /// The message; absent or `-` reads stdin.
        @Argument(help: "The message; omit it or give - to read stdin.")
        var message: String?

        /// NUL-separated stdin.
        @Flag(name: [.customShort("0"), .customLong("null")], help: "Stdin messages are separated by NUL bytes, not newlines.")
        var nulSeparated = false

        /// All of stdin as one message.
        @Flag(name: .long, help: "Publish all of stdin as one message.")
        var whole = false

        /// Trim archive entries older than this.
        @Option(name: .long, help: ArgumentHelp("Drop archive entries older than this (e.g. 7d).", valueName: "duration"))
        var retain: Span?

        /// Trim the archive to this many entries.
        @Option(name: .long, help: ArgumentHelp("Keep at most this many archive entries.", valueName: "n"))
        var maxLen: Count?

        /// How long a lost connection is retried.
        @Option(name: .long, help: ArgumentHelp(
            "After a lost connection, reconnect and resume for up to this long; 0 gives up at once.",
            valueName: "duration"))
        var retryFor: Span = .seconds(30)

        /// Publish only.
        @Flag(name: .long, help: "Publish only; write nothing to the archive.")
        var noArchive = false

        /// The publisher's name.
        @Option(name: .long, help: ArgumentHelp("The publisher's name, stored in the envelope.", valueName: "name"))
        var from: String?

        /// text or json.
        @Option(name: [.customShort("f", allowingJoined: true), .long], help: ArgumentHelp("Output: text (receivers) or json (one object per message).", valueName: "format"))
        var format: PublishFormat = .text

        /// Same as --format json.
        @Flag(name: .long, help: "Same as --format json.")
        var json = false

        /// Print nothing.
        @Flag(name: [.customShort("q"), .long], help: "Print nothing.")
        var quiet = false

        enum PublishFormat: String, ExpressibleByArgument, CaseIterable {
            case text, json
        }

        func validate() throws {
            let fromStdin = message == nil || message == "-"
            if !fromStdin && (nulSeparated || whole) { throw ValidationError("-0 and --whole read stdin: drop MESSAGE or give -") }
            if nulSeparated && whole { throw ValidationError("-0 and --whole cannot be combined") }
            if noArchive && (retain != nil || maxLen != nil) { throw ValidationError("--retain and --max-len trim the archive: they cannot go with --no-archive") }
            if retain == .zero { throw ValidationError("--retain 0 would empty the archive: give how long to keep entries, e.g. 7d") }
            if channel.isEmpty { throw ValidationError("CHANNEL must not be empty") }
        }

        func run(settings: ConnectionSettings) throws(RoomWardenError) {
            var options = PublishOptions()
            options.archive = noArchive ? nil : try archive.template()
            options.backlog = try archive.backlogTemplate()
            options.retainMilliseconds = retain?.milliseconds
            options.maxLength = maxLen?.value
            options.from = from
            options.retry = RetryPolicy(budgetMilliseconds: retryFor.milliseconds)
            let asJSON = json || format == .json
            options.reportIDs = asJSON && !quiet
            let interruption = Interruption()
            let publisher = Publisher(settings: settings, options: options, interruption: interruption)
            let channelBytes = RawArguments.bytes(channel)
            let target = try publisher.prepare(channel: channelBytes)
            // A reader that goes away (| head -1) ends the printing, not the publishing.
            let out = OutputSink(outliveReader: true)
            var outputFailure: RoomWardenError?
            var progress: ProgressLine?
            defer { progress?.finish() }
            func report(_ p: Published) {
                progress?.add()
                if quiet { return }
                if asJSON {
                    out.buffer.append(contentsOf: #"{"channel":"#.utf8)
                    JSONText.appendChannel(channelBytes, to: &out.buffer)
                    if let id = p.id {
                        out.buffer.append(contentsOf: #","id":"#.utf8)
                        JSONText.appendString(id.utf8, to: &out.buffer)
                    }
                    out.buffer.append(contentsOf: #","ts":"#.utf8)
                    JSONText.appendInteger(p.ts, to: &out.buffer)
                    out.buffer.append(contentsOf: #","receivers":"#.utf8)
                    if let receivers = p.receivers {
                        JSONText.appendInteger(receivers, to: &out.buffer)
                    } else {
                        out.buffer.append(contentsOf: "null".utf8)
                    }
                    out.buffer.append(contentsOf: "}\n".utf8)
                } else if let receivers = p.receivers {
                    JSONText.appendInteger(receivers, to: &out.buffer)
                    out.buffer.append(0x0A)
                } else {
                    out.buffer.append(contentsOf: "?\n".utf8)  // it ran; a lost connection took its reply
                }
                do { try out.flushIfFull() } catch { if outputFailure == nil { outputFailure = error } }
            }
            let fromStdin = message == nil || message == "-"
            do throws(PublishStopped) {
                if fromStdin {
                    let input = InputRecords(framing: whole ? .whole : nulSeparated ? .nulSeparated : .lines,
                                             wake: interruption.fileDescriptor)
                    if isatty(0) == 1 {
                        printDiagnostic(whole ? "reading one message from the terminal: press Ctrl-D on an empty line to send it"
                                        : "reading messages from the terminal, \(nulSeparated ? "NUL-separated" : "one a line"): press Ctrl-D on an empty line to finish")
                    } else if ProgressLine.wanted(resultsOnStdout: !quiet) {
                        progress = ProgressLine(noun: "messages")
                    }
                    try publisher.publish(channel: channelBytes, target: target, input: input, idle: out.flush, report: report)
                } else {
                    try publisher.publish(channel: channelBytes, target: target, input: OneMessage(RawArguments.bytes(message ?? "")),
                                          report: report)
                }
            } catch {
                try? out.flush()
                if asJSON && !quiet { try? out.write(error.json()); try? out.flush() }
                if !fromStdin {
                    let doubt = error.inDoubt == nil ? "" : "; the message may or may not have been published"
                    throw RoomWardenError(exitCode: error.error.exitCode, error.error.message + doubt)
                }
                let tail = whole ? nil : nulSeparated ? "tail -z -n" : "tail -n"
                throw RoomWardenError(exitCode: error.error.exitCode, error.line(resumeWith: tail))
            }
            try out.flush()
            if let outputFailure { throw outputFailure }
            if publisher.reconnects > 0 {
                let times = publisher.reconnects == 1 ? "once" : "\(publisher.reconnects) times"
                let redis = publisher.followsTopology ? "Redis" : "Redis at \(publisher.endpoint)"
                let twice = publisher.resentLines == 0 ? "nothing was sent twice"
                    : "\(publisher.resentLines) \(publisher.resentLines == 1 ? "line" : "lines") that a new server lacked \(publisher.resentLines == 1 ? "was" : "were") sent again (see above)"
                let lost = publisher.followsTopology ? "lost or moved" : "lost"
                printDiagnostic("the connection to \(redis) was \(lost) \(times) and resumed each time; \(twice)")
            }
        }
    }
}

extension RoomWarden.Publish: TakesRawBytes {
    var rawByteArguments: [String] { [channel] + (message.map { [$0] } ?? []) }
}

extension RoomWarden.Publish: QuickParsable {
    /// The quick path's reading: the same names as above.
    static func quick(_ a: inout QuickArguments) -> Self? {
        var c = Self()
        guard let connection = ConnectionOptions.quick(&a), let archive = ArchiveOptions.quick(&a) else { return nil }
        c.connection = connection
        c.archive = archive
        c.nulSeparated = a.flag("null", short: "0")
        c.whole = a.flag("whole")
        c.retain = a.value("retain")
        c.maxLen = a.value("max-len")
        c.retryFor = a.value("retry-for") ?? .seconds(30)
        c.noArchive = a.flag("no-archive")
        c.from = a.value("from")
        c.format = a.value("format", short: "f", joined: true) ?? .text
        c.json = a.flag("json")
        c.quiet = a.flag("quiet", short: "q")
        guard let channel = a.positional() else { return nil }
        c.channel = channel
        c.message = a.positional()
        return c
    }
}
