import Foundation
import RoomWardenKit
import XCTest

/// --since/--until parsing.
final class TimePointTests: XCTestCase {
    let now: Int64 = 1_795_300_045_123  // 2026-11-21T22:27:25.123Z

    func ms(_ text: String) -> Int64? { (try? TimePoint(parsing: text))?.milliseconds(now: now) }

    /// Runs `body` with the local zone set to `zone`.
    func inZone(_ zone: String, _ body: () throws -> Void) rethrows {
        let old = ProcessInfo.processInfo.environment["TZ"]
        setenv("TZ", zone, 1); tzset()
        defer { if let old { setenv("TZ", old, 1) } else { unsetenv("TZ") }; tzset() }
        try body()
    }

    func testDurationsBackFromNow() {
        XCTAssertEqual(ms("90s"), now - 90_000)
        XCTAssertEqual(ms("15m"), now - 900_000)
        XCTAssertEqual(ms("2h"), now - 7_200_000)
        XCTAssertEqual(ms("7d"), now - 604_800_000)
        XCTAssertEqual(ms("1h30m"), now - 5_400_000)
        XCTAssertEqual(ms("now"), now)
        XCTAssertEqual(ms("NOW"), now)
    }

    func testMinusSignSaysTheSame() {
        // --since=-1h, the way date -d and journalctl spell "an hour ago".
        XCTAssertEqual(ms("-1h"), now - 3_600_000)
        XCTAssertEqual(ms("-90s"), ms("90s"))
    }

    func testRFC3339WithZonesAndFractions() {
        XCTAssertEqual(ms("2026-11-21T22:27:25Z"), 1_795_300_045_000)
        XCTAssertEqual(ms("2026-11-21T22:27:25.123Z"), 1_795_300_045_123)
        XCTAssertEqual(ms("2026-11-21T22:27:25.1Z"), 1_795_300_045_100)
        XCTAssertEqual(ms("2026-11-21T22:27:25.123456Z"), 1_795_300_045_123)
        XCTAssertEqual(ms("2026-11-21T23:27:25+01:00"), 1_795_300_045_000)
        XCTAssertEqual(ms("2026-11-21T17:57:25-04:30"), 1_795_300_045_000)
        XCTAssertEqual(ms("2026-11-21T22:27Z"), 1_795_300_020_000)
        XCTAssertEqual(ms("2026-11-21 22:27:25Z"), 1_795_300_045_000)
        XCTAssertEqual(ms("2024-02-29T00:00:00Z"), 1_709_164_800_000)
        XCTAssertEqual(ms("1970-01-01T00:00:00Z"), 0)
        XCTAssertEqual(ms("0000-01-01T00:00:00Z"), TimePoint.earliest)
        XCTAssertEqual(ms("9999-12-31T23:59:59.999Z"), TimePoint.latest)
    }

    func testDatesAreLocalMidnight() {
        inZone("America/New_York") {
            XCTAssertEqual(ms("2026-11-21"), ms("2026-11-21T05:00:00Z"))
            XCTAssertEqual(ms("2026-07-01"), ms("2026-07-01T04:00:00Z"))
        }
    }

    func testLocalTimesWithoutZoneAsDateReadsThem() throws {
        try inZone("America/New_York") {
            XCTAssertEqual(ms("2026-11-22 02:00:00"), ms("2026-11-22T07:00:00Z"))
            XCTAssertEqual(ms("2026-11-22T02:00:00"), ms("2026-11-22T07:00:00Z"))
            XCTAssertEqual(ms("2026-11-22 02:00"), ms("2026-11-22T07:00:00Z"))
            XCTAssertEqual(ms("2026-07-01 12:30:15.250"), ms("2026-07-01T16:30:15.250Z"))
            // 02:30 on the spring-forward day does not exist in New York.
            XCTAssertThrowsError(try TimePoint(parsing: "2026-03-08 02:30")) { error in
                XCTAssertTrue((error as? ValueError)?.reason.contains("daylight-saving") ?? false, "\(error)")
            }
        }
        inZone("UTC") { XCTAssertEqual(ms("2026-11-22 02:00:00"), ms("2026-11-22T02:00:00Z")) }
    }

    func testEpochSeconds() {
        XCTAssertEqual(ms("@1795300045"), 1_795_300_045_000)
        XCTAssertEqual(ms("@1795300045.5"), 1_795_300_045_500)
        XCTAssertEqual(ms("@1795300045.123"), 1_795_300_045_123)
        XCTAssertEqual(ms("@0"), 0)
        XCTAssertEqual(ms("@-1.5"), -1500)
    }

    func testBadTimes() {
        for bad in ["", "yesterday", "2026-13-01", "2026-02-30", "2026-11-21T25:00:00Z", "2026-11-21T10:00:00+1", "@",
                    "@x", "5", "1.5", "2026/11/21", "2026-11-21T10:00:00Zjunk", "1e18", "@1e300", "@inf", "--5m", "5m ago"] {
            XCTAssertNil(ms(bad), bad)
        }
    }

    func testOutOfRangeSaysSo() {
        for (huge, says) in [("999999999999d", "100 years"), ("36501d", "100 years"), ("@-9.3e15", "not Unix seconds"),
                             ("@-9300000000000000", "out of range"), ("@99999999999999999999", "out of range"),
                             ("9999-12-31T23:59:59-01:00", "out of range")] {
            XCTAssertThrowsError(try TimePoint(parsing: huge), huge) { error in
                XCTAssertTrue((error as? ValueError)?.reason.contains(says) ?? false, "\(huge): \(error)")
            }
        }
    }
}
