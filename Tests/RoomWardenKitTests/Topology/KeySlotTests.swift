import Foundation
@testable import RoomWardenKit
import XCTest

/// CRC16 and hash tags, against known values (the differential test
/// against a real node is in ClusterTopologyTests).
final class KeySlotTests: XCTestCase {
    func testCRC16KnownVectors() {
        XCTAssertEqual(KeySlot.crc16(Array("123456789".utf8)), 0x31C3)
        XCTAssertEqual(KeySlot.crc16([]), 0)
        XCTAssertEqual(KeySlot.crc16([0x00]), 0)
        XCTAssertEqual(KeySlot.crc16(Array("A".utf8)), 0x58E5)
    }

    func testSlotsOfKnownKeys() {
        // Values CLUSTER KEYSLOT gives on redis-server 7.0.
        XCTAssertEqual(KeySlot.of("foo"), 12182)
        XCTAssertEqual(KeySlot.of("a"), 15495)
        XCTAssertEqual(KeySlot.of("123456789"), 0x31C3 & 0x3FFF)
        XCTAssertEqual(KeySlot.of(""), 0)
    }

    func testHashTagRules() {
        // The tag alone is hashed.
        XCTAssertEqual(KeySlot.of("{user1000}.following"), KeySlot.of("user1000"))
        XCTAssertEqual(KeySlot.of("{user1000}.followers"), KeySlot.of("{user1000}.following"))
        XCTAssertEqual(KeySlot.of("room:{lobby}:archive"), KeySlot.of("lobby"))
        // The first '{' and the first '}' after it.
        XCTAssertEqual(KeySlot.of("foo{bar}{zap}"), KeySlot.of("bar"))
        XCTAssertEqual(KeySlot.of("foo{{bar}}zap"), KeySlot.of("{bar"))
        // An empty first tag: the whole key.
        XCTAssertEqual(Array(KeySlot.hashedPart(of: Array("foo{}{bar}".utf8))), Array("foo{}{bar}".utf8))
        XCTAssertNotEqual(KeySlot.of("foo{}{bar}"), KeySlot.of("bar"))
        // No closing brace, or only a closing one: the whole key.
        XCTAssertEqual(Array(KeySlot.hashedPart(of: Array("foo{bar".utf8))), Array("foo{bar".utf8))
        XCTAssertEqual(Array(KeySlot.hashedPart(of: Array("foo}bar{".utf8))), Array("foo}bar{".utf8))
        XCTAssertEqual(Array(KeySlot.hashedPart(of: Array("}{x}".utf8))), Array("x".utf8))
        // Binary keys.
        XCTAssertEqual(KeySlot.of([0xFF, 0x7B, 0x00, 0x7D]), KeySlot.of([0x00]))
    }

    func testEverySlotIsInRange() {
        for i in 0..<2000 { XCTAssert((0..<16384).contains(KeySlot.of("room:\(i):archive"))) }
    }
}
