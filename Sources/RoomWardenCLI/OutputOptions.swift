import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import RoomWardenKit

/// How messages are printed: SPEC §4, shared by watch and history.
struct OutputOptions: ParsableArguments {
    /// text, json, raw, or a {field} template.
    @Option(name: [.customShort("f", allowingJoined: true), .long], help: ArgumentHelp(
        "text, json (JSON Lines), raw (payload bytes), or a template like '{time} {channel}: {message}'.",
        valueName: "format"), completion: .list(["text", "json", "raw", "{time} {channel}: {message}"]))
    var format: String = "text"

    /// Same as --format json.
    @Flag(name: .long, help: "Same as --format json.")
    var json = false

    /// raw: NUL after each payload.
    @Flag(name: [.customShort("0"), .customLong("null")], help: "With --format raw: end each payload with NUL, not newline.")
    var nulTerminated = false

    /// Local times.
    @Flag(name: .long, help: "Print local times in text and templates (JSON stays UTC).")
    var local = false

    func validate() throws {
        do { _ = try outputFormat() } catch { throw ValidationError(error.message) }
        if json && format != "text" && format != "json" { throw ValidationError("--json and --format \(format) disagree: choose one") }
        if nulTerminated && (try? outputFormat()) != .raw { throw ValidationError("-0 goes with --format raw") }
    }

    func outputFormat() throws(RoomWardenError) -> OutputFormat {
        json ? .json : try OutputFormat(parsing: format)
    }

    /// The formatter, with colour only on a terminal and never with NO_COLOR.
    func formatter() throws(RoomWardenError) -> MessageFormatter {
        let env = Environment()
        let colour = isatty(1) == 1 && (env["NO_COLOR"] ?? "").isEmpty && env["TERM"] != "dumb"
        return MessageFormatter(format: try outputFormat(), colour: colour, localTime: local, nulTerminated: nulTerminated)
    }
}

extension OutputOptions {
    /// The quick path's reading (QuickParsable): the same names as above.
    static func quick(_ a: inout QuickArguments) -> Self? {
        var o = Self()
        o.format = a.value("format", short: "f", joined: true) ?? "text"
        o.json = a.flag("json")
        o.nulTerminated = a.flag("null", short: "0")
        o.local = a.flag("local")
        do { try o.validate() } catch { return nil }
        return o
    }
}
