import Foundation
import Hiredis
import RoomWardenKit
import XCTest

/// Archive keys, envelopes and ids as written.
final class ArchiveWritingTests: XCTestCase {
    func testArchiveKeyTemplate() throws {
        let t = try ArchiveKeyTemplate("chat:*:log")
        XCTAssertEqual(t.key(for: Array("room:a".utf8)), Array("chat:room:a:log".utf8))
        XCTAssertEqual(t.scanPattern(for: Array("room:*".utf8)), Array("chat:room:*:log".utf8))
        XCTAssertEqual(t.channel(ofKey: Array("chat:room:a:log".utf8)), Array("room:a".utf8))
        XCTAssertNil(t.channel(ofKey: Array("other".utf8)))
        XCTAssertEqual(ArchiveKeyTemplate.standard.key(for: Array("room:lobby".utf8)), Array("room:lobby:archive".utf8))
        XCTAssertThrowsError(try ArchiveKeyTemplate("nostar"))
        XCTAssertThrowsError(try ArchiveKeyTemplate("*:*"))
    }

    func testEnvelopeJSONIsStrictAndLossless() throws {
        let payload: [UInt8] = Array("quote \" backslash \\ newline \n tab \t bell \u{07} é 😀".utf8)
        let e = Envelope(id: "1-a-1", ts: 1_763_762_245_123, channel: Array("room:lobby".utf8), from: "mod", payload: payload)
        let text = String(decoding: e.json, as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"id":"1-a-1","ts":1763762245123,"channel":"room:lobby","from":"mod","message":"#), text)
        let obj = try JSONSerialization.jsonObject(with: Data(e.json)) as? [String: Any]
        XCTAssertEqual((obj?["message"] as? String).map { Array($0.utf8) }, payload)

        let binary: [UInt8] = [0xFF, 0x00, 0xFE, 0x41]
        let b = Envelope(id: "x", ts: 1, channel: [0x63], payload: binary)
        let bobj = try JSONSerialization.jsonObject(with: Data(b.json)) as? [String: Any]
        XCTAssertNil(bobj?["message"])
        XCTAssertEqual((bobj?["message_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }, binary)
    }

    func testMessageIDsAreUniqueAndSortInOrder() {
        var ids = MessageIDs()
        let made = (0..<2000).map { _ in ids.next(ts: 5) }
        XCTAssertEqual(Set(made).count, made.count)
        XCTAssertEqual(made.sorted(), made)
    }
}
