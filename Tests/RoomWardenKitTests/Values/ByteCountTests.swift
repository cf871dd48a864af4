import Foundation
import RoomWardenKit
import XCTest

/// Sizes: --buffer.
final class ByteCountTests: XCTestCase {
    func bytes(_ text: String) -> Int? { (try? ByteCount(parsing: text))?.bytes }

    func testSizes() {
        XCTAssertEqual(bytes("256MB"), 256 << 20)
        XCTAssertEqual(bytes("64k"), 64 << 10)
        XCTAssertEqual(bytes("1G"), 1 << 30)
        XCTAssertEqual(bytes("512KiB"), 512 << 10)
        XCTAssertEqual(bytes("1.5g"), 3 << 29)
        XCTAssertEqual(bytes("100"), 100)
        XCTAssertEqual(bytes("1TB"), 1 << 40)
        for bad in ["lots", "", "MB", "-1MB", "1e3", "1 2", "5PB", "inf"] { XCTAssertNil(bytes(bad), bad) }
        XCTAssertEqual(ByteCount.megabytes(256).description, "256MB")
        XCTAssertEqual(ByteCount.megabytes(1024).description, "1GB")
    }

    func testOutOfRangeSaysSo() {
        for huge in ["99999999999999999999G", "1025G", "2TB", "1e300"] {
            XCTAssertThrowsError(try ByteCount(parsing: huge), huge)
        }
        XCTAssertEqual((try? ByteCount(parsing: "2TB")) == nil, true)
        do { _ = try ByteCount(parsing: "99999999999999999999G"); XCTFail() } catch {
            XCTAssertTrue(error.reason.contains("at most 1TB"), error.reason)
        }
    }
}
