import Foundation
import RoomWardenKit
import XCTest

/// Reading archive members back: envelopes, other writers' members, score bounds.
final class ArchiveReadingTests: XCTestCase {
    let now: Int64 = 1_795_300_045_123  // 2026-11-21T22:27:25.123Z

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
        for raw in [#"{"message":"no ts"}"#, #"{"ts":1,"nomessage":true}"#, "plain text", #"{"ts":1.5e,"message":"x"}"#, "{}"] {
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
        func text(_ unit: ScoreUnit, _ ms: Int64) -> String { String(decoding: unit.score(forMilliseconds: ms).text, as: UTF8.self) }
        XCTAssertEqual(text(.milliseconds, 1_795_300_045_123), "1795300045123")
        XCTAssertEqual(text(.seconds, 1_795_300_045_123), "1795300045.123")
        XCTAssertEqual(text(.seconds, 1_795_300_045_007), "1795300045.007")
        XCTAssertEqual(text(.seconds, 1_795_300_045_000), "1795300045")
        XCTAssertEqual(text(.seconds, -1500), "-1.500", "before 1970: -1.5 s, not -2 + 0.5")
        XCTAssertEqual(text(.seconds, -1), "-0.001")
        XCTAssertEqual(text(.seconds, .min), "-9223372036854775.808")
    }

    /// One place decides seconds or milliseconds, and a score that is no
    /// time (infinite, beyond the year 9999, before the year 0) is nil,
    /// never a trap.
    func testScoresThatAreNoTime() {
        XCTAssertEqual(ScoreUnit.auto.resolved(newestScore: 1_795_300_045), .seconds)
        XCTAssertEqual(ScoreUnit.auto.resolved(newestScore: 1_795_300_045_123), .milliseconds)
        XCTAssertEqual(ScoreUnit.auto.resolved(newestScore: nil), .milliseconds)
        XCTAssertEqual(ScoreUnit.seconds.resolved(newestScore: 1e13), .seconds)
        for unit in ScoreUnit.allCases {
            for score in [Double.infinity, -.infinity, -1e16, 1e16 * 1000, 1e300, -1e300, .greatestFiniteMagnitude, .nan] {
                XCTAssertNil(unit.milliseconds(score), "\(unit) \(score)")
            }
        }
        XCTAssertEqual(ScoreUnit.milliseconds.milliseconds(253_402_300_799_999), 253_402_300_799_999, "9999-12-31T23:59:59.999Z")
        XCTAssertNil(ScoreUnit.milliseconds.milliseconds(253_402_300_800_000))
        XCTAssertEqual(ScoreUnit.seconds.milliseconds(-62_167_219_200), -62_167_219_200_000, "0000-01-01T00:00:00Z")
        XCTAssertNil(ScoreUnit.seconds.milliseconds(-62_167_219_200.001))
        // A raw member scored +inf reads with no time, its score kept.
        let e = ArchiveEntry(member: [0x41], score: .infinity, unit: .auto, channel: [])
        XCTAssertNil(e.ts)
    }
}
