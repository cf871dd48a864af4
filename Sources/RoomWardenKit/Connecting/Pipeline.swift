import Hiredis

/// Commands gathered for one round trip, each remembered by the slot it
/// got, so that replies are looked up by name rather than by counting
/// positions.
struct Pipeline {
    /// Where one command's reply will be.
    struct Slot {
        fileprivate let index: Int
    }

    /// The replies of a round trip, looked up by their commands' slots.
    struct Replies {
        fileprivate let replies: [Reply]
        subscript(_ slot: Slot) -> Reply { replies[slot.index] }
    }

    private(set) var commands: [Command] = []

    /// Adds a command; its reply will be at the slot returned.
    mutating func add(_ command: Command) -> Slot {
        commands.append(command)
        return Slot(index: commands.count - 1)
    }

    /// Sends every command in one round trip on `connection`.
    func run(on connection: Connection, doing: String) throws(RoomWardenError) -> Replies {
        Replies(replies: try connection.pipeline(commands, doing: doing))
    }
}
