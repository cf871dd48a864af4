import Foundation
import Hiredis
@testable import RoomWardenKit
import XCTest

/// `redis-sentinel://` URLs and their redaction.
final class SentinelURLTests: XCTestCase {
    func testFullForm() throws {
        let u = try SentinelURL(parsing: "redis-sentinel://alice:p%40ss@s1.example,s2.example:26380,[::1]:5000/3?sentinel_user=watch&sentinel_password=s%23cret#mymaster")
        XCTAssertEqual(u.sentinels, [.tcp(host: "s1.example", port: 26379), .tcp(host: "s2.example", port: 26380), .tcp(host: "::1", port: 5000)])
        XCTAssertEqual(u.masterName, "mymaster")
        XCTAssertEqual(u.user, "alice")
        XCTAssertEqual(u.password, "p@ss")
        XCTAssertEqual(u.db, 3)
        XCTAssertEqual(u.sentinelUser, "watch")
        XCTAssertEqual(u.sentinelPassword, "s#cret")
        let s = u.settings(connectTimeout: .seconds(2))
        XCTAssertEqual(s.sentinels, u.sentinels)
        XCTAssertEqual(s.masterName, "mymaster")
        XCTAssertEqual(s.user, "watch")
        XCTAssertEqual(s.password, "s#cret")
        XCTAssertFalse(u.description.contains("p@ss"))
        XCTAssertFalse(u.description.contains("s#cret"))
        XCTAssertEqual(u.description, "redis-sentinel://alice:***@s1.example:26379,s2.example:26380,[::1]:5000/3?sentinel_user=watch&sentinel_password=***#mymaster")
    }

    func testShortForms() throws {
        var u = try SentinelURL(parsing: "redis-sentinel://localhost#m")
        XCTAssertEqual(u.sentinels, [.tcp(host: "localhost", port: 26379)])
        XCTAssertNil(u.user)
        XCTAssertNil(u.password)
        XCTAssertNil(u.db)
        XCTAssertNil(u.sentinelPassword)
        u = try SentinelURL(parsing: "redis-sentinel://secret@127.0.0.1:1,127.0.0.1:2#m%20n")
        XCTAssertEqual(u.password, "secret")
        XCTAssertNil(u.user)
        XCTAssertEqual(u.masterName, "m n")
        XCTAssertEqual(u.sentinels.count, 2)
        // A password holding '#' and '@' unencoded still parses.
        u = try SentinelURL(parsing: "redis-sentinel://:a#b@c@h#m")
        XCTAssertEqual(u.password, "a#b@c")
        XCTAssertEqual(u.sentinels, [.tcp(host: "h", port: 26379)])
        XCTAssertTrue(SentinelURL.matches("redis-sentinel://h#m"))
        XCTAssertFalse(SentinelURL.matches("redis://h"))
    }

    func testBadURLsAreUsageErrorsWithoutSecrets() {
        let bad = [
            "redis-sentinel://u:topsecret@h",              // no master
            "redis-sentinel://u:topsecret@h#",             // empty master
            "redis-sentinel://u:topsecret@h,,h2#m",        // empty host
            "redis-sentinel://u:topsecret@h:0#m",          // port
            "redis-sentinel://u:topsecret@h:99999#m",
            "redis-sentinel://u:topsecret@h:x#m",
            "redis-sentinel://u:topsecret@h/x#m",          // db
            "redis-sentinel://u:topsecret@h?sentinel_password=topsecret&timeout=1#m",   // unknown parameter
            "redis-sentinel://h?sentinel_user=u#m",        // user without password
            "redis-sentinel://u:topsecret@[::1#m",
            "redis://u:topsecret@h#m",
        ]
        for text in bad {
            XCTAssertThrowsError(try SentinelURL(parsing: text), text) { error in
                let e = error as? RoomWardenError
                XCTAssertEqual(e?.exitCode, 64, text)
                XCTAssertFalse(e?.message.contains("topsecret") ?? true, e?.message ?? text)
            }
        }
    }

    func testSentinelFlagAddresses() throws {
        XCTAssertEqual(try SentinelSettings.address("10.0.0.1"), .tcp(host: "10.0.0.1", port: 26379))
        XCTAssertEqual(try SentinelSettings.address("s.example:5000"), .tcp(host: "s.example", port: 5000))
        XCTAssertEqual(try SentinelSettings.address("[::1]:5001"), .tcp(host: "::1", port: 5001))
        for bad in ["", ":1", "h:0", "h:x", "[::1"] {
            XCTAssertThrowsError(try SentinelSettings.address(bad), bad) { error in
                XCTAssertEqual((error as? RoomWardenError)?.exitCode, 64)
                XCTAssertTrue((error as? RoomWardenError)?.message.hasPrefix("bad --sentinel") ?? false)
            }
        }
    }

    func testRedacted() {
        XCTAssertEqual(SentinelURL.redacted("redis-sentinel://u:pw@h1,h2/1?sentinel_password=spw#m"),
                       "redis-sentinel://u:***@h1,h2/1?sentinel_password=***#m")
        XCTAssertEqual(SentinelURL.redacted("redis-sentinel://pw@h#m"), "redis-sentinel://***@h#m")
        XCTAssertEqual(SentinelURL.redacted("redis-sentinel://h?sentinel_user=x&sentinel_password=a&b#m"),
                       "redis-sentinel://h?sentinel_user=x&sentinel_password=***&b#m")
        XCTAssertEqual(SentinelURL.redacted("redis-sentinel://h#m"), "redis-sentinel://h#m")
    }

    func testSwitchMasterPayload() {
        let p = Array("mymaster 127.0.0.1 6379 127.0.0.1 6380".utf8)
        XCTAssertEqual(SentinelSwitchListener.parseSwitch(p, masterName: "mymaster"), .tcp(host: "127.0.0.1", port: 6380))
        XCTAssertNil(SentinelSwitchListener.parseSwitch(p, masterName: "other"))
        XCTAssertNil(SentinelSwitchListener.parseSwitch(Array("mymaster 1 2 3".utf8), masterName: "mymaster"))
        XCTAssertNil(SentinelSwitchListener.parseSwitch(Array("mymaster a 1 b x".utf8), masterName: "mymaster"))
    }
}
