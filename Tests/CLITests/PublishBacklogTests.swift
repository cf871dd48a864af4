import Foundation
import Hiredis
import RedisFixture
import XCTest

/// `publish` to a room kept the seed recipe's way: a list backlog at
/// `C:backlog`, written with `MULTI; LPUSH; PUBLISH; EXEC`. The recipe's own
/// commands, sent here on a plain connection, are the ground truth.
final class PublishBacklogTests: XCTestCase {
    /// What the recipe does for one message.
    private func recipePublish(_ room: String, _ message: String) throws {
        XCTAssertEqual(try server.recipe(room, [message]).first?.elements?.count, 2, "the recipe's transaction ran")
    }

    private func backlog(_ room: String) throws -> [String] {
        try server.run("LRANGE", "\(room):backlog", "0", "-1").elements?.compactMap(\.string) ?? []
    }

    func testPublishPushesThePayloadsInOrderLikeTheRecipe() throws {
        let room = freshRoom()
        try recipePublish(room, "Hello there!")
        let sub = try Subscriber(server, channels: [room])
        let r = try rw(["publish", room], stdin: Array("first\nsecond\nthird\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.text, "1\n1\n1\n")
        XCTAssertEqual(try backlog(room), ["third", "second", "first", "Hello there!"], "the payloads themselves, newest first")
        for expected in ["first", "second", "third"] {
            XCTAssertEqual(try sub.next().map { String(decoding: $0.payload, as: UTF8.self) }, expected)
        }
        XCTAssertEqual(try server.run("EXISTS", "\(room):archive"), .integer(0), "no sorted set created beside it")
        // A message given as an argument goes the same way, and looks like the recipe's.
        XCTAssertEqual(try rw(["publish", room, "Bye!"]).status, 0)
        try recipePublish(room, "Bye!")
        XCTAssertEqual(Array(try backlog(room).prefix(2)), ["Bye!", "Bye!"])
    }

    func testMaxLenTrimsTheBacklog() throws {
        let room = freshRoom()
        try recipePublish(room, "old")
        let lines = (1...10).map { "m\($0)\n" }.joined()
        let r = try rw(["publish", room, "--max-len", "3", "-q"], stdin: Array(lines.utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try backlog(room), ["m10", "m9", "m8"])
    }

    func testRoomWithBothKeysUsesTheSortedSetAndLeavesTheListAlone() throws {
        let room = freshRoom()
        try recipePublish(room, "kept as it is")
        try server.run("ZADD", "\(room):archive", "1", "older entry")
        let r = try rw(["publish", room, "new"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try backlog(room), ["kept as it is"])
        XCTAssertEqual(try server.run("ZCARD", "\(room):archive"), .integer(2))
    }

    func testRetainOnABacklogExits64BeforePublishing() throws {
        let room = freshRoom()
        try recipePublish(room, "only entry")
        let sub = try Subscriber(server, channels: [room])
        let r = try rw(["publish", room, "--retain", "7d", "hi"])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("--retain"), r.stderr)
        XCTAssertTrue(r.stderr.contains("'\(room):backlog'"), r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
        XCTAssertNil(try sub.next(timeout: 0.5), "nothing published")
        XCTAssertEqual(try backlog(room), ["only entry"])
    }

    func testBacklogKeyTemplateFlagAndEnvironment() throws {
        let room = freshRoom()
        try server.run("LPUSH", "recent:\(room)", "x")
        var r = try rw(["publish", room, "by flag", "--backlog-key", "recent:*"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try rw(["publish", room, "by env"], env: ["ROOMWARDEN_BACKLOG_KEY": "recent:*"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try server.run("LRANGE", "recent:\(room)", "0", "-1").elements?.compactMap(\.string), ["by env", "by flag", "x"])
        XCTAssertEqual(try server.run("EXISTS", "\(room):archive"), .integer(0))
        r = try rw(["publish", room, "z", "--backlog-key", "no-star"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("--backlog-key 'no-star' must contain exactly one '*'"), r.stderr)
    }

    /// A list at the archive key itself (`--archive-key '*:backlog'`, as the
    /// issue tried) is written the recipe's way too, no longer refused.
    func testListAtTheArchiveKeyIsWrittenTheRecipesWay() throws {
        let room = freshRoom()
        try recipePublish(room, "Hello there!")
        let r = try rw(["publish", "--archive-key", "*:backlog", room, "hi"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try backlog(room), ["hi", "Hello there!"])
    }

    /// Identical payloads and a lost reply: the list cannot tell whether
    /// the batch ran, so publish stops and says which line is in doubt
    /// rather than risk pushing it twice.
    func testIdenticalPayloadsLostInFlightAreReportedInDoubt() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        let room = "room:same"
        for _ in 1...5 { try own.run("LPUSH", "\(room):backlog", "same") }
        let p = try CLIProcess(["publish", room, "-h", "127.0.0.1", "-p", String(proxy.port)])
        p.write(Array("same\n".utf8))
        XCTAssertTrue(p.waitForLines(1))
        try runButLoseTheReply("same", publisher: p, proxy: proxy, server: own) {
            (try own.run("LLEN", "\(room):backlog").integer ?? 0) == 7
        }
        p.closeInput()
        let r = p.wait(timeout: 30)
        XCTAssertEqual(r.status, 69, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot be told"), r.stderr)
        XCTAssertTrue(r.stderr.contains("1 line published and archived"), r.stderr)
        XCTAssertTrue(r.stderr.contains("line 2 in doubt"), r.stderr)
        XCTAssertTrue(r.stderr.contains("resume with: tail -n +2"), r.stderr)
        XCTAssertEqual(r.text, "0\n", "the first line, confirmed (no subscriber)")
        XCTAssertEqual(try own.run("LLEN", "\(room):backlog"), .integer(7), "not pushed twice")
    }
}
