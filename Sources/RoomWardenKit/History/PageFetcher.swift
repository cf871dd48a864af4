#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// Keeps the order of pipelined page requests on one connection: a page
/// requested early is read when its stream needs it, after any reply sent
/// before it.
final class PageFetcher {
    let connection: Connection
    private var waiting: [RoomStream] = []

    init(connection: Connection) { self.connection = connection }

    func request(_ stream: RoomStream, _ command: [[UInt8]]) throws(RoomWardenError) {
        do {
            try connection.append(command)
            try connection.flush()
        } catch {
            throw RoomWardenError.from(error, doing: "reading archives", endpoint: connection.endpoint)
        }
        waiting.append(stream)
    }

    /// Reads replies until `stream`'s has come.
    func await(_ stream: RoomStream) throws(RoomWardenError) {
        while !stream.pageArrived, !waiting.isEmpty {
            let owner = waiting.removeFirst()
            do {
                owner.receive(try connection.readArray { owner.page.append($0) })
            } catch {
                throw RoomWardenError.from(error, doing: "reading archives", endpoint: connection.endpoint)
            }
        }
    }
}
