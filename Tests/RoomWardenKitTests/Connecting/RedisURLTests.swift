import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// Redis URLs and their redaction.
final class RedisURLTests: XCTestCase {
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

    func testNoPasswordInAnyRedactionOrError() {
        for url in SecretURLs.all {
            XCTAssertFalse(RedisURL.redacted(url).contains(SecretURLs.password), "redacted: \(RedisURL.redacted(url))")
            do { _ = try RedisURL(parsing: url) } catch {
                XCTAssertFalse(error.message.contains(SecretURLs.password), error.message)
                XCTAssertFalse(error.message.contains("\n"), error.message)
            }
        }
        XCTAssertEqual(RedisURL.redacted("redis://:pw@h:70000/x?db=3&password=pw&x"), "redis://***@h:70000/***?db=3&password=***&***")
        XCTAssertEqual(RedisURL.redacted("redis://:secret"), "redis://:***")
        XCTAssertEqual(RedisURL.redacted("unix:///x?password=a@b&db=2"), "unix://***@***&db=2")
    }

    func testQuirks() throws {
        // ?db= on redis:// URLs (it said the port was out of range).
        var u = try RedisURL(parsing: "redis://host:6392?db=2")
        XCTAssertEqual(u.endpoint, .tcp(host: "host", port: 6392))
        XCTAssertEqual(u.db, 2)
        u = try RedisURL(parsing: "redis://h:1?password=p%26w")
        XCTAssertEqual(u.password, "p&w")
        XCTAssertThrowsError(try RedisURL(parsing: "redis://h/1?db=2"), "two different dbs")
        XCTAssertEqual(try RedisURL(parsing: "redis://h/2?db=2").db, 2)
        // [::1]x was taken as [::1].
        XCTAssertThrowsError(try RedisURL(parsing: "redis://[::1]x"))
        XCTAssertEqual(try RedisURL(parsing: "redis://[::1]").endpoint, .tcp(host: "::1", port: 6379))
        // An empty password is none (no AUTH, no warning).
        u = try RedisURL(parsing: "redis://:@127.0.0.1")
        XCTAssertNil(u.password)
        XCTAssertNil(u.user)
        // A password holding / or ? (it should be %-encoded; taken anyway).
        u = try RedisURL(parsing: "redis://u:pa/s?s@127.0.0.1:7100/3")
        XCTAssertEqual(u.password, "pa/s?s")
        XCTAssertEqual(u.endpoint, .tcp(host: "127.0.0.1", port: 7100))
        XCTAssertEqual(u.db, 3)
        XCTAssertEqual(try RedisURL(parsing: "unix:///run/redis@6379.sock").endpoint, .unix(path: "/run/redis@6379.sock"))
    }
}
