import Foundation
import RoomWardenKit
import XCTest

/// stats --window.
final class WindowListTests: XCTestCase {
    func testWindows() throws {
        let w = try WindowList(parsing: "30s, 5m,1h")
        XCTAssertEqual(w.windows.map(\.label), ["30s", "5m", "1h"])
        XCTAssertEqual(w.windows.map(\.span.milliseconds), [30_000, 300_000, 3_600_000])
        XCTAssertEqual(WindowList.standard.description, "1m,1h,24h")
    }

    func testBadWindowsSayWhy() {
        for (bad, says) in [("1m,1m", "listed twice"), ("", "empty"), ("1m,", "empty"), ("0s", "longer than 0"),
                            ("1e300", "not a duration"), ("36501d", "100 years"), ("1m,soon", "'soon'")] {
            do { _ = try WindowList(parsing: bad); XCTFail(bad) } catch {
                XCTAssertTrue(error.reason.contains(says), "\(bad): \(error.reason)")
            }
        }
    }
}
