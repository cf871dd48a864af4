#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Threads and a condition variable straight from pthreads, so that the
/// shipped binary needs no Foundation (its Thread and NSCondition).
public enum Threads {
    /// Runs `body` on a new detached thread with a stack of `stackSize`
    /// bytes. Gives up (returns false) only if the system has no thread
    /// left to give.
    @discardableResult
    public static func start(stackSize: Int, _ body: @escaping @Sendable () -> Void) -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, max(stackSize, Int(PTHREAD_STACK_MIN)))
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        // The box is retained here and released by the thread.
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, &attributes, { raw in
            guard let raw else { return nil }
            let body = Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue()
            body.run()
            return nil
        }, box)
        if created != 0 { Unmanaged<ThreadBody>.fromOpaque(box).release() }
        return created == 0
    }
}

private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// A mutex with a condition variable, waited on against the monotonic
/// clock (a changed date neither shortens nor stretches a wait).
///
/// `@unchecked Sendable`: the pthread objects are made to be shared
/// between threads; they live in their own allocations, never moved.
public final class Condition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// Wakes one waiter. Call with the lock held.
    public func signal() { pthread_cond_signal(cond) }
    /// Wakes every waiter. Call with the lock held.
    public func broadcast() { pthread_cond_broadcast(cond) }

    /// Waits for a signal. Call with the lock held; returns with it held.
    public func wait() { pthread_cond_wait(cond, mutex) }

    /// Waits for a signal or until `milliseconds` have passed; false when
    /// the time ran out. Call with the lock held; returns with it held.
    @discardableResult
    public func wait(milliseconds: Int64) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int64(deadline.tv_nsec) + (max(0, milliseconds) % 1000) * 1_000_000
        deadline.tv_sec += Int(max(0, milliseconds) / 1000 + nanoseconds / 1_000_000_000)
        deadline.tv_nsec = Int(nanoseconds % 1_000_000_000)
        return pthread_cond_timedwait(cond, mutex, &deadline) == 0
    }
}
