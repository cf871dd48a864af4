import Foundation
import Hiredis
import RedisFixture
@testable import RoomWardenKit
import XCTest

/// What `watch --archive` finds already archived by others.
final class RecentArchiveTests: XCTestCase {
    func testAnEntryByAnotherWriterStandsForOneMessageNearItsTime() throws {
        let server = try RedisServer()
        let c = try server.connect()
        let now = WallClock.nowMilliseconds()
        let key = Array("room:r:archive".utf8), channel = Array("room:r".utf8)
        for (id, ts, text) in [("theirs-1", now, "hi"), ("theirs-2", now - 60_000, "old")] {
            let e = Envelope(id: id, ts: ts, channel: channel, payload: Array(text.utf8))
            XCTAssertEqual(try c.command([Array("ZADD".utf8), key, Array(String(ts).utf8), e.json]), .integer(1))
        }
        var recent = RecentArchive()
        // What this process wrote itself is never taken for another writer's.
        let own = Envelope(id: "mine", ts: now, channel: channel, payload: Array("mine".utf8)).json
        XCTAssertEqual(try c.command([Array("ZADD".utf8), key, Array(String(now).utf8), own]), .integer(1))
        recent.wrote(key: key, member: own, score: now)
        try recent.refresh([key: (channel, now - 100)], on: c)
        func holds(_ text: String, _ ts: Int64) -> Bool {
            Array(text.utf8).withUnsafeBytes { recent.holds(key: key, payload: $0, ts: ts) }
        }
        XCTAssertFalse(holds("mine", now))
        XCTAssertFalse(holds("hi", now + 6_000), "more than 5 s apart")
        XCTAssertTrue(holds("hi", now + 1_000))
        XCTAssertFalse(holds("hi", now + 1_000), "one entry stands for one message")
        XCTAssertFalse(holds("old", now), "a minute old")
        // Read again: nothing counts twice; a newcomer is found.
        let late = Envelope(id: "theirs-3", ts: now + 500, channel: channel, payload: Array("hi".utf8)).json
        XCTAssertEqual(try c.command([Array("ZADD".utf8), key, Array(String(now + 500).utf8), late]), .integer(1))
        try recent.refresh([key: (channel, now)], on: c)
        XCTAssertTrue(holds("hi", now + 600))
        XCTAssertFalse(holds("hi", now + 600))
    }
}
