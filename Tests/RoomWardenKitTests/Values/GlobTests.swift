import Foundation
import RoomWardenKit
import XCTest

/// Channel globs, matched by Redis' rules.
final class GlobTests: XCTestCase {
    func testGlobFollowsRedisRules() {
        let cases: [(String, String, Bool)] = [
            ("room:*", "room:lobby", true), ("room:*", "room:", true), ("room:*", "roomx", false),
            ("room:?", "room:a", true), ("room:?", "room:ab", false), ("room:[ab]*", "room:b1", true),
            ("room:[^ab]*", "room:b1", false), ("room:[a-c]", "room:b", true), ("room:\\*", "room:*", true),
            ("room:\\*", "room:x", false), ("*", "", true), ("a*b*c", "axxbyyc", true), ("a*b*c", "axxbyy", false),
        ]
        for (pattern, text, expected) in cases {
            XCTAssertEqual(Glob(pattern).matches(Array(text.utf8)), expected, "\(pattern) ~ \(text)")
        }
    }
}
