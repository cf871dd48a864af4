internal import CHiredis

/// Decodes Redis protocol bytes with hiredis' own reader, with no server:
/// feed bytes as they come, take whole replies out.
public final class ReplyParser {
    private let reader: UnsafeMutablePointer<redisReader>

    /// A parser with nothing fed yet.
    public init() {
        reader = redisReaderCreate()
    }

    deinit { redisReaderFree(reader) }

    /// Adds bytes received from the wire.
    public func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buf in
            buf.baseAddress?.withMemoryRebound(to: CChar.self, capacity: buf.count) {
                _ = redisReaderFeed(reader, $0, buf.count)
            }
        }
    }

    /// The next complete reply, or nil if more bytes are needed.
    public func next() throws(RedisError) -> Reply? {
        var raw: UnsafeMutableRawPointer?
        if redisReaderGetReply(reader, &raw) != REDIS_OK {
            throw .protocolError(ErrorText.of(reader.pointee.errstr))
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Reply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }

    /// The next complete reply read as subscription traffic.
    public func nextEvent() throws(RedisError) -> SubscriptionEvent? {
        var raw: UnsafeMutableRawPointer?
        if redisReaderGetReply(reader, &raw) != REDIS_OK { throw .protocolError(ErrorText.of(reader.pointee.errstr)) }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return SubscriptionEvent(decoding: raw.assumingMemoryBound(to: redisReply.self))
    }
}

@available(*, unavailable)
extension ReplyParser: Sendable {}
