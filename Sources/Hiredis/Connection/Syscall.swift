#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A system call that failed, with the errno it set, read the moment the
/// call returned.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The errno value (`EPIPE`, `EAGAIN` ...).
    public let code: Int32

    public init(_ code: Int32) { self.code = code }

    /// strerror(3)'s text: `Broken pipe`.
    public var description: String { String(cString: strerror(code)) }
}

/// The one way roomwarden makes a system call that reports failure in
/// errno: the call is retried while it is interrupted by a signal (EINTR),
/// and errno is read right after it returns, before any other code (Swift's
/// runtime included) can change it.
public enum Syscall {
    /// Runs `call`, which returns -1 and sets errno on failure, until it is
    /// not interrupted. Returns its result, or throws its errno.
    @inline(__always)
    public static func retrying<T: BinaryInteger>(_ call: () -> T) throws(SystemError) -> T {
        while true {
            let result = call()
            if result != -1 { return result }
            let code = errno
            if code != EINTR { throw SystemError(code) }
        }
    }

    /// read(2) into `buffer`: the byte count, 0 at end of input.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        return try retrying { Glibc.read(fd, base, buffer.count) }
    }

    /// write(2) of `bytes` (or of what the descriptor takes of them): the
    /// byte count written.
    public static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> Int {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        return try retrying { Glibc.write(fd, base, bytes.count) }
    }

    /// Waits up to `timeoutMilliseconds` (-1: for ever) for `events` on
    /// `fd`; returns the events that came (`revents`), or 0 when the time
    /// ran out. An interrupted wait goes on for what is left of the time.
    public static func poll(_ fd: Int32, events: Int16, timeoutMilliseconds: Int32) throws(SystemError) -> Int16 {
        var pfd = pollfd(fd: fd, events: events, revents: 0)
        let deadline = timeoutMilliseconds < 0 ? nil : monotonicMilliseconds() + Int64(timeoutMilliseconds)
        while true {
            let left = deadline.map { Int32(clamping: max(0, $0 - monotonicMilliseconds())) } ?? -1
            let ready = Glibc.poll(&pfd, 1, left)
            if ready > 0 { return pfd.revents }
            if ready == 0 { return 0 }
            let code = errno
            if code != EINTR { throw SystemError(code) }
        }
    }

    /// A clock that never jumps, in milliseconds.
    static func monotonicMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
