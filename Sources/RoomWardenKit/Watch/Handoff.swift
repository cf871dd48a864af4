/// `history --follow` prints the archive, then live messages, with no gap
/// and no duplicate. It subscribes first, so nothing published meanwhile is
/// missed; a message both archived (and printed from the archive) and
/// delivered live is printed once: the live copy of each archived entry
/// whose time is at or after the subscription (less a margin for clock
/// skew) is dropped, once.
public final class Handoff {
    private var expected: [[UInt8]: Int] = [:]
    private let since: Int64
    private var closesAt: Int64?

    /// `subscribedAt`: Unix ms when the subscription was confirmed.
    public init(subscribedAt: Int64, skewMilliseconds: Int64 = 10_000) {
        since = subscribedAt - skewMilliseconds
    }

    /// Remembers a message printed from the archive.
    public func archived(_ message: MessageView) {
        guard let ts = message.ts, ts >= since else { return }
        expected[Handoff.key(message.channel, message.payload), default: 0] += 1
    }

    /// The archive is printed; live messages follow. What the archive held
    /// and was never seen live is forgotten after `grace` ms, so a later,
    /// equal message is not mistaken for it.
    public func archiveDone(grace: Int64 = 5_000) {
        closesAt = WallClock.nowMilliseconds() + grace
    }

    /// True if a live message is to be printed.
    public func admit(channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> Bool {
        guard !expected.isEmpty else { return true }
        if let closesAt, WallClock.nowMilliseconds() > closesAt {
            expected.removeAll()
            return true
        }
        let key = Handoff.key(channel, payload)
        guard let n = expected[key] else { return true }
        if n <= 1 { expected[key] = nil } else { expected[key] = n - 1 }
        return false
    }

    private static func key<A: Collection, B: Collection>(_ channel: A, _ payload: B) -> [UInt8] where A.Element == UInt8, B.Element == UInt8 {
        var k: [UInt8] = []
        k.reserveCapacity(channel.count + payload.count + 9)
        var n = UInt64(channel.count)
        for _ in 0..<8 { k.append(UInt8(truncatingIfNeeded: n)); n >>= 8 }
        k.append(contentsOf: channel)
        k.append(contentsOf: payload)
        return k
    }
}
