import Foundation
import Hiredis

/// A test's own subscriber: the ground truth of what reached a channel.
public final class Subscriber {
    private let connection: Connection
    private var pending: [PushMessage] = []
    private var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)

    /// Subscribes to channels (or patterns with `patterns: true`) and waits
    /// for the confirmations.
    public init(_ server: RedisServer, channels: [String], patterns: Bool = false) throws {
        connection = try server.connect()
        try connection.append([Array((patterns ? "PSUBSCRIBE" : "SUBSCRIBE").utf8)] + channels.map { Array($0.utf8) })
        try connection.flush()
        var confirmed = 0
        let deadline = Date().addingTimeInterval(5)
        while confirmed < channels.count && Date() < deadline {
            _ = try connection.receive(timeoutMilliseconds: 100, buffer: buffer) { event in
                switch event {
                case .reply: confirmed += 1
                case .message(let m): self.pending.append(m)
                }
            }
        }
    }

    deinit { buffer.deallocate() }

    /// The next message, or nil after `timeout` seconds.
    public func next(timeout: TimeInterval = 5) throws -> PushMessage? {
        let deadline = Date().addingTimeInterval(timeout)
        while pending.isEmpty && Date() < deadline {
            _ = try connection.receive(timeoutMilliseconds: 50, buffer: buffer) { event in
                if case .message(let m) = event { self.pending.append(m) }
            }
        }
        return pending.isEmpty ? nil : pending.removeFirst()
    }
}
