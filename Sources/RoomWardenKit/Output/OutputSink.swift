#if canImport(Glibc)
import Glibc
#endif

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
        var written = 0
        let total = buffer.count
        while written < total {
            let n = buffer.withUnsafeBytes { raw in
                Glibc.write(fd, raw.baseAddress! + written, total - written)
            }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                buffer.removeAll(keepingCapacity: true)
                if errno == EPIPE {
                    if outliveReader { readerGone = true; return }
                    throw .stdoutClosed
                }
                throw .failure("cannot write output: \(String(cString: strerror(errno)))")
            }
            written += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

extension RoomWardenError {
    /// The reader of stdout went away: stop quietly with exit 0.
    public static let stdoutClosed = RoomWardenError(exitCode: 0, "")
}

/// One line on stderr, prefixed with the program's name. Anything in it
/// that could drive a terminal (a key or channel name holding escape
/// sequences) is shown escaped, as in text output.
public func printDiagnostic(_ message: String) {
    var line = Array("roomwarden: ".utf8)
    TextEscaper.append(Array(message.utf8), to: &line)
    line.append(0x0A)
    line.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = Glibc.write(2, raw.baseAddress! + off, raw.count - off)
            if n <= 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }
}
