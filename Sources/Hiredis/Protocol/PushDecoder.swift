#if canImport(Glibc)
import Glibc
#endif

/// Decodes the byte stream of a subscribed connection: `message`,
/// `pmessage` and `smessage` frames go straight into a `MessageBatch`; anything else
/// (subscribe confirmations, PING's pong, errors) becomes a `Reply`.
/// Frames split across reads are kept until the rest arrives.
public struct PushDecoder {
    /// Bytes received but not yet decoded (an incomplete frame).
    private var pending: [UInt8] = []

    public init() {}

    /// Bytes held for an incomplete frame.
    public var pendingCount: Int { pending.count }

    /// Forgets any partial frame (after a reconnect).
    public mutating func reset() { pending.removeAll() }

    /// Decodes `input` (following whatever was pending) into `batch` and
    /// `replies`.
    public mutating func decode(
        _ input: UnsafeRawBufferPointer,
        into batch: inout MessageBatch,
        replies: (Reply) -> Void
    ) throws(RedisError) {
        if pending.isEmpty {
            let used = try PushDecoder.decodeFrames(input, into: &batch, replies: replies)
            if used < input.count { pending.append(contentsOf: input[used...]) }
        } else {
            pending.append(contentsOf: input)
            let result = pending.withUnsafeBytes { raw in
                Result { () throws(RedisError) -> Int in try PushDecoder.decodeFrames(raw, into: &batch, replies: replies) }
            }
            pending.removeFirst(try result.get())
        }
    }

    /// Decodes whole frames from the start of `p`; returns how many bytes
    /// they took.
    static func decodeFrames(
        _ p: UnsafeRawBufferPointer, into batch: inout MessageBatch, replies: (Reply) -> Void
    ) throws(RedisError) -> Int {
        var i = 0
        while i < p.count {
            if let next = try fastMessage(p, i, into: &batch) {
                i = next
                continue
            }
            guard let (reply, next) = try value(p, i, depth: 0) else { break }
            replies(reply)
            i = next
        }
        return i
    }

    /// A `message` or `pmessage` frame at `i`: appended to the batch, and
    /// the index after it returned. nil if the frame is anything else or
    /// incomplete (the general path then decides).
    @inline(__always)
    static func fastMessage(_ p: UnsafeRawBufferPointer, _ i: Int, into batch: inout MessageBatch) throws(RedisError) -> Int? {
        guard p.count - i >= 4, p[i] == UInt8(ascii: "*"), p[i + 2] == 0x0D else { return nil }
        let n = Int(p[i + 1]) - 0x30
        guard n == 3 || n == 4 else { return nil }
        var j = i + 4
        guard let (kindStart, kindLen, afterKind) = try bulk(p, j) else { return nil }
        let isPMessage = n == 4 && kindLen == 8 && memcmp(p.baseAddress! + kindStart, "pmessage", 8) == 0
        let isMessage = n == 3 && kindLen == 7 && memcmp(p.baseAddress! + kindStart, "message", 7) == 0
        // Sharded pub/sub (SSUBSCRIBE, Redis 7): a channel and a payload, as `message`.
        let isShardMessage = n == 3 && kindLen == 8 && memcmp(p.baseAddress! + kindStart, "smessage", 8) == 0
        guard isPMessage || isMessage || isShardMessage else { return nil }
        j = afterKind
        var pattern: UnsafeRawBufferPointer? = nil
        if isPMessage {
            guard let (s, l, next) = try bulk(p, j) else { return nil }
            pattern = UnsafeRawBufferPointer(rebasing: p[s..<(s + l)])
            j = next
        }
        guard let (cs, cl, afterChannel) = try bulk(p, j),
              let (ps, pl, afterPayload) = try bulk(p, afterChannel) else { return nil }
        batch.append(pattern: pattern,
                     channel: UnsafeRawBufferPointer(rebasing: p[cs..<(cs + cl)]),
                     payload: UnsafeRawBufferPointer(rebasing: p[ps..<(ps + pl)]))
        return afterPayload
    }

    /// A bulk string at `i`: (start, length, index after). nil if incomplete
    /// or not a (non-nil) bulk.
    @inline(__always)
    static func bulk(_ p: UnsafeRawBufferPointer, _ i: Int) throws(RedisError) -> (Int, Int, Int)? {
        guard i < p.count, p[i] == UInt8(ascii: "$") else { return nil }
        guard let (len, dataStart) = try integerLine(p, i + 1), len >= 0 else { return nil }
        let end = dataStart + len
        guard end + 2 <= p.count else { return nil }
        guard p[end] == 0x0D, p[end + 1] == 0x0A else { throw .protocolError("bulk string not terminated") }
        return (dataStart, len, end + 2)
    }

    /// A decimal integer terminated by CRLF, starting at `i`: (value, index
    /// after the CRLF), or nil if the line is incomplete.
    @inline(__always)
    static func integerLine(_ p: UnsafeRawBufferPointer, _ i: Int) throws(RedisError) -> (Int, Int)? {
        var j = i
        var negative = false
        if j < p.count, p[j] == UInt8(ascii: "-") { negative = true; j += 1 }
        var v = 0
        var digits = 0
        while j < p.count {
            let c = p[j]
            if c == 0x0D {
                guard j + 1 < p.count else { return nil }
                guard p[j + 1] == 0x0A, digits > 0 else { throw .protocolError("bad length line") }
                return (negative ? -v : v, j + 2)
            }
            guard c >= 0x30 && c <= 0x39, digits < 18 else { throw .protocolError("bad length line") }
            v = v * 10 + Int(c - 0x30)
            digits += 1
            j += 1
        }
        return nil
    }

    /// Arrays nest at most this deep (the outermost is depth 0), as in
    /// hiredis' reader ("No support for nested multi bulk replies with
    /// depth > 7"): deeper input is a protocol error, never a deep recursion
    /// on a small thread stack.
    static let maximumDepth = 7

    /// Any RESP2 value at `i` nested `depth` arrays deep, or nil if incomplete.
    static func value(_ p: UnsafeRawBufferPointer, _ i: Int, depth: Int) throws(RedisError) -> (Reply, Int)? {
        guard i < p.count else { return nil }
        switch p[i] {
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let end = lineEnd(p, i + 1) else { return nil }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: p[(i + 1)..<end]), as: UTF8.self)
            return (p[i] == UInt8(ascii: "+") ? .status(text) : .error(text), end + 2)
        case UInt8(ascii: ":"):
            guard let (v, next) = try integerLine(p, i + 1) else { return nil }
            return (.integer(Int64(v)), next)
        case UInt8(ascii: "$"):
            guard let (len, start) = try integerLine(p, i + 1) else { return nil }
            if len < 0 { return (.bulk(nil), start) }
            guard let (s, l, next) = try bulk(p, i) else { return nil }
            _ = start
            return (.bulk(Array(UnsafeRawBufferPointer(rebasing: p[s..<(s + l)]))), next)
        case UInt8(ascii: "*"):
            guard depth <= maximumDepth else {
                throw .protocolError("No support for nested multi bulk replies with depth > \(maximumDepth)")
            }
            guard let (n, start) = try integerLine(p, i + 1) else { return nil }
            if n < 0 { return (.array(nil), start) }
            var items: [Reply] = []
            var j = start
            for _ in 0..<n {
                guard let (item, next) = try value(p, j, depth: depth + 1) else { return nil }
                items.append(item)
                j = next
            }
            return (.array(items), j)
        default:
            throw .protocolError("unexpected byte \(p[i]) in subscription stream")
        }
    }

    static func lineEnd(_ p: UnsafeRawBufferPointer, _ i: Int) -> Int? {
        var j = i
        while j + 1 < p.count {
            if p[j] == 0x0D && p[j + 1] == 0x0A { return j }
            j += 1
        }
        return nil
    }
}
