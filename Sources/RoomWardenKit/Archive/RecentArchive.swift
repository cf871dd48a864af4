import Hiredis

/// What the rooms' archives already hold around now, written by others:
/// `watch --archive` adds no entry for a message whose publisher archived
/// it already (same room and payload, stamped within `window` of when
/// watch received it), each archived entry standing for one message.
///
/// Each room's archive is read incrementally by score, from `margin`
/// before the last read began (another writer may stamp an entry a little
/// before it lands), so an entry is read about once; what is read is kept
/// while a message received later may still match it. Entries this
/// process wrote are recognised and never counted.
struct RecentArchive {
    /// How far apart the archive's stamp and the time watch received the
    /// message may be.
    let window: Int64
    /// How long before it lands another writer's entry may be stamped.
    let margin: Int64
    /// The most entries read from one room per refresh.
    let readLimit: Int

    private struct Room {
        /// The lowest score the next read asks for.
        var readFrom: Int64
        /// Other writers' entries not matched yet: payload -> stamps.
        var byPayload: [[UInt8]: [Int64]] = [:]
        /// Every entry read or written whose score the next read still
        /// covers (hash of the member -> score), so none counts twice.
        var known: [Int: Int64] = [:]
    }

    private var rooms: [[UInt8]: Room] = [:]
    private var scratch = EnvelopeScratch()

    init(window: Int64 = 5000, margin: Int64 = 2000, readLimit: Int = 50_000) {
        self.window = window
        self.margin = margin
        self.readLimit = readLimit
    }

    /// Reads what each room's archive gained since the last read. `rooms`
    /// maps each archive key to the channel and the oldest message time
    /// about to be checked against it.
    mutating func refresh(_ wanted: [[UInt8]: (channel: [UInt8], oldest: Int64)], on connection: Connection) throws(RedisError) {
        try refresh(wanted) { (commands) throws(RedisError) in
            var batch = CommandBatch()
            for command in commands { batch.add(command) }
            try connection.append(batch)
            return try connection.readReplies(batch.count)
        }
    }

    /// The same, each round of reads sent with `run` (one command per key,
    /// the key its second argument; the replies in order): on a Redis
    /// Cluster, to each key's primary, redirections followed.
    mutating func refresh<Failure: Error>(
        _ wanted: [[UInt8]: (channel: [UInt8], oldest: Int64)], run: ([Command]) throws(Failure) -> [Reply]
    ) throws(Failure) {
        let startedAt = WallClock.nowMilliseconds()
        let keys = Array(wanted.keys)
        var offsets = [Int](repeating: 0, count: keys.count)
        var open = Array(keys.indices)
        let page = 2000
        while !open.isEmpty {
            var reads: [Command] = []
            for i in open {
                let from = rooms[keys[i]]?.readFrom ?? (wanted[keys[i]]?.oldest ?? startedAt) - window
                reads.append(.zrangeByScore(key: keys[i], from: .inclusive(Score(from)), to: .positiveInfinity, limit: (offsets[i], page)))
            }
            let replies = try run(reads)
            var stillOpen: [Int] = []
            for (i, reply) in zip(open, replies) {
                let key = keys[i]
                let from = rooms[key]?.readFrom ?? (wanted[key]?.oldest ?? startedAt) - window
                var room = rooms[key] ?? Room(readFrom: from)
                // A key of another type answers with an error: the write
                // that follows reports it.
                let items = reply.elements ?? []
                var j = 0
                while j + 1 < items.count {
                    if let member = items[j].bytes, let s = items[j + 1].string, let score = Double(s) {
                        remember(member, score: Int64(score), channel: wanted[key]?.channel ?? [], in: &room)
                    }
                    j += 2
                }
                rooms[key] = room
                offsets[i] += page
                if items.count / 2 == page && offsets[i] < readLimit { stillOpen.append(i) }
            }
            open = stillOpen
        }
        for key in keys {
            guard var room = rooms[key], let oldest = wanted[key]?.oldest else { continue }
            room.readFrom = max(room.readFrom, startedAt - margin)
            room.known = room.known.filter { $0.value >= room.readFrom }
            let expired = oldest - window
            if room.byPayload.values.contains(where: { $0.contains { $0 < expired } }) {
                room.byPayload = room.byPayload.compactMapValues { stamps in
                    let kept = stamps.filter { $0 >= expired }
                    return kept.isEmpty ? nil : kept
                }
            }
            rooms[key] = room
        }
    }

    /// True, and the archived entry used up, if `key`'s archive already
    /// holds this message.
    mutating func holds(key: [UInt8], payload: UnsafeRawBufferPointer, ts: Int64) -> Bool {
        let p = Array(payload)
        guard var stamps = rooms[key]?.byPayload[p] else { return false }
        guard let best = stamps.indices.min(by: { abs(stamps[$0] - ts) < abs(stamps[$1] - ts) }),
              abs(stamps[best] - ts) <= window else { return false }
        stamps.remove(at: best)
        rooms[key]?.byPayload[p] = stamps.isEmpty ? nil : stamps
        return true
    }

    /// Notes an entry this process wrote, so reading it back does not
    /// count it as another writer's.
    mutating func wrote(key: [UInt8], member: [UInt8], score: Int64) {
        rooms[key, default: Room(readFrom: score - window)].known[member.hashValue] = score
    }

    private mutating func remember(_ member: [UInt8], score: Int64, channel: [UInt8], in room: inout Room) {
        let hash = member.hashValue
        guard room.known.updateValue(score, forKey: hash) == nil else { return }
        member.withUnsafeBytes { m in
            ArchiveMember.read(m, score: Double(score), unit: .milliseconds, channel: channel, scratch: &scratch) { view in
                room.byPayload[Array(view.payload), default: []].append(view.ts ?? score)
            }
        }
    }
}
