import Hiredis

/// Keeps the order of pipelined page requests on one connection: a page
/// requested early is read when its stream needs it, after any reply
/// requested before it, and each page lands in the stream that asked.
final class PageFetcher {
    let connection: Connection
    /// Pages on their way, in the order they were asked for.
    private var waiting: [(stream: RoomStream, ticket: Connection.Ticket)] = []

    /// Runs before each page request (history --delete sends the removals
    /// of the entries read so far, so the page is read without them).
    var beforeRequest: (() throws(RoomWardenError) -> Void)?

    init(connection: Connection) { self.connection = connection }

    /// Sends `command` (a page request) at once: the server works on it
    /// while the current page prints.
    func request(_ stream: RoomStream, _ command: Command) throws(RoomWardenError) {
        try beforeRequest?()
        do {
            let ticket = try connection.append(command)
            try connection.flush()
            waiting.append((stream, ticket))
        } catch {
            throw RoomWardenError.from(error, doing: "reading archives", endpoint: connection.endpoint)
        }
    }

    /// Reads replies until `stream`'s has come.
    func await(_ stream: RoomStream) throws(RoomWardenError) {
        while !stream.pageArrived, !waiting.isEmpty {
            let (owner, ticket) = waiting.removeFirst()
            do {
                owner.receive(try connection.readArray(for: ticket) { owner.page.append($0) })
            } catch {
                throw RoomWardenError.from(error, doing: "reading archives", endpoint: connection.endpoint)
            }
        }
    }

    /// Gives up every page still on its way (the merge has all it needs):
    /// the connection drops those replies before reading anyone else's.
    func cancelAll() {
        for (_, ticket) in waiting { connection.abandon(ticket) }
        waiting.removeAll()
    }
}
