import Hiredis
#if canImport(Glibc)
import Glibc
#endif

/// SIGINT and SIGTERM for commands that run until stopped (watch, history
/// --follow): exit 130 or 143 within a second, whatever the program is
/// blocked on (SPEC §9).
///
/// The first signal calls `onSignal`, which asks the work to wind down:
/// print what was received, report what was not archived. If the program
/// is still running `grace` later (its write to a stdout nobody reads
/// never returns, a frozen link never answers), it exits then with the
/// same code without waiting for anything more. A second signal exits at
/// once.
///
/// Built on `Interruption`'s plain `sigaction` handler, which sees a
/// signal whichever thread the kernel hands it to (a dispatch signal
/// source missed signals delivered to threads that had not blocked them).
public final class Interrupts {
    private let interruption: Interruption

    /// Takes over SIGINT and SIGTERM. `onSignal` runs on a thread of its
    /// own, once, for the first signal.
    public init(grace: Duration = .milliseconds(500), onSignal: @escaping @Sendable (Int32) -> Void) {
        Interruption.exitOnSecondSignal()
        // Its own socket guard is not used here: the exit below comes first.
        let interruption = Interruption(grace: .seconds(3600))
        self.interruption = interruption
        let (seconds, attos) = grace.components
        let graceMilliseconds = Int64(seconds) * 1000 + Int64(attos / 1_000_000_000_000_000)
        let readEnd = interruption.fileDescriptor
        Threads.start(stackSize: 64 * 1024) {
            guard readEnd >= 0 else { return }
            while interruption.signal == nil {
                _ = try? Syscall.poll(readEnd, events: Int16(POLLIN), timeoutMilliseconds: -1)
            }
            guard let sig = interruption.signal else { return }
            onSignal(sig)
            Monotonic.sleep(milliseconds: graceMilliseconds)
            _exit(128 + sig)
        }
    }

    /// Gives SIGINT and SIGTERM back their default action (killing the
    /// process) unless one already came.
    public func cancel() {
        guard interruption.signal == nil else { return }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
