import Hiredis

/// The bounded hand-off between the thread that drains the socket and the
/// one that formats and writes. Holds at most `capacity` bytes of messages;
/// past that, whole reads are dropped and counted, never silently.
///
/// `@unchecked Sendable`: every stored property is read and written only
/// with `condition` locked.
final class WatchQueue: @unchecked Sendable {
    enum Item {
        case messages(MessageBatch)
        /// Messages dropped because the queue was full, and when.
        case dropped(count: Int, from: Int64, to: Int64)
        /// A line for stderr (connection lost, regained).
        case notice(String)
    }

    enum End {
        case signal(Int32)
        case stdoutClosed
        case failed(RoomWardenError)
    }

    private let condition = Condition()
    private var items: [Item] = []
    private var held = 0
    private var end: End?
    private var subscribed = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Adds a batch, or drops and counts it when the queue is full.
    func push(_ batch: MessageBatch) {
        condition.lock()
        defer { condition.unlock() }
        let size = batch.footprint
        if held + size > capacity {
            if case .dropped(let n, let from, _)? = items.last {
                items[items.count - 1] = .dropped(count: n + batch.count, from: from, to: batch.receivedAt)
            } else {
                items.append(.dropped(count: batch.count, from: batch.receivedAt, to: batch.receivedAt))
            }
        } else {
            held += size
            items.append(.messages(batch))
        }
        condition.signal()
    }

    /// Adds a line for stderr, in order with the messages.
    func notice(_ text: String) {
        condition.lock()
        items.append(.notice(text))
        condition.signal()
        condition.unlock()
    }

    /// Ends the watch; the first reason given wins.
    func finish(_ reason: End) {
        condition.lock()
        if end == nil { end = reason }
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until there are items, an end, or `deadline` (monotonic ms);
    /// takes every item. Their bytes stay counted until `release`.
    func take(until deadline: Int64?) -> ([Item], End?) {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && end == nil {
            if let deadline {
                let left = deadline - Monotonic.milliseconds()
                if left <= 0 { break }
                condition.wait(milliseconds: left)
            } else {
                condition.wait()
            }
        }
        let taken = items
        items.removeAll(keepingCapacity: true)
        return (taken, end)
    }

    /// The server confirmed every subscription.
    func markSubscribed() {
        condition.lock()
        if !subscribed {
            subscribed = true
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Waits for `markSubscribed`; returns the end instead if one came first.
    func waitUntilSubscribed() -> End? {
        condition.lock()
        defer { condition.unlock() }
        while !subscribed && end == nil { condition.wait() }
        return subscribed ? nil : end
    }

    /// The end, if one came.
    var ended: End? {
        condition.lock()
        defer { condition.unlock() }
        return end
    }

    /// Frees the bytes of items processed.
    func release(_ bytes: Int) {
        condition.lock()
        held -= bytes
        condition.unlock()
    }

    /// True if nothing is waiting.
    var isEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return items.isEmpty
    }
}
