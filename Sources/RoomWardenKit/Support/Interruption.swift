import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM taken over by a command that must finish cleanly
/// (publish confirms what it sent, then says where to resume): the first
/// signal is recorded, and whoever waits (on stdin, in a back-off sleep)
/// wakes at once through `fileDescriptor`.
///
/// A reply that does not come within `grace` of the signal (a server that
/// stopped answering) does not hold the exit: the socket registered with
/// `guardSocket` is shut down, so the blocked read fails and the command
/// reports what it could not confirm.
public final class Interruption: Sendable {
    /// The signal received, 0 before any.
    private let received = Atomic<Int32>(0)
    /// Readable once a signal came (the read end of a pipe).
    public let fileDescriptor: Int32
    private let wakeWrite: Int32
    /// The socket to shut down when the grace period ends; -1 for none.
    /// Set and cleared under the lock, and shut down under it, so a
    /// descriptor is never shut down after its connection closed it.
    private let guarded = Mutex<Int32>(-1)
    private let sources: [DispatchSourceSignalBox]

    /// Takes over `signals` (SIGINT, SIGTERM) until this is deinitialised.
    public init(signals: [Int32] = [SIGINT, SIGTERM], grace: Duration = .seconds(2)) {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        } else {
            fds = [-1, -1]
        }
        fileDescriptor = fds[0]
        wakeWrite = fds[1]
        var boxes: [DispatchSourceSignalBox] = []
        let (seconds, attos) = grace.components
        let graceNanos = Int(seconds) * 1_000_000_000 + Int(attos / 1_000_000_000)
        for sig in signals {
            Glibc.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            boxes.append(DispatchSourceSignalBox(source))
        }
        sources = boxes
        for (sig, box) in zip(signals, boxes) {
            box.source.setEventHandler { [weak self] in
                guard let self else { return }
                self.record(sig)
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(graceNanos)) { [weak self] in
                    self?.shutDownGuardedSocket()
                }
            }
            box.source.resume()
        }
    }

    deinit {
        for box in sources { box.source.cancel() }
        if fileDescriptor >= 0 { close(fileDescriptor); close(wakeWrite) }
    }

    /// The signal that came (SIGINT, SIGTERM), or nil.
    public var signal: Int32? {
        let s = received.load(ordering: .acquiring)
        return s == 0 ? nil : s
    }

    /// Records a signal as if it had been received (tests, and callers that
    /// stop for their own reasons the same way).
    public func record(_ sig: Int32) {
        _ = received.compareExchange(expected: 0, desired: sig, ordering: .acquiringAndReleasing)
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
    }

    /// Sleeps `milliseconds`, or less if a signal comes; false if it did.
    public func sleep(milliseconds: Int64) -> Bool {
        if signal != nil { return false }
        let deadline = Monotonic.milliseconds() + milliseconds
        while true {
            let left = deadline - Monotonic.milliseconds()
            if left <= 0 { return signal == nil }
            var pfd = pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)
            _ = poll(&pfd, 1, Int32(min(left, Int64(Int32.max))))
            if signal != nil { return false }
        }
    }

    /// Registers the socket of the connection in use (nil: none), to be shut
    /// down if a signal is not honoured within the grace period. Call with
    /// nil before that connection is closed.
    public func guardSocket(_ fd: Int32?) {
        guarded.withLock { $0 = fd ?? -1 }
    }

    private func shutDownGuardedSocket() {
        guarded.withLock { fd in
            if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }
}

/// A dispatch signal source, held by a Sendable owner. Dispatch sources are
/// thread-safe objects; the box only carries one across.
private final class DispatchSourceSignalBox: @unchecked Sendable {
    let source: DispatchSourceSignal
    init(_ source: DispatchSourceSignal) { self.source = source }
}
