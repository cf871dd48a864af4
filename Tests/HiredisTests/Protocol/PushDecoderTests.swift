import Hiredis
import XCTest

/// The subscribe loop's decoder against hiredis' own reader, on the same bytes.
final class PushDecoderTests: XCTestCase {
    private func bulk(_ b: [UInt8]) -> [UInt8] { Array("$\(b.count)\r\n".utf8) + b + [0x0D, 0x0A] }

    private func frame(_ parts: [[UInt8]]) -> [UInt8] {
        Array("*\(parts.count)\r\n".utf8) + parts.flatMap { bulk($0) }
    }

    /// A stream with every shape a subscriber sees, hostile payloads included.
    private func stream() -> [UInt8] {
        var s: [UInt8] = []
        s += Array("*3\r\n$10\r\npsubscribe\r\n$6\r\nroom:*\r\n:1\r\n".utf8)
        s += frame([Array("pmessage".utf8), Array("room:*".utf8), Array("room:a".utf8), Array("hi\r\n$3\r\nfake".utf8)])
        s += frame([Array("message".utf8), Array("room:a".utf8), [0x00, 0xFF, 0x0D, 0x0A]])
        s += frame([Array("pmessage".utf8), Array("room:*".utf8), Array("room:b".utf8), []])
        s += Array("*2\r\n$4\r\npong\r\n$0\r\n\r\n".utf8)
        s += Array("-NOPERM no channel access\r\n".utf8)
        s += frame([Array("pmessage".utf8), Array("room:*".utf8), Array("room:big".utf8), Array(repeating: 0x7A, count: 5000)])
        s += frame([Array("message".utf8), Array("message".utf8), Array("message".utf8)])
        s += frame([Array("smessage".utf8), Array("room:sharded".utf8), Array("spublished".utf8)])
        s += frame([Array("sunsubscribe".utf8), Array("room:sharded".utf8), Array(":0".utf8)])
        return s
    }

    private func viaHiredis(_ bytes: [UInt8]) throws -> [SubscriptionEvent] {
        let parser = ReplyParser()
        parser.feed(bytes)
        var out: [SubscriptionEvent] = []
        while let e = try parser.nextEvent() { out.append(e) }
        return out
    }

    private func viaDecoder(_ bytes: [UInt8], cuts: [Int]) throws -> [SubscriptionEvent] {
        var decoder = PushDecoder()
        var out: [SubscriptionEvent] = []
        var start = 0
        for cut in cuts + [bytes.count] {
            var batch = MessageBatch()
            var replies: [Reply] = []
            try bytes[start..<cut].withUnsafeBytes { raw in
                try decoder.decode(raw, into: &batch, replies: { replies.append($0) })
            }
            // Within one read, messages and replies keep their own order;
            // the test stream interleaves them, so compare per kind below.
            out += batch.messages.map { .message($0) } + replies.map { .reply($0) }
            start = cut
        }
        XCTAssertEqual(decoder.pendingCount, 0)
        return out
    }

    private func messages(_ events: [SubscriptionEvent]) -> [PushMessage] {
        events.compactMap { if case .message(let m) = $0 { return m }; return nil }
    }

    private func replies(_ events: [SubscriptionEvent]) -> [Reply] {
        events.compactMap { if case .reply(let r) = $0 { return r }; return nil }
    }

    func testSameResultAsHiredisInOneRead() throws {
        let bytes = stream()
        let expected = try viaHiredis(bytes)
        let got = try viaDecoder(bytes, cuts: [])
        XCTAssertEqual(messages(got), messages(expected))
        XCTAssertEqual(replies(got), replies(expected))
        XCTAssertEqual(messages(got).count, 6)
        XCTAssertEqual(messages(got).last, PushMessage(pattern: nil, channel: Array("room:sharded".utf8), payload: Array("spublished".utf8)))
    }

    func testSameResultWhateverTheReadBoundaries() throws {
        let bytes = stream()
        let expected = try viaHiredis(bytes)
        for cut in 1..<bytes.count {
            let got = try viaDecoder(bytes, cuts: [cut])
            XCTAssertEqual(messages(got), messages(expected), "cut at \(cut)")
            XCTAssertEqual(replies(got), replies(expected), "cut at \(cut)")
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let cuts = (0..<6).map { _ in Int.random(in: 0...bytes.count, using: &rng) }.sorted()
            XCTAssertEqual(messages(try viaDecoder(bytes, cuts: cuts)), messages(expected), "cuts \(cuts)")
        }
    }

    func testGarbageIsAProtocolError() {
        var decoder = PushDecoder()
        var batch = MessageBatch()
        XCTAssertThrowsError(try Array("?nonsense\r\n".utf8).withUnsafeBytes { try decoder.decode($0, into: &batch, replies: { _ in }) })
        XCTAssertThrowsError(try Array("$3\r\nabcXY".utf8).withUnsafeBytes { try decoder.decode($0, into: &batch, replies: { _ in }) })
    }
}

extension PushDecoderTests {
    /// Nested arrays are capped as hiredis caps them: deeper input is a
    /// protocol error, never a recursion that overflows a thread's stack.
    func testNestingDeeperThanHiredisAllowsIsAProtocolError() throws {
        func nested(_ depth: Int) -> [UInt8] { Array(String(repeating: "*1\r\n", count: depth).utf8) + Array(":1\r\n".utf8) }
        func decode(_ bytes: [UInt8]) throws -> [Reply] {
            var decoder = PushDecoder()
            var batch = MessageBatch()
            var replies: [Reply] = []
            try bytes.withUnsafeBytes { try decoder.decode($0, into: &batch, replies: { replies.append($0) }) }
            return replies
        }
        func viaHiredis(_ bytes: [UInt8]) throws -> Reply? {
            let parser = ReplyParser()
            parser.feed(bytes)
            return try parser.next()
        }
        XCTAssertEqual(try decode(nested(8)).count, 1, "8 levels: as deep as hiredis goes")
        XCTAssertNotNil(try viaHiredis(nested(8)))
        for depth in [9, 1000, 1_000_000] {
            XCTAssertThrowsError(try decode(nested(depth)), "\(depth) levels") { error in
                guard case RedisError.protocolError = error else { return XCTFail("\(error)") }
            }
            XCTAssertThrowsError(try viaHiredis(nested(depth)), "hiredis refuses \(depth) levels too")
        }
        // On a small stack, as the subscription reader's thread has.
        let done = expectation(description: "decoded on a 256 KB stack")
        let deep = nested(1_000_000)
        let thread = Thread {
            var decoder = PushDecoder()
            var batch = MessageBatch()
            let threw = deep.withUnsafeBytes { raw -> Bool in
                do { try decoder.decode(raw, into: &batch, replies: { _ in }); return false } catch { return true }
            }
            XCTAssertTrue(threw)
            done.fulfill()
        }
        thread.stackSize = 256 * 1024
        thread.start()
        wait(for: [done], timeout: 10)
    }
}
