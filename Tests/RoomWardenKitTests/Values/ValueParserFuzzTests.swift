import Foundation
import RoomWardenKit
import XCTest

/// Every parser of a command-line value, fed thousands of random and
/// extreme strings: none may trap (a trap ends this test process), and what
/// one accepts is within its documented range.
final class ValueParserFuzzTests: XCTestCase {
    func testNoValueParserTraps() {
        var input = FuzzInput(seed: 0x5EED_0001)
        let now: Int64 = 1_795_300_045_123
        for _ in 0..<10_000 {
            let text = input.string()
            if let span = try? Span(parsing: text) {
                XCTAssertTrue(span >= .zero && span <= .longest, text)
                _ = span.duration
                _ = span.description
            }
            if let size = try? ByteCount(parsing: text) {
                XCTAssertTrue(size.bytes >= 0 && size <= .largest, text)
                _ = size.description
            }
            if let count = try? Count(parsing: text) {
                XCTAssertTrue(count.value >= 1 && count <= .largest, text)
            }
            if let time = try? TimePoint(parsing: text) {
                let ms = time.milliseconds(now: now)
                XCTAssertTrue(ms >= TimePoint.earliest && ms <= TimePoint.latest || ms >= now - Span.longest.milliseconds, text)
            }
            if let windows = try? WindowList(parsing: text) {
                XCTAssertFalse(windows.windows.isEmpty, text)
            }
            _ = RedisURL.redacted(text)
            _ = try? RedisURL(parsing: text)
            _ = try? RedisURL(parsing: "redis://" + text)
            _ = try? RedisURL(parsing: "unix://" + text)
            _ = try? OutputFormat(parsing: text)
            _ = try? ArchiveKeyTemplate(text)
            _ = Glob(text).matches(Array(input.string().utf8))
            _ = RegexProblem.describe(text)
        }
    }
}
