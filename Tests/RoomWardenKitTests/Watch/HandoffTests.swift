import Foundation
import RoomWardenKit
import XCTest

/// The history --follow handoff from archive to live.
final class HandoffTests: XCTestCase {
    let now: Int64 = 1_795_300_045_123  // 2026-11-21T22:27:25.123Z

    func testHandoffDropsEachArchivedLiveCopyOnce() {
        let h = Handoff(subscribedAt: now)
        for (ts, text) in [(now, "x"), (now - 60_000, "y")] {
            let member = Envelope(id: text, ts: ts, channel: Array("room:a".utf8), payload: Array(text.utf8)).json
            var scratch = EnvelopeScratch()
            member.withUnsafeBytes { m in
                ArchiveMember.read(m, score: nil, unit: .auto, channel: [], scratch: &scratch) { h.archived($0) }
            }
        }
        func admit(_ c: String, _ p: String) -> Bool {
            Array(c.utf8).withUnsafeBytes { cb in Array(p.utf8).withUnsafeBytes { pb in h.admit(channel: cb, payload: pb) } }
        }
        XCTAssertTrue(admit("room:b", "x"), "other channel")
        XCTAssertFalse(admit("room:a", "x"), "printed from the archive already")
        XCTAssertTrue(admit("room:a", "x"), "a second, equal message is new")
        XCTAssertTrue(admit("room:a", "y"), "archived long before the subscription")
    }
}
