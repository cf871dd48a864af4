#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// What watch received live in the last moments: a gap's replay starts a
/// little before the last byte heard (a publisher stamps a message before
/// it publishes it), and skips what was received live already. Also the
/// rooms heard live, so a gap's report can name those without an archive.
///
/// Keeps, per message, only its `Handoff.key` (8 bytes, no copy of the
/// message) and when its read returned, for `span` ms, at most `capacity`
/// messages: a burst of a million messages a second costs a few MB, not
/// the batches themselves. `add` takes whole batches, so the hot path
/// pays one hash per message and nothing else.
struct RecentLive {
    let span: Int64
    let capacity: Int
    /// The handoff's marker channel: no room.
    private let marker: [UInt8]
    /// Tells the copies overlapping subscriptions bring (nil: there are
    /// none).
    private var copies: CopyFilter?
    /// Full chunks, oldest first, from `first` on.
    private var chunks: [Chunk] = []
    private var first = 0
    private var held = 0
    /// The chunk being filled.
    private var current = Chunk(capacity: 0)
    /// Rooms heard live, at most `roomLimit`.
    private(set) var rooms = Set<[UInt8]>()
    /// The rooms' `Handoff.key`s (with no payload), to look them up
    /// without a copy.
    private var roomKeys = Set<Int>()
    private var lastRoom: [UInt8] = []
    private let roomLimit = 100_000

    /// Keys in one block of memory, and when each run of them came.
    private final class Chunk {
        static let size = 1 << 15
        let keys: UnsafeMutablePointer<Int>
        let capacity: Int
        var count = 0
        /// Where each run of keys received at one time begins.
        var runs: [(start: Int, at: Int64)] = []
        var newest: Int64 { runs.last?.at ?? .min }

        init(capacity: Int) {
            self.capacity = capacity
            keys = .allocate(capacity: max(capacity, 1))
        }

        deinit { keys.deallocate() }
    }

    /// `span`: a gap's replay asks for what came from `GapReplay.margin`
    /// before the last byte heard; the rest is slack for the wall clock.
    /// `mayRepeat`: overlapping subscriptions may deliver one PUBLISH more
    /// than once (counted once here).
    init(marker: String?, mayRepeat: Bool, span: Int64 = GapReplay.margin + 500, capacity: Int = 4 << 20) {
        self.marker = Array((marker ?? "").utf8)
        copies = mayRepeat ? CopyFilter() : nil
        self.span = span
        self.capacity = capacity
    }

    /// Notes a batch received live.
    mutating func add(_ batch: MessageBatch) {
        if current.count + batch.count > current.capacity {
            if current.count > 0 { seal(current) }
            current = Chunk(capacity: max(Chunk.size, batch.count))
        }
        let chunk = current
        if chunk.runs.last?.at != batch.receivedAt { chunk.runs.append((chunk.count, batch.receivedAt)) }
        let keys = chunk.keys
        var n = chunk.count
        var filter = copies
        let known = roomKeys
        var newRooms: [UnsafeRawBufferPointer] = []
        let last = lastRoom
        last.withUnsafeBytes { last in
            var previous = last
            batch.forEach { pattern, channel, payload in
                if filter != nil, filter?.isCopy(pattern: pattern, channel: channel, payload: payload) == true { return true }
                if !Handoff.same(channel, previous) {
                    if !known.contains(Handoff.key(channel, UnsafeRawBufferPointer(start: nil, count: 0))) { newRooms.append(channel) }
                    previous = channel
                }
                keys[n] = Handoff.key(channel, payload)
                n &+= 1
                return true
            }
            lastRoom = Array(previous)
        }
        copies = filter
        chunk.count = n
        if !newRooms.isEmpty { hear(newRooms, in: batch) }
    }

    /// Notes rooms heard (views into `batch`, read while it is alive).
    private mutating func hear(_ channels: [UnsafeRawBufferPointer], in batch: MessageBatch) {
        withExtendedLifetime(batch) {
            for channel in channels where rooms.count < roomLimit && !Handoff.same(channel, marker) {
                if roomKeys.insert(Handoff.key(channel, UnsafeRawBufferPointer(start: nil, count: 0))).inserted {
                    rooms.insert(Array(channel))
                }
            }
        }
    }

    /// The last message before a new link or a drop: what comes next is
    /// new, not a copy.
    mutating func reset() { copies?.reset() }

    /// Files a full chunk, and drops whole chunks older than `span` before
    /// its newest, or past `capacity`.
    private mutating func seal(_ chunk: Chunk) {
        chunks.append(chunk)
        held += chunk.count
        while first < chunks.count - 1, held > capacity || chunks[first].newest < chunk.newest - span {
            held -= chunks[first].count
            chunks[first] = Chunk(capacity: 0)
            first += 1
        }
        if first > 16 && first * 2 > chunks.count {
            chunks.removeFirst(first)
            first = 0
        }
    }

    /// The messages received live from `since` on, one per PUBLISH: room
    /// and payload as `Handoff.key`, and how many times.
    func received(since: Int64) -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for chunk in chunks[first...] + [current] where chunk.newest >= since {
            for (i, run) in chunk.runs.enumerated() where run.at >= since {
                let end = i + 1 < chunk.runs.count ? chunk.runs[i + 1].start : chunk.count
                for j in run.start..<end { counts[chunk.keys[j], default: 0] += 1 }
            }
        }
        return counts
    }
}
