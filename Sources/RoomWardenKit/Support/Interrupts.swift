import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

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
public final class Interrupts {
    private let sources: [DispatchSourceSignal]

    /// Takes over SIGINT and SIGTERM. `onSignal` runs on a dispatch thread.
    public init(grace: Duration = .milliseconds(500), onSignal: @escaping @Sendable (Int32) -> Void) {
        let state = Received()
        let (seconds, attoseconds) = grace.components
        let graceNanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                guard state.claim(sig) else { _exit(128 + sig) }
                onSignal(sig)
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(graceNanoseconds)) { _exit(128 + sig) }
            }
            source.resume()
            return source
        }
    }

    /// Gives SIGINT and SIGTERM back their default action (killing the
    /// process) unless one already came.
    public func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }

    /// Which signal came first, shared by the handlers.
    private final class Received: Sendable {
        private let first = Atomic<Int32>(0)
        /// True for the first signal only.
        func claim(_ sig: Int32) -> Bool {
            first.compareExchange(expected: 0, desired: sig, ordering: .relaxed).exchanged
        }
    }
}
