import Hiredis

/// `watch --archive` into rooms kept the seed recipe's way (a list backlog
/// at the backlog key, no sorted-set archive): each message's payload
/// itself, pushed per room and batch with `MULTI; LPUSH <backlog> p1 ...
/// pN; EXEC`, as the recipe does (the chat backend shows those entries to
/// people: no envelope). Lives on the archive writer's thread.
///
/// The recipe's own publisher pushes each message before it publishes it,
/// so a message whose payload is among the entries its backlog gained
/// since watch last looked (at the first look, among its newest entries),
/// not already matched by another message, is not pushed again; an entry
/// seen waits `window` for its message. The same look after a lost link
/// finds what an unanswered push did, so a retry pushes nothing twice.
struct BacklogPushes {
    /// How long an entry another writer pushed waits for its message, ms.
    let window: Int64
    /// How many of a backlog's newest entries are kept to tell, at the next
    /// look, which entries are new.
    private let remembered = 16
    private var rooms: [[UInt8]: Room] = [:]

    private struct Room {
        /// The newest entries at the last look, newest first; nil before
        /// the first look.
        var head: [[UInt8]]?
        /// Entries others pushed that no message matched yet: payload ->
        /// when each was seen (monotonic ms).
        var unmatched: [[UInt8]: [Int64]] = [:]
    }

    /// One room's messages of a batch, oldest first.
    struct Pushes {
        var key: [UInt8]
        var payloads: [[UInt8]]
    }

    init(window: Int64 = 5000) { self.window = window }

    /// Looks at each backlog, then pushes what is not there yet. Returns the
    /// server's refusals (its line -> how many messages); throws when the
    /// link fails (the caller sends the batch again).
    mutating func push(_ batch: [Pushes], on connection: Connection) throws -> [String: Int] {
        guard !batch.isEmpty else { return [:] }
        var refused: [String: Int] = [:]
        let looks = try connection.pipeline(batch.map { .lrange(key: $0.key, start: 0, stop: 2 * $0.payloads.count + 63) },
                                            doing: "reading the list backlogs")
        let now = Monotonic.milliseconds()
        var writes = CommandBatch()
        var written: [(index: Int, count: Int)] = []
        for (i, (pushes, look)) in zip(batch, looks).enumerated() {
            if let line = look.errorMessage {
                refused[line, default: 0] += pushes.payloads.count
                continue
            }
            let entries = (look.elements ?? []).compactMap(\.bytes)
            var room = rooms[pushes.key] ?? Room()
            for entry in BacklogPushes.gained(entries, since: room.head) { room.unmatched[entry, default: []].append(now) }
            room.unmatched = room.unmatched.compactMapValues { seen in
                let kept = seen.filter { now - $0 <= window }
                return kept.isEmpty ? nil : kept
            }
            var fresh: [[UInt8]] = []
            for payload in pushes.payloads {
                if var seen = room.unmatched[payload] {
                    seen.removeFirst()
                    room.unmatched[payload] = seen.isEmpty ? nil : seen
                } else {
                    fresh.append(payload)
                }
            }
            room.head = Array(entries.prefix(remembered))
            rooms[pushes.key] = room
            guard !fresh.isEmpty else { continue }
            writes.add(.multi)
            writes.begin(2 + fresh.count)
            writes.argument("LPUSH")
            writes.argument(pushes.key)
            for payload in fresh { writes.argument(payload) }
            // Enough to see past what others push meanwhile, to the head
            // just seen.
            writes.add(.lrange(key: pushes.key, start: 0, stop: fresh.count + remembered + 63))
            writes.add(.exec)
            written.append((i, fresh.count))
        }
        guard writes.count > 0 else { return refused }
        try connection.append(writes)
        let replies = try connection.readReplies(writes.count)
        for (n, (i, count)) in written.enumerated() {
            let key = batch[i].key
            let exec = replies[n * 4 + 3]
            let results = exec.elements ?? []
            if let line = exec.errorMessage ?? replies[n * 4 + 1].errorMessage ?? results.first?.errorMessage {
                refused[line, default: 0] += count
            } else if results.count == 2, var room = rooms[key] {
                // Ours first (the transaction ran as one), then what others
                // pushed since the look, then the head it saw.
                let after = (results[1].elements ?? []).compactMap(\.bytes)
                for entry in BacklogPushes.gained(Array(after.dropFirst(count)), since: room.head) {
                    room.unmatched[entry, default: []].append(now)
                }
                room.head = Array(after.prefix(remembered))
                rooms[key] = room
            }
        }
        if rooms.count > 100_000 { rooms.removeAll() }
        return refused
    }

    /// The entries at the head of `entries` (newest first) that came after
    /// `head`, the newest entries at the last look: all of them at the
    /// first look, or when `head` is no longer among them.
    static func gained(_ entries: [[UInt8]], since head: [[UInt8]]?) -> ArraySlice<[UInt8]> {
        guard let head, !head.isEmpty else { return entries[...] }
        for k in entries.indices where entries[k] == head[0] {
            let overlap = min(head.count, entries.count - k)
            if entries[k..<k + overlap].elementsEqual(head[0..<overlap]) { return entries[..<k] }
        }
        return entries[...]
    }
}
