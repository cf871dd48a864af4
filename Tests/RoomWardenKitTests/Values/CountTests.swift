import Foundation
import RoomWardenKit
import XCTest

/// Counts: --count, --last, --limit, --top, --max-len.
final class CountTests: XCTestCase {
    func value(_ text: String) -> Int? { (try? Count(parsing: text))?.value }

    func testCounts() {
        XCTAssertEqual(value("1"), 1)
        XCTAssertEqual(value("10"), 10)
        XCTAssertEqual(value("007"), 7)
        XCTAssertEqual(value("1000000000000000"), 1_000_000_000_000_000)
        for bad in ["", "0", "-1", "1.5", "ten", "1e3", "+3", "0x10"] { XCTAssertNil(value(bad), bad) }
    }

    func testOutOfRangeSaysSo() {
        for huge in ["9223372036854775807", "1000000000000001", "99999999999999999999999999"] {
            do { _ = try Count(parsing: huge); XCTFail(huge) } catch {
                XCTAssertTrue(error.reason.contains("at most"), error.reason)
            }
        }
        do { _ = try Count(parsing: "0"); XCTFail() } catch { XCTAssertEqual(error.reason, "must be at least 1") }
    }
}
