#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// From the archive to live messages with no gap and no duplicate: the
/// handoff of `history --follow`, used again by watch for every gap it
/// replays.
///
/// The live link subscribes first (to the rooms and to a private marker
/// channel), then the archive is read to its end, then the archive
/// connection PUBLISHes a unique marker on that channel (on a Redis
/// Cluster, each primary's connection, after that node's reads: the read
/// waits for every one). Redis runs that PUBLISH after every read before
/// it, so on the live link:
///
/// - a message before the marker may also have been printed from the
///   archive: it is dropped if it equals (room and payload) an entry
///   printed from the archive, once per entry;
/// - everything after the marker is new, and printed.
///
/// Several reads may be waiting for their markers at once (watch replays
/// a second gap before the first marker came through): each has its own
/// marker and its own entries. If the live link is lost and regained
/// after a marker was sent, that marker may never come: the new link's
/// subscription takes its place (whatever it carries was published after
/// the marker).
///
/// Where the ACL forbids the marker (its channel, or PUBLISH), the handoff
/// falls back to time, and says so once: the live copy of an entry printed
/// from the archive and stamped after the subscription (less `skew`) is
/// dropped once, for `grace` after the archive ends.
public final class Handoff {
    /// The private channel the marker travels on.
    public let markerChannel: String
    private let channelBytes: [UInt8]
    private let skew: Int64
    private let grace: Int64
    /// One archive read and the live copies it may still meet, oldest
    /// first.
    private var reads: [Read] = []
    private var toldFallback = false

    private struct Read {
        /// Its marker; empty until sent (or for the time-based fallback).
        var nonce: [UInt8] = []
        /// Monotonic ms when the marker was sent.
        var markerSentAt: Int64?
        /// Markers still to come (one per primary it was sent on).
        var markersLeft = 0
        /// The time-based fallback: when expecting ends (wall clock).
        var closesAt: Int64?
        /// Entries stamped before this cannot have a live copy to come.
        var since: Int64
        var expected: [Int: Int] = [:]
    }

    /// A handoff with a fresh private marker channel.
    public init(skewMilliseconds: Int64 = 10_000, graceMilliseconds: Int64 = 5_000) {
        var rng = SystemRandomNumberGenerator()
        markerChannel = "roomwarden:handoff:" + Handoff.hex(rng.next())
        channelBytes = Array(markerChannel.utf8)
        skew = skewMilliseconds
        grace = graceMilliseconds
    }

    /// An archive read starts: the live link's subscription was confirmed
    /// at `subscribedAt` (Unix ms); its entries follow (`archived`).
    public func begin(subscribedAt: Int64) {
        reads.append(Read(since: subscribedAt - skew))
    }

    /// Remembers a message printed from the archive.
    public func archived(_ message: MessageView) {
        guard let ts = message.ts, let last = reads.indices.last, ts >= reads[last].since else { return }
        reads[last].expected[Handoff.key(message.channel, message.payload), default: 0] += 1
    }

    /// The archive is read to its end: sends the marker through
    /// `topology` (on every primary, over the connections that read the
    /// archive). When the server refuses it (or `markerRefused` says the
    /// live link could not subscribe to its channel), falls back to time
    /// and says so on stderr.
    public func archiveDone(on topology: Topology, markerRefused: String?) throws(RoomWardenError) {
        guard let last = reads.indices.last else { return }
        if reads[last].expected.isEmpty {
            reads.removeLast()  // nothing printed: nothing to meet
            return
        }
        if let markerRefused {
            fallBack("Redis refused the subscription to \(markerChannel): \(markerRefused)")
            return
        }
        var rng = SystemRandomNumberGenerator()
        let nonce = Array(Handoff.hex(rng.next()).utf8)
        let sentAt = Monotonic.milliseconds()
        var sent = 0
        var refused: String?
        let marker = Command.publish(channel: channelBytes, message: nonce)
        try topology.forEachPrimary(doing: "publishing the handoff marker") { (connection) throws(RedisError) in
            let reply = try connection.command(marker)
            if let line = reply.errorMessage { refused = refused ?? line } else { sent += 1 }
        }
        if let refused {
            fallBack("Redis refused PUBLISH to \(markerChannel): \(refused)")
            return
        }
        reads[last].nonce = nonce
        reads[last].markerSentAt = sentAt
        reads[last].markersLeft = sent
    }

    /// True if a live message is to be printed; false for a marker, and
    /// for a live copy of an entry already printed from the archive.
    public func admit(channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> Bool {
        if Handoff.same(channel, channelBytes) {
            // Markers come in the order they were sent: this one ends its
            // read and any older one whose marker was lost.
            if let i = reads.firstIndex(where: { $0.markerSentAt != nil && payload.elementsEqual($0.nonce) }) {
                reads[i].markersLeft -= 1
                if reads[i].markersLeft <= 0 { reads.removeFirst(i + 1) }
            }
            return false
        }
        guard !reads.isEmpty else { return true }
        let now = WallClock.nowMilliseconds()
        reads.removeAll { read in read.closesAt.map { now > $0 } ?? false }
        let key = Handoff.key(channel, payload)
        for i in reads.indices {
            guard let n = reads[i].expected[key] else { continue }
            reads[i].expected[key] = n <= 1 ? nil : n - 1
            return false
        }
        return true
    }

    /// The live link's subscriptions were confirmed (again) at `at`
    /// (monotonic ms): a marker sent before that may have been lost with
    /// the old link, and everything from here on is new to its read.
    public func linkConfirmed(atMonotonic at: Int64) {
        reads.removeAll { read in read.markerSentAt.map { at >= $0 } ?? false }
    }

    /// True while some read waits for its marker (or its stand-in).
    public var isOpen: Bool { !reads.isEmpty }

    /// Gives up the read begun last (its archive could not be read to its
    /// end): its entries are not expected live.
    public func abandon() {
        if !reads.isEmpty { reads.removeLast() }
    }

    private func fallBack(_ why: String) {
        if let last = reads.indices.last { reads[last].closesAt = WallClock.nowMilliseconds() + grace }
        guard !toldFallback else { return }
        toldFallback = true
        printDiagnostic("\(why); falling back to a time-based handoff: a live message equal to one just printed from the archive may be dropped for \(grace / 1000)s (allow PUBLISH and SUBSCRIBE to roomwarden:handoff:* for an exact one)")
    }

    private static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    /// A room and a payload as one dictionary key: a 64-bit hash that
    /// keeps no copy of the message, seeded afresh by each process (a
    /// secret seed: a sender cannot aim a message at another's key). Two
    /// different messages share a key with a chance of about 2^-64 per
    /// pair. Cheaper than `Hasher` (watch keys every live message): 8 bytes
    /// a step, one multiply each.
    static func key(_ channel: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) -> Int {
        var h = mix(seed ^ UInt64(channel.count))
        h = absorb(channel, into: h)
        h = absorb(payload, into: mix(h ^ UInt64(payload.count)))
        return Int(truncatingIfNeeded: mix(h))
    }

    /// True if the bytes are `b`'s.
    static func same(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return b.withUnsafeBytes { same(a, $0) }
    }

    /// True if both views hold the same bytes.
    @inline(__always)
    static func same(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard let p = a.baseAddress, let q = b.baseAddress else { return true }
        return memcmp(p, q, a.count) == 0
    }

    private static let seed: UInt64 = {
        var rng = SystemRandomNumberGenerator()
        return rng.next()
    }()

    @inline(__always)
    private static func absorb(_ bytes: UnsafeRawBufferPointer, into start: UInt64) -> UInt64 {
        guard let base = bytes.baseAddress else { return start }
        var h = start
        var i = 0
        let n = bytes.count
        while i &+ 8 <= n {
            h = (h ^ base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
            h ^= h &>> 29
            i &+= 8
        }
        var tail: UInt64 = 0
        if i < n { memcpy(&tail, base + i, n &- i) }
        return (h ^ tail ^ (UInt64(n &- i) &<< 56)) &* 0xBF58_476D_1CE4_E5B9
    }

    /// A 64-bit finalizer (SplitMix64's): every input bit moves every
    /// output bit.
    @inline(__always)
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
