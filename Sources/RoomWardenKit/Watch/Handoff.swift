import Hiredis

/// From the archive to live messages with no gap and no duplicate: the
/// handoff of `history --follow`, made to be used again wherever live
/// messages take over from an archive read (watch replaying a gap).
///
/// The live link subscribes first (to the rooms and to a private marker
/// channel), then the archive is read to its end, then the archive
/// connection PUBLISHes a unique marker on that channel. Redis runs that
/// PUBLISH after every read before it, so on the live link:
///
/// - a message before the marker may also have been printed from the
///   archive: it is dropped if it equals (room and payload) an entry
///   printed from the archive, once per entry;
/// - everything after the marker is new, and printed.
///
/// If the live link is lost and regained after the marker was sent, the
/// marker may never come: the new link's subscription takes its place
/// (whatever it carries was published after the marker).
///
/// Where the ACL forbids the marker (its channel, or PUBLISH), the handoff
/// falls back to time, and says so: the live copy of an entry printed
/// from the archive and stamped after the subscription (less `skew`) is
/// dropped once, for `grace` after the archive ends.
public final class Handoff {
    /// The private channel the marker travels on.
    public let markerChannel: String
    private let channelBytes: [UInt8]
    private var nonce: [UInt8] = []
    private var expected: [[UInt8]: Int] = [:]
    /// Entries stamped before this cannot have a live copy to come.
    private var since: Int64 = .min
    private let skew: Int64
    private let grace: Int64
    /// Monotonic ms when the marker was sent; nil before, and after the
    /// handoff is over.
    private var markerSentAt: Int64?
    /// The time-based fallback: when expecting ends (wall clock).
    private var closesAt: Int64?
    private var open = false

    /// A handoff with a fresh private marker channel.
    public init(skewMilliseconds: Int64 = 10_000, graceMilliseconds: Int64 = 5_000) {
        var rng = SystemRandomNumberGenerator()
        markerChannel = "roomwarden:handoff:" + Handoff.hex(rng.next())
        channelBytes = Array(markerChannel.utf8)
        skew = skewMilliseconds
        grace = graceMilliseconds
    }

    /// A handoff starts: the live link's subscription was confirmed at
    /// `subscribedAt` (Unix ms); archive entries follow.
    public func begin(subscribedAt: Int64) {
        expected.removeAll()
        since = subscribedAt - skew
        markerSentAt = nil
        closesAt = nil
        open = true
    }

    /// Remembers a message printed from the archive.
    public func archived(_ message: MessageView) {
        guard open, let ts = message.ts, ts >= since else { return }
        expected[Handoff.key(message.channel, message.payload), default: 0] += 1
    }

    /// The archive is read to its end: sends the marker over `connection`
    /// (the one that read the archive). When the server refuses it (or
    /// `markerRefused` says the live link could not subscribe to its
    /// channel), falls back to time and says so on stderr.
    public func archiveDone(on connection: Connection, markerRefused: String?) throws(RoomWardenError) {
        guard open else { return }
        if let markerRefused {
            fallBack("Redis refused the subscription to \(markerChannel): \(markerRefused)")
            return
        }
        var rng = SystemRandomNumberGenerator()
        nonce = Array(Handoff.hex(rng.next()).utf8)
        let sentAt = Monotonic.milliseconds()
        let reply: Reply
        do {
            reply = try connection.command(.publish(channel: channelBytes, message: nonce))
        } catch {
            throw RoomWardenError.from(error, doing: "publishing the handoff marker", endpoint: connection.endpoint)
        }
        if let line = reply.errorMessage {
            fallBack("Redis refused PUBLISH to \(markerChannel): \(line)")
            return
        }
        markerSentAt = sentAt
    }

    /// True if a live message is to be printed; false for the marker, and
    /// for a live copy of an entry already printed from the archive.
    public func admit(channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> Bool {
        if channel.elementsEqual(channelBytes) {
            if open, markerSentAt != nil, payload.elementsEqual(nonce) { close() }
            return false
        }
        guard open, !expected.isEmpty else { return true }
        if let closesAt, WallClock.nowMilliseconds() > closesAt {
            close()
            return true
        }
        let key = Handoff.key(channel, payload)
        guard let n = expected[key] else { return true }
        expected[key] = n <= 1 ? nil : n - 1
        return false
    }

    /// The live link's subscriptions were confirmed (again) at `at`
    /// (monotonic ms): after the marker was sent, the marker itself may
    /// have been lost with the old link, and everything from here on is
    /// new.
    public func linkConfirmed(atMonotonic at: Int64) {
        if open, let sent = markerSentAt, at >= sent { close() }
    }

    /// True between `begin` and the marker (or its stand-in).
    public var isOpen: Bool { open }

    private func close() {
        open = false
        expected.removeAll()
        markerSentAt = nil
        closesAt = nil
    }

    private func fallBack(_ why: String) {
        printDiagnostic("\(why); falling back to a time-based handoff: a live message equal to one just printed from the archive may be dropped for \(grace / 1000)s (allow PUBLISH and SUBSCRIBE to roomwarden:handoff:* for an exact one)")
        closesAt = WallClock.nowMilliseconds() + grace
    }

    private static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
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
