import Hiredis

/// What watch received live in the last moments: a gap's replay starts a
/// little before the last byte heard (a publisher stamps a message before
/// it publishes it), and skips what was received live already.
///
/// Keeps the batches themselves (no copy) for `span` ms, at most
/// `capacity` bytes of them.
struct RecentLive {
    let span: Int64
    let capacity: Int
    private var batches: [MessageBatch] = []
    private var first = 0
    private var bytes = 0

    init(span: Int64 = 2 * GapReplay.margin, capacity: Int = 32 << 20) {
        self.span = span
        self.capacity = capacity
    }

    /// Notes a batch received live.
    mutating func add(_ batch: MessageBatch) {
        batches.append(batch)
        bytes += batch.footprint
        while first < batches.count,
              bytes > capacity || batches[first].receivedAt < batch.receivedAt - span {
            bytes -= batches[first].footprint
            first += 1
        }
        if first > 64 && first * 2 > batches.count {
            batches.removeFirst(first)
            first = 0
        }
    }

    /// The messages received live from `since` on, one per PUBLISH (the
    /// copies overlapping subscriptions bring counted once): room and
    /// payload as `Handoff.key`, and how many times.
    func received(since: Int64) -> [[UInt8]: Int] {
        var counts: [[UInt8]: Int] = [:]
        var copies = CopyFilter()
        for batch in batches[first...] where batch.receivedAt >= since {
            batch.forEach { pattern, channel, payload in
                if !copies.isCopy(pattern: pattern, channel: channel, payload: payload) {
                    counts[Handoff.key(channel, payload), default: 0] += 1
                }
                return true
            }
        }
        return counts
    }
}
