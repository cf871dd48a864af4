import Foundation
import Hiredis
import RoomWardenKit
import XCTest

/// URLs, durations, archive keys and envelopes: no server needed.
final class ConnectingAndArchiveTests: XCTestCase {
    func testRedisURLForms() throws {
        var u = try RedisURL(parsing: "redis://alice:p%40ss@db.example:6380/2")
        XCTAssertEqual(u.endpoint, .tcp(host: "db.example", port: 6380))
        XCTAssertEqual(u.user, "alice")
        XCTAssertEqual(u.password, "p@ss")
        XCTAssertEqual(u.db, 2)
        u = try RedisURL(parsing: "redis://:only@localhost")
        XCTAssertEqual(u.endpoint, .tcp(host: "localhost", port: 6379))
        XCTAssertNil(u.user)
        XCTAssertEqual(u.password, "only")
        u = try RedisURL(parsing: "redis://[::1]:7000")
        XCTAssertEqual(u.endpoint, .tcp(host: "::1", port: 7000))
        XCTAssertEqual(u.endpoint.description, "[::1]:7000")
        u = try RedisURL(parsing: "unix:///run/redis.sock?db=5")
        XCTAssertEqual(u.endpoint, .unix(path: "/run/redis.sock"))
        XCTAssertEqual(u.db, 5)
        for bad in ["rediss://h", "redis://h:0", "redis://h:x", "redis://h/x", "unix://relative.sock", "ftp://h", "unix:///s?dbx=1"] {
            XCTAssertThrowsError(try RedisURL(parsing: bad), bad) { error in
                XCTAssertEqual((error as? RoomWardenError)?.exitCode, 64)
            }
        }
    }

    func testRedactedURLHidesSecrets() {
        XCTAssertEqual(RedisURL.redacted("redis://u:pw@h:1/2"), "redis://***@h:1/2")
        XCTAssertEqual(RedisURL.redacted("unix:///s.sock?db=1&password=pw"), "unix:///s.sock?db=1&password=***")
        XCTAssertEqual(RedisURL.redacted("redis://h:1"), "redis://h:1")
    }

    func testDurations() {
        XCTAssertEqual(TimeSpan.milliseconds("90s"), 90_000)
        XCTAssertEqual(TimeSpan.milliseconds("15m"), 900_000)
        XCTAssertEqual(TimeSpan.milliseconds("2h"), 7_200_000)
        XCTAssertEqual(TimeSpan.milliseconds("7d"), 604_800_000)
        XCTAssertEqual(TimeSpan.milliseconds("1h30m"), 5_400_000)
        XCTAssertEqual(TimeSpan.milliseconds("500ms"), 500)
        XCTAssertEqual(TimeSpan.milliseconds("1.5s"), 1500)
        XCTAssertEqual(TimeSpan.milliseconds("5"), 5000)
        for bad in ["", "s", "5x", "-5s", "1h 30", "soon"] { XCTAssertNil(TimeSpan.milliseconds(bad), bad) }
    }

    func testArchiveKeyTemplate() throws {
        let t = try ArchiveKeyTemplate("chat:*:log")
        XCTAssertEqual(t.key(for: Array("room:a".utf8)), Array("chat:room:a:log".utf8))
        XCTAssertEqual(t.scanPattern(for: Array("room:*".utf8)), Array("chat:room:*:log".utf8))
        XCTAssertEqual(t.channel(ofKey: Array("chat:room:a:log".utf8)), Array("room:a".utf8))
        XCTAssertNil(t.channel(ofKey: Array("other".utf8)))
        XCTAssertEqual(ArchiveKeyTemplate.standard.key(for: Array("room:lobby".utf8)), Array("room:lobby:archive".utf8))
        XCTAssertThrowsError(try ArchiveKeyTemplate("nostar"))
        XCTAssertThrowsError(try ArchiveKeyTemplate("*:*"))
    }

    func testEnvelopeJSONIsStrictAndLossless() throws {
        let payload: [UInt8] = Array("quote \" backslash \\ newline \n tab \t bell \u{07} é 😀".utf8)
        let e = Envelope(id: "1-a-1", ts: 1_763_762_245_123, channel: Array("room:lobby".utf8), from: "mod", payload: payload)
        let text = String(decoding: e.json, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"id":"1-a-1","ts":1763762245123,"channel":"room:lobby","from":"mod","message":"#), text)
        let obj = try JSONSerialization.jsonObject(with: Data(e.json)) as? [String: Any]
        XCTAssertEqual((obj?["message"] as? String).map { Array($0.utf8) }, payload)

        let binary: [UInt8] = [0xFF, 0x00, 0xFE, 0x41]
        let b = Envelope(id: "x", ts: 1, channel: [0x63], payload: binary)
        let bobj = try JSONSerialization.jsonObject(with: Data(b.json)) as? [String: Any]
        XCTAssertNil(bobj?["message"])
        XCTAssertEqual((bobj?["message_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }, binary)
    }

    func testBase64RoundTripsEveryLength() {
        for n in 0..<64 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            var out: [UInt8] = []
            JSONText.appendBase64(bytes, to: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), Data(bytes).base64EncodedString())
            XCTAssertEqual(JSONText.decodeBase64(out), bytes)
        }
    }

    func testUTF8Validation() {
        XCTAssertTrue(UTF8Check.isValid(Array("plain ascii, long enough for the fast path".utf8)))
        XCTAssertTrue(UTF8Check.isValid(Array("é 😀 \u{202E}".utf8)))
        XCTAssertFalse(UTF8Check.isValid([0xFF]))
        XCTAssertFalse(UTF8Check.isValid([0xC0, 0x80]))  // overlong
        XCTAssertFalse(UTF8Check.isValid([0xED, 0xA0, 0x80]))  // surrogate
        XCTAssertFalse(UTF8Check.isValid([0xE2, 0x82]))  // truncated
        XCTAssertFalse(UTF8Check.isValid(Array("0123456789".utf8) + [0x80]))
    }

    func testMessageIDsAreUniqueAndSortInOrder() {
        var ids = MessageIDs()
        let made = (0..<2000).map { _ in ids.next(ts: 5) }
        XCTAssertEqual(Set(made).count, made.count)
        XCTAssertEqual(made.sorted(), made)
    }
}
