import Foundation
import Hiredis
import RedisFixture
import XCTest

/// watch and rooms kept the seed recipe's way (#18): a list backlog at
/// `C:backlog`, written with `MULTI; LPUSH; PUBLISH; EXEC`. The recipe's
/// own commands, sent here on a plain connection, are the ground truth.
final class WatchBacklogTests: XCTestCase {
    /// What the recipe does for one message.
    private func recipe(_ room: String, _ message: String, on s: RedisServer) throws {
        XCTAssertEqual(try s.recipe(room, [message]).first?.elements?.count, 2, "the recipe's transaction ran")
    }

    private func list(_ key: String, on s: RedisServer) throws -> [String] {
        try s.run("LRANGE", key, "0", "-1").elements?.compactMap(\.string) ?? []
    }

    /// Waits until `key`'s list holds `count` entries.
    private func waitForLength(_ key: String, _ count: Int, on s: RedisServer, timeout: TimeInterval = 5) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try s.run("LLEN", key).integer == Int64(count) { return true }
            usleep(10_000)
        }
        return false
    }

    /// `--since` and gap replays say once, on one line, that a backlog
    /// has no times and cannot be replayed; what such a room lost in a gap
    /// is reported as lost, named for its backlog.
    func testReplaysSayOnceThatABacklogCannotBeReplayed() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        try recipe("room:chatty", "Hello there!", on: own)
        XCTAssertEqual(try roomwarden(["publish", "room:kept", "kept before", "-q"] + own.socketArguments).status, 0)
        let p = try startWatch(["room:*", "--since", "5m", "--heartbeat", "500ms", "--format", "{channel} {message} {replayed}"],
                               on: own, address: ["-h", "127.0.0.1", "-p", String(proxy.port)], subscriptions: 2)
        XCTAssertTrue(p.waitForLines(1), p.stderrSoFar)
        try recipe("room:chatty", "live", on: own)
        XCTAssertTrue(p.waitForLines(2), p.stderrSoFar)
        // A gap: the kept room's message is replayed, the backlog room's
        // is reported lost.
        proxy.freeze()
        usleep(200_000)
        XCTAssertEqual(try roomwarden(["publish", "room:kept", "kept during", "-q"] + own.socketArguments).status, 0)
        try recipe("room:chatty", "during", on: own)
        XCTAssertTrue(p.waitForStderr("lost the connection", timeout: 5), p.stderrSoFar)
        proxy.thaw()
        XCTAssertTrue(p.waitForStderr("reconnected", timeout: 10), p.stderrSoFar)
        XCTAssertTrue(p.waitForLines(3), p.stderrSoFar)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertEqual(r.lines, ["room:kept kept before true", "room:chatty live ", "room:kept kept during true"])
        let notices = r.stderr.split(separator: "\n").filter { $0.contains("list backlog, whose entries have no times") }
        XCTAssertEqual(notices, ["roomwarden: 1 room keeps only a list backlog, whose entries have no times, so watch cannot replay it (--since, gaps): room:chatty (room:chatty:backlog)"],
                       r.stderr)
        XCTAssertTrue(r.stderr.contains("replayed 1 message from the archives of 1 room; messages published between "), r.stderr)
        XCTAssertTrue(r.stderr.contains(" to room:chatty (list backlog, no times) were not received"), r.stderr)
    }

    /// `watch --archive` pushes to a room whose backlog exists (and whose
    /// archive does not) the payload itself, as the recipe does, and not
    /// what the recipe's publisher pushed already; a room with both keys
    /// keeps its sorted set; a room with neither gets one.
    func testArchivePushesToABacklogTheRecipesWay() throws {
        let own = try RedisServer()
        try recipe("room:chatty", "seed", on: own)
        try own.run("LPUSH", "room:both:backlog", "left alone")
        try own.run("ZADD", "room:both:archive", "1", "older entry")
        let p = try startWatch(["room:*", "--archive", "--format", "{channel} {message}"], on: own)
        var expected = ["seed"]
        for (message, byRecipe) in [("plain 1", false), ("recipe 1", true), ("plain 2", false), ("plain 1", false), ("recipe 1", true)] {
            if byRecipe {
                try recipe("room:chatty", message, on: own)
            } else {
                try own.publish("room:chatty", Array(message.utf8))
            }
            expected.insert(message, at: 0)
            let pushed = try waitForLength("room:chatty:backlog", expected.count, on: own)
            XCTAssertTrue(pushed, "\(message): \((try? list("room:chatty:backlog", on: own)) ?? [])")
        }
        try own.publish("room:both", Array("to the sorted set".utf8))
        try own.publish("room:new", Array("a new archive".utf8))
        XCTAssertTrue(p.waitForLines(7), p.stderrSoFar)
        usleep(300_000)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertEqual(r.stderr, "")
        XCTAssertEqual(try list("room:chatty:backlog", on: own), expected, "the payloads themselves, each once, newest first")
        XCTAssertEqual(try own.run("EXISTS", "room:chatty:archive"), .integer(0), "no sorted set beside the backlog")
        XCTAssertEqual(try list("room:both:backlog", on: own), ["left alone"])
        let both = try own.run("ZRANGE", "room:both:archive", "0", "-1").elements?.compactMap(\.string) ?? []
        XCTAssertEqual(both.count, 2)
        XCTAssertTrue(both.last?.contains(#""message":"to the sorted set""#) ?? false, "\(both)")
        XCTAssertEqual(try own.run("ZCARD", "room:new:archive"), .integer(1))
        XCTAssertEqual(try own.run("EXISTS", "room:new:backlog"), .integer(0))
    }

    /// The archive link killed again and again while messages stream into
    /// a backlog room: each pushed once, in order (a push whose reply was
    /// lost is found at the next look, not pushed again).
    func testBacklogPushesSurviveKilledArchiveLinks() throws {
        let own = try RedisServer()
        try recipe("room:chatty", "seed", on: own)
        let p = try startWatch(["room:chatty", "--archive", "--format", "{message}"], on: own)
        let admin = try own.connect()
        let total = 300
        for i in 0..<total {
            try own.publish("room:chatty", Array("m\(i)".utf8))
            if i % 30 == 15 { _ = try admin.command("CLIENT", "KILL", "TYPE", "normal") }
            usleep(2_000)
        }
        XCTAssertTrue(p.waitForLines(total, timeout: 20), p.stderrSoFar)
        let pushed = try waitForLength("room:chatty:backlog", total + 1, on: own, timeout: 15)
        XCTAssertTrue(pushed, "\((try? list("room:chatty:backlog", on: own).count) ?? -1) entries")
        usleep(500_000)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertFalse(r.stderr.contains("not archived"), r.stderr)
        XCTAssertEqual(try list("room:chatty:backlog", on: own), (0..<total).reversed().map { "m\($0)" } + ["seed"])
    }
}
