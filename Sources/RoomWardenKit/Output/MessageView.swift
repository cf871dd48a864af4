#if canImport(Glibc)
import Glibc
#endif

/// One message as it is printed, by watch and history alike.
///
/// Every field is a view into bytes someone else owns: the subscribe
/// loop's `MessageBatch`, a history page, an archive member or the
/// envelope scratch buffer. A view is valid only during the call that
/// receives it (`MessageFormatter.append`, `HistoryReader.printed`,
/// `ArchiveMember.read`'s body); whoever keeps anything copies it.
public struct MessageView {
    /// Unix milliseconds; nil when not known (a list backlog's raw entry,
    /// or an archive score that is no time: see `score`). It may lie
    /// outside the years 0000-9999 (an envelope's own `ts`): it is then
    /// printed with no time.
    public var ts: Int64?
    /// The archive score of an entry whose score is no time (infinite, or
    /// outside the years 0000-9999), printed in its place; nil otherwise.
    public var score: Double?
    public var channel: UnsafeRawBufferPointer
    /// The pattern it came through (watch), if any.
    public var pattern: UnsafeRawBufferPointer?
    /// The envelope's id and from (history), when known.
    public var id: UnsafeRawBufferPointer?
    public var from: UnsafeRawBufferPointer?
    public var payload: UnsafeRawBufferPointer

    public init(ts: Int64?, score: Double? = nil, channel: UnsafeRawBufferPointer, pattern: UnsafeRawBufferPointer? = nil,
                id: UnsafeRawBufferPointer? = nil, from: UnsafeRawBufferPointer? = nil, payload: UnsafeRawBufferPointer) {
        self.ts = ts
        self.score = score
        self.channel = channel
        self.pattern = pattern
        self.id = id
        self.from = from
        self.payload = payload
    }
}
