import Hiredis

extension Connection {
    /// Sends `commands` in one pipeline and returns their replies, in
    /// order. A failed link is the contract's error (69 ...), said as
    /// `doing`; a server error in a reply is left to the caller.
    public func pipeline(_ commands: [Command], doing: String) throws(RoomWardenError) -> [Reply] {
        guard !commands.isEmpty else { return [] }
        var batch = CommandBatch()
        for c in commands { batch.add(c) }
        do {
            return try replies(to: append(batch))
        } catch {
            throw RoomWardenError.from(error, doing: doing, endpoint: endpoint)
        }
    }

    /// Sends one command and returns its reply; a server error in it throws
    /// the contract's error (65, 77 ...), said as `doing`.
    public func checked(_ command: Command, doing: String) throws(RoomWardenError) -> Reply {
        do {
            return try self.command(command).check()
        } catch {
            throw RoomWardenError.from(error, doing: doing, endpoint: endpoint)
        }
    }
}

extension Reply {
    /// The reply itself, or the contract's error for a server error in it
    /// (NOPERM 77, WRONGTYPE 65 ...), said as `doing`.
    func checked(doing: String, at endpoint: Endpoint) throws(RoomWardenError) -> Reply {
        if let line = errorMessage { throw RoomWardenError.from(.server(line), doing: doing, endpoint: endpoint) }
        return self
    }
}
