import Foundation
import RoomWardenKit
import XCTest

/// --since/--until parsing.
final class TimePointTests: XCTestCase {
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
}
