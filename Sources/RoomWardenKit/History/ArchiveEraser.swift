import Hiredis

/// `history --delete`: removes archive entries one exact member at a time,
/// `ZREM key member` (`LREM key ±1 entry` for a list backlog), never by
/// score range, so that an entry that arrived meanwhile is never touched.
/// Removals go out in pipelined batches of bounded size (memory stays flat
/// and no single server call is long), and an entry is printed only once
/// the server said it removed it.
final class ArchiveEraser {
    /// The connection that owns a key: one server today; the node that
    /// holds the key's slot in a cluster.
    private let connection: (_ key: [UInt8]) throws(RoomWardenError) -> Connection
    private let sink: OutputSink
    /// The reader formats each entry it hands over here, then calls `add`.
    var output: [UInt8] = []
    private var pending: [Pending] = []
    private var pendingBytes = 0
    /// Entries the server removed.
    private(set) var removed = 0
    /// Entries that were no longer there (someone removed them meanwhile).
    private(set) var gone = 0
    /// Entries whose replies were lost with the connection.
    private var unknown = 0
    private var rooms = Set<[UInt8]>()

    /// The most entries, and member and output bytes, sent in one batch.
    static let batchEntries = 1000
    static let batchBytes = 4 << 20

    private struct Pending {
        let key: [UInt8]
        let channel: [UInt8]
        let command: Command
        /// Where this entry's formatted line ends in `output`.
        let outputEnd: Int
    }

    init(connection: @escaping (_ key: [UInt8]) throws(RoomWardenError) -> Connection, sink: OutputSink) {
        self.connection = connection
        self.sink = sink
    }

    /// Queues the removal of `member` from `key`, whose line was just
    /// formatted into `output`. `listCount` is LREM's count for a list
    /// (1: the newest equal entry, -1: the oldest), nil for a sorted set.
    func add(key: [UInt8], channel: [UInt8], member: UnsafeRawBufferPointer, listCount: Int?) throws(RoomWardenError) {
        let bytes = Array(member)
        let command: Command = listCount.map { .lrem(key: key, count: $0, element: bytes) } ?? .zrem(key: key, member: bytes)
        pending.append(Pending(key: key, channel: channel, command: command, outputEnd: output.count))
        pendingBytes += bytes.count
        if pending.count >= ArchiveEraser.batchEntries || pendingBytes + output.count >= ArchiveEraser.batchBytes { try flush() }
    }

    /// Sends the queued removals (one pipeline per connection), prints the
    /// entries the server removed, in order, and throws the first refusal
    /// or a lost link after that.
    func flush() throws(RoomWardenError) {
        guard !pending.isEmpty else { return }
        defer {
            pending.removeAll(keepingCapacity: true)
            output.removeAll(keepingCapacity: true)
            pendingBytes = 0
        }
        var groups: [(connection: Connection, entries: [Int], ticket: Connection.Ticket?)] = []
        var connections: [Connection] = []
        for (i, p) in pending.enumerated() {
            let c = try connection(p.key)
            connections.append(c)
            if let g = groups.firstIndex(where: { $0.connection === c }) { groups[g].entries.append(i) } else { groups.append((c, [i], nil)) }
        }
        var outcomes = [Reply?](repeating: nil, count: pending.count)
        var lost: RoomWardenError?
        for g in groups.indices {
            var batch = CommandBatch()
            for i in groups[g].entries { batch.add(pending[i].command) }
            do {
                groups[g].ticket = try groups[g].connection.append(batch)
                try groups[g].connection.flush()
            } catch {
                lost = RoomWardenError.from(error, doing: "removing entries", endpoint: groups[g].connection.endpoint)
                break
            }
        }
        for g in groups {
            guard let ticket = g.ticket else { continue }
            do {
                for (i, reply) in zip(g.entries, try g.connection.replies(to: ticket)) { outcomes[i] = reply }
            } catch {
                lost = lost ?? RoomWardenError.from(error, doing: "removing entries", endpoint: g.connection.endpoint)
            }
        }
        var refusal: RoomWardenError?
        var start = 0
        for (i, (p, outcome)) in zip(pending, outcomes).enumerated() {
            let line = start..<p.outputEnd
            start = p.outputEnd
            guard let outcome else {
                unknown += 1
                continue
            }
            if let error = outcome.errorMessage {
                let key = String(decoding: p.key, as: UTF8.self)
                refusal = refusal ?? RoomWardenError.from(.server(error), doing: "removing entries from '\(key)' (\(p.command.name))",
                                                          endpoint: connections[i].endpoint)
            } else if (outcome.integer ?? 0) > 0 {
                removed += 1
                rooms.insert(p.channel)
                sink.buffer.append(contentsOf: output[line])
            } else {
                gone += 1
            }
        }
        try sink.flush()
        if let failure = lost ?? refusal { throw failure }
    }

    /// The closing line: how many entries were removed from how many rooms.
    var summary: String {
        var text = "removed \(removed) \(removed == 1 ? "entry" : "entries") from \(rooms.count) \(rooms.count == 1 ? "room" : "rooms")"
        if gone > 0 { text += "; \(gone) \(gone == 1 ? "was" : "were") already gone (removed by someone else meanwhile)" }
        return text
    }

    /// `error`, saying what was removed before it (nothing half-done is
    /// reported as done).
    func failed(_ error: RoomWardenError) -> RoomWardenError {
        guard error.exitCode != 0, !error.message.isEmpty else { return error }
        var said = error
        if removed + gone + unknown == 0 {
            said.message += "; nothing was removed"
        } else {
            said.message += "; \(summary) before that (printed on stdout)"
            if unknown > 0 { said.message += "; the replies for \(unknown) more were lost: they may or may not have been removed" }
        }
        return said
    }
}
