import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import RoomWardenKit

/// The root command: lists the subcommands, owns nothing else.
package struct RoomWarden: ParsableCommand {
    /// roomwarden's own version; `--version` adds what it was built with.
    static let version = "0.1.0"

    package static let configuration = CommandConfiguration(
        commandName: "roomwarden",
        abstract: "Moderate and monitor chat rooms that run on Redis pub/sub.",
        discussion: """
            Rooms are pub/sub channels (room:lobby); each room's archive is the sorted \
            set <channel>:archive, scored by time in milliseconds.

            Exit codes: 0 ok, 1 failure or --count not reached, 64 usage, 65 data refused \
            by the server, 69 Redis unreachable, 77 authentication or ACL denied, \
            130/143 interrupted. The manual: man roomwarden.
            """,
        version: "roomwarden \(version) (\(BuildInfo.summary))",
        subcommands: [Watch.self, Publish.self, History.self, Stats.self],
        helpNames: .long
    )

    package init() {}

    /// Like ArgumentParser's own main, but a usage error is one line on
    /// stderr (what is wrong, and where help is), exit 64.
    package static func main() {
        // Before anything opens a file or socket: a closed stdout must not
        // become the Redis connection.
        guard StandardDescriptors.reopenClosed() else { Glibc.exit(1) }
        let arguments = RawArguments.strings
        if arguments.isEmpty {
            // Nothing to do is a usage error, as in git and kcat: the
            // overview goes to stderr, not to a pipe that expected results.
            printToStderr(helpMessage())
            Glibc.exit(64)
        }
        if let word = arguments.first, let unknown = unknownCommand(word) {
            printDiagnostic(unknown)
            Glibc.exit(64)
        }
        do {
            // A plain command line skips ArgumentParser's reflection (see
            // QuickParsable); anything else, help and errors included, is its.
            var command = try QuickParse.command(arguments) ?? parseAsRoot(arguments)
            try RawArguments.checkTakenAsBytes(by: command)
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {  // --help, --version, completion scripts
                let text = fullMessage(for: error)
                if !text.isEmpty { print(text) }
                Glibc.exit(0)
            }
            // The parser echoes what it could not take: never a password.
            let message = ArgumentSecrets.redacted(ArgumentRejection.explained(self.message(for: error)), arguments: arguments)
            if !message.isEmpty {
                let sub = arguments.first { commandNames.contains($0) }
                let help = sub.map { "roomwarden \($0) --help" } ?? "roomwarden --help"
                let oneLine = message.split(whereSeparator: \.isNewline).map { $0.drop(while: \.isWhitespace) }.joined(separator: "; ")
                printDiagnostic(code == .validationFailure ? "\(oneLine) (see '\(help)')" : oneLine)
            }
            Glibc.exit(code.rawValue)
        }
    }

    static var commandNames: [String] { configuration.subcommands.map { $0._commandName } }

    /// The error line for a first word that is no command (options are
    /// the parser's business), with the nearest command when one is close.
    static func unknownCommand(_ word: String) -> String? {
        // The common case first, without asking the parser: every call
        // into its command tree costs startup time (reflection).
        if word.hasPrefix("-") || ["watch", "publish", "history", "stats", "help"].contains(word) { return nil }
        guard !commandNames.contains(word) else { return nil }
        let candidates = commandNames + ["help"]
        let scored = candidates.map { (name: $0, distance: editDistance(word.lowercased(), $0)) }
        if let best = scored.min(by: { $0.distance < $1.distance }),
           best.distance <= max(1, best.name.count / 3) || best.name.hasPrefix(word.lowercased()) {
            return "unknown command '\(word)'; did you mean '\(best.name)'?"
        }
        return "unknown command '\(word)'; the commands are \(commandNames.joined(separator: ", ")) (see 'roomwarden --help')"
    }

    /// Levenshtein distance, counting a swap of two neighbours as one edit
    /// (histroy is one slip from history).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }

    private static func printToStderr(_ text: String) {
        var bytes = Array(text.utf8)
        if bytes.last != 0x0A { bytes.append(0x0A) }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, let base = raw.baseAddress {
                let n = write(2, base + offset, raw.count - offset)
                if n <= 0 { if errno == EINTR { continue }; return }
                offset += n
            }
        }
    }
}
