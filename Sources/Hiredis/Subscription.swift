internal import CHiredis
#if canImport(Glibc)
import Glibc
#endif

/// A message delivered to a subscriber, with its bytes copied out.
public struct PushMessage: Sendable, Equatable {
    /// The pattern it matched (`pmessage`), or nil for a plain `message`.
    public var pattern: [UInt8]?
    /// The channel it was published to.
    public var channel: [UInt8]
    /// The payload, byte for byte.
    public var payload: [UInt8]

    /// A message as Redis delivers it.
    public init(pattern: [UInt8]?, channel: [UInt8], payload: [UInt8]) {
        self.pattern = pattern
        self.channel = channel
        self.payload = payload
    }
}

/// One reply read on a subscribed connection.
public enum SubscriptionEvent: Sendable, Equatable {
    /// A published message.
    case message(PushMessage)
    /// Anything else: subscribe confirmations, PING's pong, errors.
    case reply(Reply)

    /// Decodes the two message shapes without building a `Reply` tree
    /// (the subscribe loop's hot path); anything else is copied as a `Reply`.
    init(decoding raw: UnsafePointer<redisReply>) {
        let r = raw.pointee
        if r.type == REDIS_REPLY_ARRAY, r.elements == 3 || r.elements == 4,
           let kind = r.element[0], kind.pointee.type == REDIS_REPLY_STRING {
            let k = kind.pointee
            let isMessage = r.elements == 3 && k.len == 7 && memcmp(k.str, "message", 7) == 0
            let isPMessage = r.elements == 4 && k.len == 8 && memcmp(k.str, "pmessage", 8) == 0
            if isMessage || isPMessage {
                let base = isPMessage ? 2 : 1
                if let ch = r.element[base], let body = r.element[base + 1],
                   ch.pointee.type == REDIS_REPLY_STRING, body.pointee.type == REDIS_REPLY_STRING {
                    var pattern: [UInt8]? = nil
                    if isPMessage, let p = r.element[1] { pattern = Reply.bytes(p.pointee.str, p.pointee.len) }
                    self = .message(PushMessage(
                        pattern: pattern,
                        channel: Reply.bytes(ch.pointee.str, ch.pointee.len),
                        payload: Reply.bytes(body.pointee.str, body.pointee.len)))
                    return
                }
            }
        }
        self = .reply(Reply(copying: raw))
    }
}
