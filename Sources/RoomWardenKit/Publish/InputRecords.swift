#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// Messages read from a file descriptor (stdin): one per line, one per
/// NUL-terminated record, or all of it as one. Reads in large chunks.
public final class InputRecords {
    /// How records are cut.
    public enum Framing: Sendable {
        case lines, nulSeparated, whole
    }

    private let fd: Int32
    private let framing: Framing
    /// Readable when waiting for input should stop (an interrupt); -1: none.
    private let wake: Int32
    private var chunk: [UInt8] = []
    private var start = 0
    private var eof = false
    /// True once a wait for input was cut short by `wake`.
    public private(set) var interrupted = false

    /// Reads `fd`; a wait for more input ends early when `wake` becomes
    /// readable (`Interruption.fileDescriptor`).
    public init(fd: Int32 = 0, framing: Framing, wake: Int32 = -1) {
        self.fd = fd
        self.framing = framing
        self.wake = wake
    }

    /// The next record without its separator, or nil at the end (or when
    /// interrupted). A last line without a newline is still a record; a
    /// trailing newline does not make an empty one.
    public func next() throws(RoomWardenError) -> [UInt8]? {
        try withNext { Array($0) }
    }

    /// Calls `body` with the next record's bytes (valid only during the
    /// call) and returns what it returns; nil at the end of input or when
    /// an interrupt cut the wait short (see `interrupted`).
    public func withNext<R>(_ body: (UnsafeRawBufferPointer) -> R) throws(RoomWardenError) -> R? {
        if interrupted { return nil }
        if framing == .whole {
            if eof { return nil }
            reading: while true {
                switch try fill() {
                case .data: continue
                case .interrupted: return nil
                case .end: break reading
                }
            }
            defer { chunk = [] }
            return chunk.withUnsafeBytes(body)
        }
        let sep: UInt8 = framing == .lines ? 0x0A : 0x00
        var searchFrom = start
        while true {
            if let i = chunk[searchFrom...].firstIndex(of: sep) {
                let from = start
                start = i + 1
                return chunk.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[from..<i])) }
            }
            searchFrom = chunk.count
            if eof {
                guard start < chunk.count else { return nil }
                let from = start
                start = chunk.count
                return chunk.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[from...])) }
            }
            if start > 0 {
                let consumed = start
                chunk.removeFirst(consumed)
                searchFrom -= consumed
                start = 0
            }
            if try fill() == .interrupted { return nil }
        }
    }

    /// True if a record can be had without waiting: one is buffered, or the
    /// input has bytes (or its end) ready.
    public func ready() -> Bool {
        if eof || framing == .whole { return true }
        let sep: UInt8 = framing == .lines ? 0x0A : 0x00
        if chunk[start...].contains(sep) { return true }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&pfd, 1, 0) > 0
    }

    private enum Filled { case data, end, interrupted }

    /// Reads one more chunk, waiting for it (or for `wake`).
    private func fill() throws(RoomWardenError) -> Filled {
        if wake >= 0 {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            while true {
                let n = poll(&fds, 2, -1)
                if n < 0 && errno == EINTR { continue }
                if fds[1].revents != 0 { interrupted = true; return .interrupted }
                break
            }
        }
        let want = 256 * 1024
        let old = chunk.count
        chunk.reserveCapacity(old + want)
        chunk.append(contentsOf: repeatElement(0, count: want))
        let result = chunk.withUnsafeMutableBytes { raw in
            Result { () throws(SystemError) -> Int in try Syscall.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[old...])) }
        }
        let n: Int
        switch result {
        case .success(let count): n = count
        case .failure(let error):
            chunk.removeLast(want)
            throw .failure("cannot read standard input: \(error)")
        }
        chunk.removeLast(want - n)
        if n == 0 { eof = true; return .end }
        return .data
    }
}
