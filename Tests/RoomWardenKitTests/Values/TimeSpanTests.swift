import Foundation
import Hiredis
import RoomWardenKit
import XCTest

/// Durations.
final class TimeSpanTests: XCTestCase {
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
}
