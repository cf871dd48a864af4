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
    private var chunk: [UInt8] = []
    private var start = 0
    private var eof = false

    public init(fd: Int32 = 0, framing: Framing) {
        self.fd = fd
        self.framing = framing
    }

    /// The next record without its separator, or nil at the end. A last
    /// line without a newline is still a record; a trailing newline does not
    /// make an empty one.
    public func next() throws(RoomWardenError) -> [UInt8]? {
        if framing == .whole {
            if eof { return nil }
            while try fill() {}
            eof = true
            defer { chunk = [] }
            return chunk
        }
        let sep: UInt8 = framing == .lines ? 0x0A : 0x00
        var searchFrom = start
        while true {
            if let i = chunk[searchFrom...].firstIndex(of: sep) {
                let record = Array(chunk[start..<i])
                start = i + 1
                return record
            }
            searchFrom = chunk.count
            if eof {
                guard start < chunk.count else { return nil }
                let record = Array(chunk[start...])
                start = chunk.count
                return record
            }
            if start > 0 {
                let consumed = start
                chunk.removeFirst(consumed)
                searchFrom -= consumed
                start = 0
            }
            _ = try fill()
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

    /// Reads one more chunk; false at end of input.
    private func fill() throws(RoomWardenError) -> Bool {
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
        if n == 0 { eof = true }
        return n > 0
    }
}
