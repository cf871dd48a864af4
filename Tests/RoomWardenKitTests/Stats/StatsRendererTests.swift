@testable import RoomWardenKit
import XCTest

/// The stats table a person reads at a terminal.
final class StatsRendererTests: XCTestCase {
    private let now: Int64 = 1_795_300_045_123

    private func report(_ rooms: [RoomStats], sample: Double? = nil) -> StatsReport {
        StatsReport(ts: now, pattern: "room:*", windowLabels: ["1m", "1h", "24h"],
                    server: ServerStats(version: "7.0.15", patternSubscriptions: 1, pubsubClients: 4, pubsubLimit: [33_554_432, 8_388_608, 60]),
                    rooms: rooms, sampleSeconds: sample)
    }

    private func room(_ name: String, subscribers: Int = 3, archived: Int = 1_234_567, last: Int64 = 2_000) -> RoomStats {
        RoomStats(channel: Array(name.utf8), subscribers: subscribers, archived: archived,
                  windowCounts: [9_876_543, 5_432_109, 1_234_567], lastTs: now - last)
    }

    func testSevenDigitCountsFitSixtyColumns() {
        let rooms = [room("room:lobby"), room("room:support-escalations-europe-west", subscribers: 1_200_000, last: 3_600_000 * 30),
                     room("room:dev", archived: 999_999)]
        let text = StatsRenderer.text(report(rooms), width: 60)
        for line in text.split(separator: "\n") {
            XCTAssertLessThanOrEqual(line.count, 60, "'\(line)' is wider than the terminal:\n\(text)")
        }
        XCTAssertTrue(text.contains("1.2M"), text)
        XCTAssertTrue(text.contains("9.8M"), "rounded down, never more than there is:\n\(text)")
        XCTAssertTrue(text.contains("999K"), text)
        XCTAssertTrue(text.contains("room:supp…ope-west "), "the long name is shortened in the middle:\n\(text)")
        XCTAssertTrue(text.contains("room:lobby "), "short names stay whole:\n\(text)")
    }

    func testExactFiguresWithoutATerminalOrWhenTheyFit() {
        let rooms = [room("room:lobby")]
        let piped = StatsRenderer.text(report(rooms), width: nil)
        XCTAssertTrue(piped.contains("1234567"), piped)
        XCTAssertTrue(piped.contains("9876543"), piped)
        let wide = StatsRenderer.text(report(rooms), width: 200)
        XCTAssertTrue(wide.contains("1234567"), "compact only when the table does not fit:\n\(wide)")
    }

    func testCompactCounts() {
        let cases: [(Int, String)] = [(0, "0"), (9_999, "9999"), (10_000, "10K"), (12_345, "12K"), (999_999, "999K"),
                                      (1_000_000, "1.0M"), (1_234_567, "1.2M"), (12_345_678, "12M"), (999_999_999, "999M"),
                                      (1_500_000_000, "1.5G")]
        for (n, text) in cases { XCTAssertEqual(StatsRenderer.compact(n), text, "\(n)") }
    }
}
