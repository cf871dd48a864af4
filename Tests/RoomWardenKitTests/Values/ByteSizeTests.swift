import Foundation
import RoomWardenKit
import XCTest

/// --buffer sizes.
final class ByteSizeTests: XCTestCase {
    func testSizes() {
        XCTAssertEqual(ByteSize.bytes("256MB"), 256 << 20)
        XCTAssertEqual(ByteSize.bytes("64k"), 64 << 10)
        XCTAssertEqual(ByteSize.bytes("1G"), 1 << 30)
        XCTAssertEqual(ByteSize.bytes("100"), 100)
        XCTAssertNil(ByteSize.bytes("lots"))
    }
}
