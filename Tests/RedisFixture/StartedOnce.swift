import Foundation

/// A fixture a test class starts on first use and keeps for the rest of
/// the test process (a cluster, a sentinel set): started once even when
/// asked from several threads, and a failure to start is the answer of
/// every later call too.
public final class StartedOnce<Fixture>: @unchecked Sendable {
    private let lock = NSLock()
    private var started: Result<Fixture, Error>?
    private let start: () throws -> Fixture

    public init(_ start: @escaping () throws -> Fixture) {
        self.start = start
    }

    /// The fixture, started now if this is the first call.
    public func get() throws -> Fixture {
        lock.lock(); defer { lock.unlock() }
        if started == nil { started = Result { try start() } }
        return try started!.get()
    }
}
