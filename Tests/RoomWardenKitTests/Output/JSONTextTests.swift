import Foundation
import Hiredis
import RoomWardenKit
import XCTest

/// Base64 and UTF-8 checks behind the JSON output.
final class JSONTextTests: XCTestCase {
    func testBase64RoundTripsEveryLength() {
        for n in 0..<64 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            var out: [UInt8] = []
            JSONText.appendBase64(bytes, to: &out)
            XCTAssertEqual(String(decoding: out, as: UTF8.self), Data(bytes).base64EncodedString())
            XCTAssertEqual(JSONText.decodeBase64(out), bytes)
        }
    }

    func testUTF8Validation() {
        XCTAssertTrue(UTF8Check.isValid(Array("plain ascii, long enough for the fast path".utf8)))
        XCTAssertTrue(UTF8Check.isValid(Array("é 😀 \u{202E}".utf8)))
        XCTAssertFalse(UTF8Check.isValid([0xFF]))
        XCTAssertFalse(UTF8Check.isValid([0xC0, 0x80]))  // overlong
        XCTAssertFalse(UTF8Check.isValid([0xED, 0xA0, 0x80]))  // surrogate
        XCTAssertFalse(UTF8Check.isValid([0xE2, 0x82]))  // truncated
        XCTAssertFalse(UTF8Check.isValid(Array("0123456789".utf8) + [0x80]))
    }
}

/// Byte collections that are not contiguous (a lazy map, a joined view)
/// are copied, and the copy is read while it is alive.
final class NonContiguousBytesTests: XCTestCase {
    func testLargeNonContiguousCollectionsAreReadWhileAlive() {
        // 1 MB: the copy is its own mapping, unmapped as soon as it is freed,
        // so reading it after would fault rather than happen to work.
        let big = repeatElement(UInt8(ascii: "a"), count: 1 << 20)
        XCTAssertTrue(UTF8Check.isValid(big))
        XCTAssertFalse(UTF8Check.isValid(repeatElement(UInt8(0xFF), count: 1 << 20)))
        var out: [UInt8] = []
        JSONText.appendString(big, to: &out)
        XCTAssertEqual(out.count, (1 << 20) + 2)
        out.removeAll()
        JSONText.appendLossyString([[UInt8(0x22)], [0xFF]].joined(), to: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), "\"\\\"\u{FFFD}\"")
    }
}
