import Hiredis
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
///
/// The handler is a plain `sigaction` one that stores the signal in an
/// atomic and writes one byte to a pipe, both async-signal-safe; it works
/// whichever thread the kernel picks. One per process.
public final class Interruption: Sendable {
    /// Readable once a signal came (the read end of a pipe).
    public let fileDescriptor: Int32
    /// The socket to shut down when the grace period ends; -1 for none.
    /// Set and cleared under the lock, and shut down under it, so a
    /// descriptor is never shut down after its connection closed it.
    private let guarded = Mutex<Int32>(-1)

    /// Takes over `signals` (SIGINT, SIGTERM) for the rest of the process.
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
        InterruptState.wake.store(fds[1], ordering: .releasing)
        for sig in signals { Glibc.signal(sig, interruptHandler) }
        let (seconds, attos) = grace.components
        let graceMilliseconds = Int64(seconds) * 1000 + Int64(attos / 1_000_000_000_000_000)
        let readEnd = fds[0]
        // Waits for the first signal, then gives the command `grace` to
        // finish before cutting a link that does not answer.
        Threads.start(stackSize: 64 * 1024) { [self] in
            guard readEnd >= 0 else { return }
            _ = try? Syscall.poll(readEnd, events: Int16(POLLIN), timeoutMilliseconds: -1)
            Monotonic.sleep(milliseconds: graceMilliseconds)
            guarded.withLock { fd in
                if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
            }
        }
    }

    /// From now on a second SIGINT/SIGTERM ends the process at once.
    public static func exitOnSecondSignal() {
        InterruptState.exitOnSecond.store(true, ordering: .releasing)
    }

    /// The signal that came (SIGINT, SIGTERM), or nil.
    public var signal: Int32? {
        let s = InterruptState.received.load(ordering: .acquiring)
        return s == 0 ? nil : s
    }

    /// Sleeps `milliseconds`, or less if a signal comes; false if it did.
    public func sleep(milliseconds: Int64) -> Bool {
        if signal != nil { return false }
        let deadline = Monotonic.milliseconds() + milliseconds
        while true {
            let left = deadline - Monotonic.milliseconds()
            if left <= 0 { return signal == nil }
            _ = try? Syscall.poll(fileDescriptor, events: Int16(POLLIN), timeoutMilliseconds: Int32(clamping: left))
            if signal != nil { return false }
        }
    }

    /// Registers the socket of the connection in use (nil: none), to be shut
    /// down if a signal is not honoured within the grace period. Call with
    /// nil before that connection is closed.
    public func guardSocket(_ fd: Int32?) {
        guarded.withLock { $0 = fd ?? -1 }
    }
}

/// What the signal handler touches: atomics only.
private enum InterruptState {
    /// The first signal received, 0 before any.
    static let received = Atomic<Int32>(0)
    /// The write end of the wake-up pipe, -1 before there is one.
    static let wake = Atomic<Int32>(-1)
    /// A second signal ends the process at once (commands that run until
    /// stopped: watch, history --follow).
    static let exitOnSecond = Atomic<Bool>(false)
}

/// Records the first signal and wakes the waiters; async-signal-safe.
private func interruptHandler(_ sig: Int32) {
    let first = InterruptState.received.compareExchange(expected: 0, desired: sig, ordering: .acquiringAndReleasing).exchanged
    if !first && InterruptState.exitOnSecond.load(ordering: .acquiring) { _exit(128 + sig) }
    var byte: UInt8 = 1
    let fd = InterruptState.wake.load(ordering: .acquiring)
    if fd >= 0 { _ = Glibc.write(fd, &byte, 1) }
}
