import Foundation
import Hiredis
import RedisFixture
import XCTest

/// One owner per reply: tickets, abandoned replies, the subscribed-mode
/// hand-over to the direct read, and the reply timeout.
final class ReplyOwnershipTests: XCTestCase {
    static var server: RedisServer!

    override class func setUp() {
        do { server = try RedisServer() } catch { fatalError("\(error)") }
    }

    override class func tearDown() { server = nil }

    func testEachTicketReadsItsOwnReplies() throws {
        let c = try Self.server.connect()
        let set = try c.append(.zadd(key: Array("own:z".utf8), score: Score(5), member: Array("m".utf8)))
        var batch = CommandBatch()
        batch.add(.zcard(key: Array("own:z".utf8)))
        batch.add(.type(key: Array("own:z".utf8)))
        let pair = try c.append(batch)
        let ping = try c.append(.ping)
        XCTAssertEqual(c.pendingReplies, 4)
        XCTAssertEqual(try c.reply(to: set), .integer(1))
        XCTAssertEqual(try c.replies(to: pair), [.integer(1), .status("zset")])
        XCTAssertEqual(try c.reply(to: ping), .status("PONG"))
        XCTAssertEqual(c.pendingReplies, 0)
    }

    /// A caller that gives up replies it asked for (a page fetched ahead
    /// that is no longer needed) never has them read by the next caller.
    func testACommandThatSubscribesReturnsItsConfirmationOrItsError() throws {
        let c = try Self.server.connect()
        let confirmed = try c.command("SUBSCRIBE", "own:confirm")
        XCTAssertEqual(confirmed, .array([.bulk(Array("subscribe".utf8)), .bulk(Array("own:confirm".utf8)), .integer(1)]))
        XCTAssertTrue(c.isSubscribed)
        XCTAssertEqual(c.pendingReplies, 0)
        try Self.server.run("ACL", "SETUSER", "own-nosub", "on", ">pw", "resetchannels", "+@all")
        let denied = try Self.server.connect()
        _ = try denied.command("AUTH", "own-nosub", "pw")
        let refusal = try denied.command("SUBSCRIBE", "own:confirm")
        XCTAssertTrue(refusal.errorMessage?.hasPrefix("NOPERM") ?? false, "\(refusal)")
    }

    func testAbandonedRepliesAreDroppedNotHandedToTheNextCaller() throws {
        let c = try Self.server.connect()
        _ = try c.command(.zadd(key: Array("own:a".utf8), score: Score(1), member: Array("page entry".utf8)))
        _ = try c.command(Command("RPUSH", [Array("own:l".utf8), Array("list entry".utf8)]))
        let page = try c.append(.zrangeByScore(key: Array("own:a".utf8), from: .negativeInfinity, to: .positiveInfinity))
        try c.flush()
        c.abandon(page)
        XCTAssertEqual(c.pendingReplies, 1)
        XCTAssertEqual(try c.command(.lrange(key: Array("own:l".utf8), start: 0, stop: -1)), .array([.bulk(Array("list entry".utf8))]))
        XCTAssertEqual(c.pendingReplies, 0)
        // The next-in-line reads skip abandoned replies too.
        let skipped = try c.append(.ping)
        c.abandon(skipped)
        try c.append(.type(key: Array("own:l".utf8)))
        XCTAssertEqual(try c.readReply(), .status("list"))
    }

    /// Bytes hiredis read along with a reply (here a subscribe confirmation
    /// that came in the same read as PING's answer) are decoded by the
    /// direct read first, not lost behind it.
    func testDirectReadFirstDecodesWhatHiredisAlreadyHeld() throws {
        let c = try Self.server.connect()
        let ping = try c.append(.ping)
        try c.append(.subscribe(channels: [Array("own:ch".utf8)]))
        XCTAssertTrue(c.isSubscribed)
        XCTAssertEqual(c.pendingReplies, 1, "a subscribe is answered as subscription traffic")
        try c.flush()
        usleep(200_000)  // both answers are on the socket: hiredis reads them in one go
        XCTAssertEqual(try c.reply(to: ping), .status("PONG"))
        XCTAssertEqual(try Self.server.run("PUBLISH", "own:ch", "after").integer, 1)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        var decoder = PushDecoder()
        var batch = MessageBatch()
        var replies: [Reply] = []
        let deadline = Date().addingTimeInterval(5)
        while batch.count == 0 && Date() < deadline {
            _ = try c.receive(timeoutMilliseconds: 100, buffer: buffer, decoder: &decoder, into: &batch) { replies.append($0) }
        }
        XCTAssertEqual(replies, [.array([.bulk(Array("subscribe".utf8)), .bulk(Array("own:ch".utf8)), .integer(1)])])
        XCTAssertEqual(batch.messages, [PushMessage(pattern: nil, channel: Array("own:ch".utf8), payload: Array("after".utf8))])
    }

    /// A batch that subscribes owes replies only for what comes before.
    func testABatchThatSubscribesOwesRepliesOnlyBeforeIt() throws {
        let c = try Self.server.connect()
        var batch = CommandBatch()
        batch.add(.ping)
        batch.add(.psubscribe(patterns: [Array("own:*".utf8)]))
        batch.add(.subscribe(channels: [Array("own:x".utf8)]))
        XCTAssertEqual(batch.firstSubscription, 1)
        let ticket = try c.append(batch)
        XCTAssertEqual(ticket.count, 1)
        XCTAssertEqual(try c.replies(to: ticket), [.status("PONG")])
        XCTAssertEqual(c.pendingReplies, 0)
        XCTAssertTrue(c.isSubscribed)
        XCTAssertTrue(Command.entersSubscribedMode(Array("sSubscribe".utf8)))
        XCTAssertFalse(Command.entersSubscribedMode(Array("UNSUBSCRIBE".utf8)))
    }

    func testScanAllFollowsTheCursorToTheEnd() throws {
        let c = try Self.server.connect()
        var batch = CommandBatch()
        for i in 0..<2500 { batch.add(Command(words: "SET", "scan:\(i)", "x")) }
        _ = try c.replies(to: c.append(batch))
        let (keys, roundTrips) = try c.scanAll(match: Array("scan:*".utf8), count: 100)
        XCTAssertEqual(Set(keys).count, 2500)
        XCTAssertGreaterThan(roundTrips, 1)
        let first = try ScanPage(c.command(.scan(cursor: ScanPage.start, match: Array("scan:*".utf8), count: 100)))
        XCTAssertEqual(Set(try c.scanAll(match: Array("scan:*".utf8), count: 100, continuing: first).keys).count, 2500)
    }

    /// A server that stops answering (SIGSTOP) is a timeout after the reply
    /// timeout, not a hang: waiting for a reply, and writing more than the
    /// socket buffers take.
    func testAStoppedServerIsATimeout() throws {
        let c = try Connection(endpoint: .tcp(host: "127.0.0.1", port: Self.server.port), connectTimeout: .seconds(2))
        try c.setTimeout(.milliseconds(500))
        let writer = try Connection(endpoint: .tcp(host: "127.0.0.1", port: Self.server.port), connectTimeout: .seconds(2))
        try writer.setTimeout(.milliseconds(500))
        try Self.server.pause()
        defer { try? Self.server.resume() }
        var start = Date()
        XCTAssertThrowsError(try c.command(.ping)) { error in
            XCTAssertEqual(error as? RedisError, .timeout("did not answer for 500ms"))
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.5)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(start), 0.45)
        try writer.append(Command("SET", [Array("big".utf8), [UInt8](repeating: 0x61, count: 64 << 20)]))
        start = Date()
        XCTAssertThrowsError(try writer.flush()) { error in
            XCTAssertEqual(error as? RedisError, .timeout("did not answer for 500ms"))
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 4, "two write waits of 0.5 s at most, with slack")
    }
}
