#if canImport(Glibc)
import Glibc
#endif

/// One message as it is printed, by watch and history alike.
public struct MessageView {
    /// Unix milliseconds; nil when not known (a list backlog's raw entry).
    public var ts: Int64?
    public var channel: UnsafeRawBufferPointer
    /// The pattern it came through (watch), if any.
    public var pattern: UnsafeRawBufferPointer?
    /// The envelope's id and from (history), when known.
    public var id: UnsafeRawBufferPointer?
    public var from: UnsafeRawBufferPointer?
    public var payload: UnsafeRawBufferPointer

    public init(ts: Int64?, channel: UnsafeRawBufferPointer, pattern: UnsafeRawBufferPointer? = nil,
                id: UnsafeRawBufferPointer? = nil, from: UnsafeRawBufferPointer? = nil, payload: UnsafeRawBufferPointer) {
        self.ts = ts
        self.channel = channel
        self.pattern = pattern
        self.id = id
        self.from = from
        self.payload = payload
    }
}
