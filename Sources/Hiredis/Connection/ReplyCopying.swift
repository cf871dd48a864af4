internal import CHiredis
#if canImport(Glibc)
import Glibc
#endif

// Copying hiredis reply trees into the protocol types. The only code that
// reads `redisReply`; the caller owns (and frees) the root it passes in.

extension Reply {
    /// Copies a hiredis reply tree. Never frees it: the caller owns the root.
    init(copying raw: UnsafePointer<redisReply>) {
        let r = raw.pointee
        switch r.type {
        case REDIS_REPLY_STATUS:
            self = .status(Reply.text(r.str, r.len))
        case REDIS_REPLY_ERROR:
            self = .error(Reply.text(r.str, r.len))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case REDIS_REPLY_STRING:
            self = .bulk(Reply.bytes(r.str, r.len))
        case REDIS_REPLY_ARRAY:
            var items: [Reply] = []
            items.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                if let child = r.element[i] { items.append(Reply(copying: child)) }
            }
            self = .array(items)
        default:  // REDIS_REPLY_NIL
            self = .bulk(nil)
        }
    }

    static func bytes(_ p: UnsafeMutablePointer<CChar>?, _ len: Int) -> [UInt8] {
        guard let p, len > 0 else { return [] }
        return p.withMemoryRebound(to: UInt8.self, capacity: len) {
            Array(UnsafeBufferPointer(start: $0, count: len))
        }
    }

    static func text(_ p: UnsafeMutablePointer<CChar>?, _ len: Int) -> String {
        guard let p, len > 0 else { return "" }
        return p.withMemoryRebound(to: UInt8.self, capacity: len) {
            String(decoding: UnsafeBufferPointer(start: $0, count: len), as: UTF8.self)
        }
    }
}

extension SubscriptionEvent {
    /// Decodes the message shapes (`message`, `smessage`, `pmessage`) without building a `Reply` tree
    /// (the subscribe loop's hot path); anything else is copied as a `Reply`.
    init(decoding raw: UnsafePointer<redisReply>) {
        let r = raw.pointee
        if r.type == REDIS_REPLY_ARRAY, r.elements == 3 || r.elements == 4,
           let kind = r.element[0], kind.pointee.type == REDIS_REPLY_STRING {
            let k = kind.pointee
            let isMessage = r.elements == 3 && (k.len == 7 && memcmp(k.str, "message", 7) == 0
                || k.len == 8 && memcmp(k.str, "smessage", 8) == 0)  // sharded pub/sub
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
