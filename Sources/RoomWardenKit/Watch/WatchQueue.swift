#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// The bounded hand-off between the thread that drains the socket and the
/// one that formats and writes. Holds at most `capacity` bytes of messages;
/// past that, whole reads are dropped and counted, never silently.
///
/// It also carries the end of the watch to every thread: `finish` wakes
/// whoever waits on the queue, and makes `wakeDescriptor` readable for
/// threads that wait in poll(2) on a socket.
///
/// `@unchecked Sendable`: every stored property is read and written only
/// with `condition` locked, except the pipe's descriptors, which are set
/// once in `init`.
final class WatchQueue: @unchecked Sendable {
    enum Item {
        case messages(MessageBatch)
        /// Messages dropped because the queue was full, and when.
        case dropped(count: Int, from: Int64, to: Int64)
        /// A line for stderr (connection lost, regained).
        case notice(String)
        /// A new link to the server begins: what follows came through it.
        /// The copies of one PUBLISH never span two links.
        case linkOpened
        /// The server confirmed every subscription on the current link, at
        /// this monotonic time (ms); after a loss, `gap` says what was
        /// missed.
        case subscribed(atMonotonic: Int64, gap: Gap?)
    }

    /// What a lost link missed: what was published from the last byte
    /// heard on the old link (`from`) to the confirmation of the new one
    /// (`to`), Unix ms.
    struct Gap {
        var from: Int64
        var to: Int64
        /// `reconnected to Redis at ... after 6.2s`: the start of the line
        /// that reports it.
        var regained: String
    }

    enum End {
        case signal(Int32)
        case stdoutClosed
        case failed(RoomWardenError)
        /// A stop condition was met (`--count`, `--wait`, `--duration`).
        case done
    }

    /// What the first confirmation of every subscription said.
    struct Subscribed {
        /// Why the server refused the handoff marker's channel, if it did.
        var markerRefused: String?
    }

    private let condition = Condition()
    private var items: [Item] = []
    private var held = 0
    private var end: End?
    private var subscribed: Subscribed?
    private var readerRunning = false
    private let wakePipe: (read: Int32, write: Int32)
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
        } else {
            fds = [-1, -1]
        }
        wakePipe = (fds[0], fds[1])
    }

    deinit {
        if wakePipe.read >= 0 { close(wakePipe.read) }
        if wakePipe.write >= 0 { close(wakePipe.write) }
    }

    /// Readable once the watch has ended: poll(2) it beside a socket.
    var wakeDescriptor: Int32 { wakePipe.read }

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

    /// Adds an item that holds no message (a notice, a link event), in
    /// order with the messages.
    func push(_ item: Item) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Adds a line for stderr, in order with the messages.
    func notice(_ text: String) { push(.notice(text)) }

    /// Ends the watch; the first reason given wins.
    func finish(_ reason: End) {
        condition.lock()
        let first = end == nil
        if first { end = reason }
        condition.broadcast()
        condition.unlock()
        if first && wakePipe.write >= 0 {
            var byte: UInt8 = 1
            _ = write(wakePipe.write, &byte, 1)
        }
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

    /// Sleeps for `milliseconds` unless the watch ends first; true if it
    /// ended.
    func sleep(milliseconds: Int64) -> Bool {
        let deadline = Monotonic.milliseconds() + milliseconds
        condition.lock()
        defer { condition.unlock() }
        while end == nil {
            let left = deadline - Monotonic.milliseconds()
            if left <= 0 { break }
            condition.wait(milliseconds: left)
        }
        return end != nil
    }

    /// The server confirmed every subscription (the first time).
    func markSubscribed(_ state: Subscribed) {
        condition.lock()
        if subscribed == nil {
            subscribed = state
            condition.broadcast()
        }
        condition.unlock()
    }

    /// Waits for `markSubscribed`; the end instead if one came first.
    func waitUntilSubscribed() -> Result<Subscribed, EndError> {
        condition.lock()
        defer { condition.unlock() }
        while subscribed == nil && end == nil { condition.wait() }
        if let subscribed { return .success(subscribed) }
        return .failure(EndError(end: end ?? .done))
    }

    /// An end, as a `Result`'s failure.
    struct EndError: Error { var end: End }

    /// What the first confirmation said, once it came.
    var subscription: Subscribed? {
        condition.lock()
        defer { condition.unlock() }
        return subscribed
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

    /// The reader thread starts (true) or has returned (false).
    func readerRunning(_ running: Bool) {
        condition.lock()
        readerRunning = running
        condition.broadcast()
        condition.unlock()
    }

    /// Waits up to `milliseconds` for the reader thread to return; true if
    /// it has.
    func waitForReader(milliseconds: Int64) -> Bool {
        let deadline = Monotonic.milliseconds() + milliseconds
        condition.lock()
        defer { condition.unlock() }
        while readerRunning {
            let left = deadline - Monotonic.milliseconds()
            if left <= 0 { break }
            condition.wait(milliseconds: left)
        }
        return !readerRunning
    }
}
