#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// Buffered writing to a file descriptor (stdout): large blocks under load,
/// flushed on demand. A reader that went away (EPIPE) ends the program
/// quietly with exit 0, as `| head` expects.
public final class OutputSink {
    /// Bytes waiting to be written; formatters append here directly.
    public var buffer: [UInt8] = []
    private let fd: Int32
    private let blockSize: Int
    /// Where a closed reader only ends the printing, not the work
    /// (`publish | head -1` goes on publishing).
    private let outliveReader: Bool
    private var readerGone = false

    /// Writes to `fd` in blocks of about `blockSize` bytes. With
    /// `outliveReader`, a reader that went away makes later output vanish
    /// instead of ending the program.
    public init(fd: Int32 = 1, blockSize: Int = 256 * 1024, outliveReader: Bool = false) {
        self.fd = fd
        self.blockSize = blockSize
        self.outliveReader = outliveReader
        buffer.reserveCapacity(blockSize * 2)
        signal(SIGPIPE, SIG_IGN)
    }

    /// Appends bytes, writing a block out once enough have gathered.
    public func write<C: Collection>(_ bytes: C) throws(RoomWardenError) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        try flushIfFull()
    }

    /// Appends text.
    public func write(_ text: String) throws(RoomWardenError) {
        try write(text.utf8)
    }

    /// Writes a block out if enough has gathered.
    @inline(__always)
    public func flushIfFull() throws(RoomWardenError) {
        if buffer.count >= blockSize { try flush() }
    }

    /// Writes out everything buffered.
    public func flush() throws(RoomWardenError) {
        if readerGone {
            buffer.removeAll(keepingCapacity: true)
            return
        }
        defer { buffer.removeAll(keepingCapacity: true) }
        let failure = buffer.withUnsafeBytes { raw in OutputSink.writeAll(fd, raw) }
        guard let failure else { return }
        if failure.code == EPIPE {
            if outliveReader { readerGone = true; return }
            throw .stdoutClosed
        }
        throw .failure("cannot write output: \(failure)")
    }

    /// Writes every byte to `fd`, waiting while a non-blocking descriptor
    /// is full; the error that stopped it, if any.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> SystemError? {
        var written = 0
        while written < bytes.count {
            do {
                written += try Syscall.write(fd, UnsafeRawBufferPointer(rebasing: bytes[written...]))
            } catch where error.code == EAGAIN || error.code == EWOULDBLOCK {
                _ = try? Syscall.poll(fd, events: Int16(POLLOUT), timeoutMilliseconds: -1)
            } catch {
                return error
            }
        }
        return nil
    }
}

extension RoomWardenError {
    /// The reader of stdout went away: stop quietly with exit 0.
    public static let stdoutClosed = RoomWardenError(exitCode: 0, "")
}

/// One line on stderr, prefixed with the program's name. Anything in it
/// that could drive a terminal (a key or channel name holding escape
/// sequences) is shown escaped, as in text output; a backslash stays one
/// backslash, so that what the user typed reads as typed.
public func printDiagnostic(_ message: String) {
    var line = Array("roomwarden: ".utf8)
    TextEscaper.append(Array(message.utf8), to: &line, doublingBackslash: false)
    line.append(0x0A)
    _ = line.withUnsafeBytes { OutputSink.writeAll(2, $0) }
}
