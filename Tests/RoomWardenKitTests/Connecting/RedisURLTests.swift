import Foundation
import Hiredis
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
}
