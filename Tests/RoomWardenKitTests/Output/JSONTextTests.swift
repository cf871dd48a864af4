import Foundation
import Hiredis
import RoomWardenKit
import XCTest

/// Base64 and UTF-8 checks behind the JSON output.
final class JSONTextTests: XCTestCase {
    /// DEL and the C1 controls (U+0080-U+009F, CSI among them) are escaped
    /// like C0 ones: JSON on a terminal cannot drive it; other non-ASCII
    /// text stays as it is.
    func testDELAndC1ControlsAreEscaped() {
        func json(_ s: [UInt8]) -> String {
            var out: [UInt8] = []
            s.withUnsafeBytes { JSONText.appendString(raw: $0, to: &out) }
            return String(decoding: out, as: UTF8.self)
        }
        XCTAssertEqual(json(Array("a\u{7f}b".utf8)), #""a\u007fb""#)
        XCTAssertEqual(json(Array("x\u{9b}31m and \u{85}".utf8)), #""x\u009b31m and \u0085""#)
        XCTAssertEqual(json(Array("long enough to take the eight-byte path \u{9b}2J".utf8)), #""long enough to take the eight-byte path \u009b2J""#)
        XCTAssertEqual(json(Array("café ¢ Ā".utf8)), "\"café ¢ Ā\"", "U+00A2 (C2 A2) and others are text")
    }

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
