import ArgumentParser

/// The root command: lists the subcommands, owns nothing else.
@main
struct RoomWarden: ParsableCommand {
    static let configuration = CommandConfiguration(
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
}
