import Foundation
import RoomWardenKit
import XCTest

/// Durations: --wait, --heartbeat, --retain, --connect-timeout, ...
final class SpanTests: XCTestCase {
    func ms(_ text: String) -> Int64? { (try? Span(parsing: text))?.milliseconds }

    func testDurations() {
        XCTAssertEqual(ms("90s"), 90_000)
        XCTAssertEqual(ms("15m"), 900_000)
        XCTAssertEqual(ms("2h"), 7_200_000)
        XCTAssertEqual(ms("7d"), 604_800_000)
        XCTAssertEqual(ms("2w"), 1_209_600_000)
        XCTAssertEqual(ms("1h30m"), 5_400_000)
        XCTAssertEqual(ms("500ms"), 500)
        XCTAssertEqual(ms("1.5s"), 1500)
        XCTAssertEqual(ms(".5s"), 500)
        XCTAssertEqual(ms("5"), 5000)
        XCTAssertEqual(ms(" 5s "), 5000)
        XCTAssertEqual(ms("0"), 0)
        XCTAssertEqual(ms("36500d"), Span.longest.milliseconds)
        for bad in ["", "s", "5x", "-5s", "1h 30", "1h30", "soon", "1e3", "inf", "nan", "0x10", "5s5", "+5s", "1.2.3s"] {
            XCTAssertNil(ms(bad), bad)
        }
    }

    func testOutOfRangeSaysSo() {
        for huge in ["1e300", "36501d", "999999999999d", "99999999999999999999999999999999999999s", "9223372036854775807ms"] {
            XCTAssertThrowsError(try Span(parsing: huge), huge) { error in
                let reason = (error as? ValueError)?.reason ?? ""
                XCTAssertTrue(reason.contains("100 years") || reason.contains("not a duration"), "\(huge): \(reason)")
            }
        }
        XCTAssertEqual((try? Span(parsing: "36501d")) == nil, true)
    }

    func testTypedBack() {
        XCTAssertEqual(Span.seconds(5).description, "5s")
        XCTAssertEqual(Span.seconds(15).description, "15s")
        XCTAssertEqual((try? Span(parsing: "1h30m"))?.description, "1h30m")
        XCTAssertEqual((try? Span(parsing: "1.5s"))?.description, "1500ms")
        XCTAssertEqual((try? Span(parsing: "1d"))?.description, "1d")
        XCTAssertEqual(Span.seconds(.max), .longest)
        XCTAssertEqual(Span.seconds(-1), .zero)
    }
}
