import Foundation
import RoomWardenKit
import XCTest

/// --since/--until parsing and reading archive members back.
final class TimeAndArchiveReadingTests: XCTestCase {
    let now: Int64 = 1_795_300_045_123  // 2026-11-21T22:27:25.123Z

    func testDurationsBackFromNow() {
        XCTAssertEqual(TimePoint.milliseconds("90s", now: now), now - 90_000)
        XCTAssertEqual(TimePoint.milliseconds("15m", now: now), now - 900_000)
        XCTAssertEqual(TimePoint.milliseconds("2h", now: now), now - 7_200_000)
        XCTAssertEqual(TimePoint.milliseconds("7d", now: now), now - 604_800_000)
        XCTAssertEqual(TimePoint.milliseconds("1h30m", now: now), now - 5_400_000)
        XCTAssertEqual(TimePoint.milliseconds("now", now: now), now)
    }

    func testRFC3339WithZonesAndFractions() {
        XCTAssertEqual(TimePoint.milliseconds("2026-11-21T22:27:25Z", now: now), 1_795_300_045_000)
        XCTAssertEqual(TimePoint.milliseconds("2026-11-21T22:27:25.123Z", now: now), 1_795_300_045_123)
        XCTAssertEqual(TimePoint.milliseconds("2026-11-21T22:27:25.1Z", now: now), 1_795_300_045_100)
        XCTAssertEqual(TimePoint.milliseconds("2026-11-21T22:27:25.123456Z", now: now), 1_795_300_045_123)
        XCTAssertEqual(TimePoint.milliseconds("2026-11-21T23:27:25+01:00", now: now), 1_795_300_045_000)
        XCTAssertEqual(TimePoint.milliseconds("2026-11-21T17:57:25-04:30", now: now), 1_795_300_045_000)
        XCTAssertEqual(TimePoint.milliseconds("2026-11-21T22:27Z", now: now), 1_795_300_020_000)
        XCTAssertEqual(TimePoint.milliseconds("2024-02-29T00:00:00Z", now: now), 1_709_164_800_000)
        XCTAssertEqual(TimePoint.milliseconds("1970-01-01T00:00:00Z", now: now), 0)
    }

    func testDatesAreLocalMidnight() {
        setenv("TZ", "America/New_York", 1); tzset()
        defer { unsetenv("TZ"); tzset() }
        XCTAssertEqual(TimePoint.milliseconds("2026-11-21", now: now), TimePoint.milliseconds("2026-11-21T05:00:00Z", now: now))
        XCTAssertEqual(TimePoint.milliseconds("2026-07-01", now: now), TimePoint.milliseconds("2026-07-01T04:00:00Z", now: now))
    }

    func testEpochSeconds() {
        XCTAssertEqual(TimePoint.milliseconds("@1795300045", now: now), 1_795_300_045_000)
        XCTAssertEqual(TimePoint.milliseconds("@1795300045.5", now: now), 1_795_300_045_500)
        XCTAssertEqual(TimePoint.milliseconds("@0", now: now), 0)
    }

    func testBadTimes() {
        for bad in ["", "yesterday", "2026-13-01", "2026-02-30", "2026-11-21T25:00:00Z", "2026-11-21T10:00:00",
                    "2026-11-21T10:00:00+1", "@", "@x", "5", "-5m", "2026/11/21", "2026-11-21T10:00:00Zjunk"] {
            XCTAssertNil(TimePoint.milliseconds(bad, now: now), bad)
        }
        XCTAssertThrowsError(try TimePoint.parse("soon", flag: "--since", now: now)) { error in
            XCTAssertEqual((error as? RoomWardenError)?.exitCode, 64)
            XCTAssertTrue((error as? RoomWardenError)?.message.contains("--since 'soon'") ?? false)
        }
    }

    func testEnvelopeRoundTrip() {
        let payloads: [[UInt8]] = [Array("hé \"q\" \\ \n 😀".utf8), [0xFF, 0x00], [], Array("\u{1}\u{1F}".utf8)]
        for p in payloads {
            let e = Envelope(id: "x-1", ts: now, channel: Array("room:a".utf8), from: "bob", payload: p)
            let back = ArchiveEntry(member: e.json, score: 5, unit: .auto, channel: Array("room:other".utf8))
            XCTAssertEqual(back.payload, p)
            XCTAssertEqual(back.ts, now)
            XCTAssertEqual(back.id, "x-1")
            XCTAssertEqual(back.from, "bob")
            XCTAssertEqual(back.channel, Array("room:a".utf8))
        }
    }

    func testEnvelopesByOtherWritersAndRawMembers() {
        let spaced = Array(#" { "ts" : 1795300045123 , "extra": {"nested": [1, "}"]}, "message": "caf\u00e9 \ud83d\ude00" } "#.utf8)
        var e = ArchiveEntry(member: spaced, score: 1, unit: .auto, channel: Array("room:a".utf8))
        XCTAssertEqual(e.payload, Array("café 😀".utf8))
        XCTAssertEqual(e.ts, now)
        XCTAssertEqual(e.channel, Array("room:a".utf8), "no channel in the envelope: the key's")
        // Not envelopes: shown raw, with the score as their time.
        for raw in [#"{"message":"no ts"}"#, #"{"ts":1,"nomessage":true}"#, "plain text", #"{"ts":1.5,"message":"x"}"#, "{}"] {
            e = ArchiveEntry(member: Array(raw.utf8), score: 1_795_300_045, unit: .auto, channel: Array("room:a".utf8))
            XCTAssertEqual(e.payload, Array(raw.utf8), raw)
            XCTAssertEqual(e.ts, 1_795_300_045_000, "seconds below 1e11")
            XCTAssertNil(e.id)
        }
        XCTAssertEqual(ArchiveEntry(member: [0x41], score: 1_795_300_045_123, unit: .auto, channel: []).ts, now)
        XCTAssertEqual(ArchiveEntry(member: [0x41], score: 1_795_300_045, unit: .milliseconds, channel: []).ts, 1_795_300_045)
        XCTAssertEqual(ArchiveEntry(member: [0x41], score: 1_795_300_045.5, unit: .seconds, channel: []).ts, 1_795_300_045_500)
        XCTAssertNil(ArchiveEntry(member: [0x41], score: nil, unit: .auto, channel: []).ts)
    }

    func testScoreBounds() {
        XCTAssertEqual(ScoreUnit.score(forMilliseconds: 1_795_300_045_123, seconds: false), "1795300045123")
        XCTAssertEqual(ScoreUnit.score(forMilliseconds: 1_795_300_045_123, seconds: true), "1795300045.123")
        XCTAssertEqual(ScoreUnit.score(forMilliseconds: 1_795_300_045_007, seconds: true), "1795300045.007")
        XCTAssertEqual(ScoreUnit.score(forMilliseconds: 1_795_300_045_000, seconds: true), "1795300045")
    }

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
