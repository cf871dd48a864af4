#if canImport(Glibc)
import Glibc
#endif

/// Published messages received in one read, packed into one buffer: no
/// allocation per message on the subscribe loop's hot path.
public struct MessageBatch: Sendable {
    /// The messages' bytes, back to back.
    public private(set) var bytes: [UInt8] = []
    /// Per message: pattern start and length (-1 for none), channel start
    /// and length, payload start and length.
    private var fields: [Int] = []
    /// When the read that brought these messages returned (Unix ms).
    public var receivedAt: Int64 = 0

    public init() {}

    /// How many messages.
    public var count: Int { fields.count / 6 }

    /// Memory held, for the watcher's bounded queue.
    public var footprint: Int { bytes.count + fields.count * MemoryLayout<Int>.size + 64 }

    /// Adds one message.
    public mutating func append(pattern: UnsafeRawBufferPointer?, channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        if let pattern {
            fields.append(bytes.count); fields.append(pattern.count)
            bytes.append(contentsOf: pattern)
        } else {
            fields.append(0); fields.append(-1)
        }
        fields.append(bytes.count); fields.append(channel.count)
        bytes.append(contentsOf: channel)
        fields.append(bytes.count); fields.append(payload.count)
        bytes.append(contentsOf: payload)
    }

    /// Empties the batch, keeping its memory.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
    }

    /// Calls `body` with each message's pattern, channel and payload, as
    /// views into the batch's buffer (valid only during the call).
    /// `body` returns false to stop early.
    public func forEach(_ body: (_ pattern: UnsafeRawBufferPointer?, _ channel: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) throws -> Bool) rethrows {
        try bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
            var f = 0
            while f < fields.count {
                let pattern = fields[f + 1] < 0 ? nil : UnsafeRawBufferPointer(start: base + fields[f], count: fields[f + 1])
                let channel = UnsafeRawBufferPointer(start: base + fields[f + 2], count: fields[f + 3])
                let payload = UnsafeRawBufferPointer(start: base + fields[f + 4], count: fields[f + 5])
                if try !body(pattern, channel, payload) { return }
                f += 6
            }
        }
    }

    /// The messages as separate values (tests).
    public var messages: [PushMessage] {
        var out: [PushMessage] = []
        forEach { p, c, m in
            out.append(PushMessage(pattern: p.map { Array($0) }, channel: Array(c), payload: Array(m)))
            return true
        }
        return out
    }
}
