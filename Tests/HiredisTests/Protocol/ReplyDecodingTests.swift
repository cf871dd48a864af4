import Hiredis
import XCTest

/// Decoding raw protocol bytes with hiredis' reader, no server.
final class ReplyDecodingTests: XCTestCase {
    private func decode(_ text: String) throws -> [Reply] {
        let parser = ReplyParser()
        parser.feed(Array(text.utf8))
        var out: [Reply] = []
        while let r = try parser.next() { out.append(r) }
        return out
    }

    func testScalarReplies() throws {
        XCTAssertEqual(try decode("+OK\r\n-WRONGTYPE bad\r\n:42\r\n:-7\r\n$-1\r\n*-1\r\n"), [
            .status("OK"), .error("WRONGTYPE bad"), .integer(42), .integer(-7), .bulk(nil), .bulk(nil),
        ])
    }

    func testBulkKeepsBytes() throws {
        let parser = ReplyParser()
        parser.feed(Array("$6\r\n".utf8) + [0x61, 0x00, 0xFF, 0xFE, 0x0A, 0x62] + Array("\r\n".utf8))
        XCTAssertEqual(try parser.next(), .bulk([0x61, 0x00, 0xFF, 0xFE, 0x0A, 0x62]))
    }

    func testNestedArrayAndEmptyBulk() throws {
        XCTAssertEqual(try decode("*3\r\n$0\r\n\r\n*1\r\n:1\r\n$3\r\nabc\r\n"), [
            .array([.bulk([]), .array([.integer(1)]), .bulk(Array("abc".utf8))]),
        ])
    }

    func testPartialInputWaitsForMore() throws {
        let parser = ReplyParser()
        parser.feed(Array("$5\r\nhel".utf8))
        XCTAssertNil(try parser.next())
        parser.feed(Array("lo\r\n".utf8))
        XCTAssertEqual(try parser.next(), .bulk(Array("hello".utf8)))
    }

    func testProtocolErrorIsReported() {
        let parser = ReplyParser()
        parser.feed(Array("?what\r\n".utf8))
        XCTAssertThrowsError(try parser.next()) { error in
            guard case RedisError.protocolError = error else { return XCTFail("got \(error)") }
        }
    }

    func testPushMessagesDecodeWithoutReplyTree() throws {
        let parser = ReplyParser()
        parser.feed(Array("*4\r\n$8\r\npmessage\r\n$6\r\nroom:*\r\n$10\r\nroom:lobby\r\n$2\r\nhi\r\n".utf8))
        parser.feed(Array("*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n".utf8))
        parser.feed(Array("*3\r\n$10\r\npsubscribe\r\n$6\r\nroom:*\r\n:1\r\n".utf8))
        XCTAssertEqual(try parser.nextEvent(), .message(PushMessage(pattern: Array("room:*".utf8), channel: Array("room:lobby".utf8), payload: Array("hi".utf8))))
        XCTAssertEqual(try parser.nextEvent(), .message(PushMessage(pattern: nil, channel: [0x63], payload: [0x78])))
        XCTAssertEqual(try parser.nextEvent(), .reply(.array([.bulk(Array("psubscribe".utf8)), .bulk(Array("room:*".utf8)), .integer(1)])))
        XCTAssertNil(try parser.nextEvent())
    }

    func testServerErrorCode() {
        XCTAssertEqual(RedisError.server("NOPERM this user has no permissions").serverCode, "NOPERM")
        XCTAssertFalse(RedisError.server("ERR x").isConnectionFailure)
        XCTAssertTrue(RedisError.closed.isConnectionFailure)
    }
}
