import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// The handoff from archive to live: exact, by a marker the server orders.
final class HandoffTests: XCTestCase {
    static let server: RedisServer = {
        do { return try RedisServer() } catch { fatalError("\(error)") }
    }()

    let now = WallClock.nowMilliseconds()

    /// A handoff with `x` (stamped now) and `y` (a minute old) printed from
    /// the archive of room:a, and its marker sent; returns the marker as
    /// the live link would see it.
    func handoffWithArchive(_ h: Handoff) throws -> PushMessage {
        let listener = try Subscriber(Self.server, channels: [h.markerChannel])
        h.begin(subscribedAt: now)
        for (ts, text) in [(now, "x"), (now - 60_000, "y")] {
            let member = Envelope(id: text, ts: ts, channel: Array("room:a".utf8), payload: Array(text.utf8)).json
            var scratch = EnvelopeScratch()
            member.withUnsafeBytes { m in
                ArchiveMember.read(m, score: nil, unit: .auto, channel: [], scratch: &scratch) { h.archived($0) }
            }
        }
        try h.archiveDone(on: .single(Self.server.connect()), markerRefused: nil)
        return try XCTUnwrap(listener.next())
    }

    func admit(_ h: Handoff, _ c: String, _ p: String) -> Bool {
        admit(h, Array(c.utf8), Array(p.utf8))
    }

    func admit(_ h: Handoff, _ c: [UInt8], _ p: [UInt8]) -> Bool {
        c.withUnsafeBytes { cb in p.withUnsafeBytes { pb in h.admit(channel: cb, payload: pb) } }
    }

    func testBeforeTheMarkerEachArchivedCopyIsDroppedOnce() throws {
        let h = Handoff()
        let marker = try handoffWithArchive(h)
        XCTAssertTrue(admit(h, "room:b", "x"), "other channel")
        XCTAssertFalse(admit(h, "room:a", "x"), "printed from the archive already")
        XCTAssertTrue(admit(h, "room:a", "x"), "a second, equal message is new")
        XCTAssertTrue(admit(h, "room:a", "y"), "archived long before the subscription: no live copy to come")
        XCTAssertFalse(admit(h, marker.channel, marker.payload), "the marker is never printed")
        XCTAssertFalse(h.isOpen)
    }

    func testAfterTheMarkerEverythingIsNew() throws {
        let h = Handoff()
        let marker = try handoffWithArchive(h)
        XCTAssertTrue(h.isOpen)
        XCTAssertFalse(admit(h, marker.channel, marker.payload))
        XCTAssertTrue(admit(h, "room:a", "x"), "published after the archive was read: new, though equal")
    }

    func testALinkRegainedAfterTheMarkerWasSentTakesItsPlace() throws {
        let h = Handoff()
        let before = Monotonic.milliseconds()
        _ = try handoffWithArchive(h)
        h.linkConfirmed(atMonotonic: before - 1)
        XCTAssertTrue(h.isOpen, "a link confirmed before the marker was sent gets the marker")
        h.linkConfirmed(atMonotonic: Monotonic.milliseconds())
        XCTAssertFalse(h.isOpen)
        XCTAssertTrue(admit(h, "room:a", "x"))
    }

    func testAnOldMarkerIsDroppedButDoesNotCloseANewHandoff() throws {
        let h = Handoff()
        let first = try handoffWithArchive(h)
        XCTAssertFalse(admit(h, first.channel, first.payload))
        _ = try handoffWithArchive(h)
        XCTAssertFalse(admit(h, first.channel, first.payload))
        XCTAssertTrue(h.isOpen, "only this handoff's own marker ends it")
    }

    /// A second read begins before the first one's marker came through
    /// (watch replays a second gap while the first is still queued): the
    /// first read's entries are still expected until its own marker.
    func testTwoReadsWaitingForTheirMarkersAtOnce() throws {
        let h = Handoff()
        let first = try handoffWithArchive(h)
        let second = try handoffWithArchive(h)
        XCTAssertFalse(admit(h, "room:a", "x"), "the first read's copy")
        XCTAssertFalse(admit(h, "room:a", "x"), "the second read's copy")
        XCTAssertFalse(admit(h, first.channel, first.payload))
        XCTAssertTrue(h.isOpen, "the second read still waits")
        XCTAssertFalse(admit(h, second.channel, second.payload))
        XCTAssertFalse(h.isOpen)
        XCTAssertTrue(admit(h, "room:a", "x"))
    }
}
