import ArgumentParser
import Foundation
import RoomWardenKit

/// The root command: lists the subcommands, owns nothing else.
package struct RoomWarden: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "roomwarden",
        abstract: "Moderate and monitor chat rooms that run on Redis pub/sub.",
        discussion: """
            Rooms are pub/sub channels (room:lobby); each room's archive is the sorted \
            set <channel>:archive, scored by time in milliseconds.

            Exit codes: 0 ok, 1 failure or --count not reached, 64 usage, 65 data refused \
            by the server, 69 Redis unreachable, 77 authentication or ACL denied, \
            130/143 interrupted.
            """,
        version: "0.1.0",
        subcommands: [Watch.self, Publish.self, History.self, Stats.self],
        helpNames: .long
    )

    package init() {}

    /// Like ArgumentParser's own main, but a usage error is one line on
    /// stderr (what is wrong, and where help is), exit 64.
    package static func main() {
        // Before anything opens a file or socket: a closed stdout must not
        // become the Redis connection.
        guard StandardDescriptors.reopenClosed() else { Foundation.exit(1) }
        let arguments = RawArguments.strings
        do {
            var command = try parseAsRoot(arguments)
            try RawArguments.checkTakenAsBytes(by: command)
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {  // --help, --version, completion scripts
                let text = fullMessage(for: error)
                if !text.isEmpty { print(text) }
                Foundation.exit(0)
            }
            let message = ArgumentRejection.explained(self.message(for: error))
            if !message.isEmpty {
                let sub = arguments.first { ["watch", "publish", "history", "stats"].contains($0) }
                let help = sub.map { "roomwarden \($0) --help" } ?? "roomwarden --help"
                let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: "; ")
                printDiagnostic(code == .validationFailure ? "\(oneLine) (see '\(help)')" : oneLine)
            }
            Foundation.exit(code.rawValue)
        }
    }
}
