import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// #18: the seed recipe's list backlog (`C:backlog`), read by history and
/// stats with no flags. Ground truth: the recipe's own commands.
final class BacklogTests: XCTestCase {
    /// The recipe's chat backend: `MULTI; LPUSH <channel>:backlog <message>;
    /// PUBLISH <channel> <message>; EXEC`, one message at a time.
    private func recipeSays(_ channel: String, _ messages: [String]) throws {
        for exec in try server.recipe(channel, messages) { XCTAssertEqual(exec.elements?.count, 2, "EXEC ran LPUSH and PUBLISH") }
    }

    private func lines(_ args: [String], env: [String: String] = [:]) throws -> [String] {
        let r = try rw(["history"] + args, env: env)
        XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
        return r.lines
    }

    func testHistoryReadsTheRecipesBacklogWithNoFlags() throws {
        let room = freshRoom()
        try recipeSays(room, (1...7).map { "m\($0)" })
        XCTAssertEqual(try lines([room, "--last", "5", "--format", "{message}"]), ["m3", "m4", "m5", "m6", "m7"])
        XCTAssertEqual(try lines([room, "--format", "{message}"]), (1...7).map { "m\($0)" })
        XCTAssertEqual(try lines([room, "--last", "2", "--reverse", "--format", "{message}"]), ["m7", "m6"])
        let text = try lines([room, "--last", "1"])
        XCTAssertEqual(text, ["- \(room) m7"], "no time: -")
        let json = try lines([room, "--last", "1", "--json"])
        XCTAssertEqual(json, [#"{"ts":null,"time":null,"channel":"\#(room)","message":"m7"}"#])
        // Found by a pattern too (SCAN of both templates).
        XCTAssertEqual(try lines(["\(room)*", "--last", "1", "--format", "{channel} {message}"]), ["\(room) m7"])
        XCTAssertEqual(try lines([room, "--limit", "2", "--format", "{message}"]), ["m1", "m2"])
    }

    func testAWindowOnABacklogIsAnErrorNamingTheKeyOrANoticeForAPattern() throws {
        let prefix = freshRoom()
        try recipeSays("\(prefix):chatty", ["hi"])
        XCTAssertEqual(try rw(["publish", "\(prefix):timed", "-q", "archived"]).status, 0)
        var r = try rw(["history", "\(prefix):chatty", "--since", "1h"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("'\(prefix):chatty:backlog'"), r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
        XCTAssertEqual(r.lines, [])
        // Through a pattern, the timed rooms still print; the backlog is
        // left out with one notice naming it.
        r = try rw(["history", "\(prefix):*", "--since", "1h", "--format", "{message}"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["archived"])
        XCTAssertTrue(r.stderr.contains("'\(prefix):chatty:backlog'") && r.stderr.contains("left out"), r.stderr)
    }

    func testBacklogKeyTemplateFlagAndEnvironment() throws {
        let room = freshRoom()
        try server.run("LPUSH", "recent:\(room)", "older", "newer")
        XCTAssertEqual(try lines([room, "--format", "{message}"]), [], "not at the default key")
        XCTAssertEqual(try lines([room, "--backlog-key", "recent:*", "--format", "{message}"]), ["older", "newer"])
        XCTAssertEqual(try lines(["\(room)*", "--format", "{message}"], env: ["ROOMWARDEN_BACKLOG_KEY": "recent:*"]), ["older", "newer"])
        let r = try rw(["history", room, "--backlog-key", "no-star"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("--backlog-key 'no-star'"), r.stderr)
        // A backlog key of another type is an error naming it.
        let odd = freshRoom()
        try server.run("SET", "\(odd):backlog", "x")
        let wrong = try rw(["history", odd])
        XCTAssertEqual(wrong.status, 65)
        XCTAssertTrue(wrong.stderr.contains("backlog key '\(odd):backlog' holds a string"), wrong.stderr)
    }

    /// Where both keys exist, the sorted set is the archive: history and
    /// stats read it, and the list is left alone (even by --delete).
    func testWithBothKeysTheSortedSetIsTheArchive() throws {
        let room = freshRoom()
        // The sorted set first: publish into a room with only a backlog follows the recipe (LPUSH).
        XCTAssertEqual(try rw(["publish", room, "-q", "set one"]).status, 0)
        try recipeSays(room, ["list one", "list two"])
        for m in ["set two", "set three"] { XCTAssertEqual(try rw(["publish", room, "-q", m]).status, 0) }
        XCTAssertEqual(try server.run("LLEN", "\(room):backlog").integer, 2, "with an archive, publish leaves the list alone")
        XCTAssertEqual(try lines([room, "--format", "{message}"]), ["set one", "set two", "set three"])
        XCTAssertEqual(try lines(["\(room)*", "--last", "5", "--format", "{message}"]), ["set one", "set two", "set three"])
        let obj = try jsonObject(try rw(["stats", "\(room)*", "--json"]).lines.first ?? "")
        let rooms = obj["rooms"] as? [[String: Any]] ?? []
        XCTAssertEqual(rooms.count, 1)
        XCTAssertEqual(rooms.first?["archived"] as? Int, 3)
        XCTAssertEqual(rooms.first?["messages"] as? [String: Int], ["1m": 3, "1h": 3, "24h": 3])
        let r = try rw(["history", room, "--grep", "one", "--delete", "--yes", "--format", "{message}"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["set one"])
        XCTAssertEqual(try server.run("LRANGE", "\(room):backlog", "0", "-1").elements?.compactMap(\.string), ["list two", "list one"])
    }

    /// A user who may read only archive keys (`~room:*:archive`, as the
    /// README's moderator) still reads every room that has one: backlog
    /// keys are looked at only where there is no archive key.
    func testAUserWhoMayReadOnlyArchiveKeysStillReadsThem() throws {
        let p = freshRoom()
        XCTAssertEqual(try rw(["publish", "\(p):a", "-q", "kept"]).status, 0)
        let user = "archivist-\(p.suffix(6))"
        try server.run("ACL", "SETUSER", user, "on", ">pw", "resetkeys", "~\(p):*:archive", "&*", "+@all")
        for targets in [["\(p):a"], ["\(p):*"]] {
            let r = try rw(["history", "--user", user, "--format", "{message}"] + targets, env: ["REDISCLI_AUTH": "pw"])
            XCTAssertEqual(r.status, 0, "\(targets): \(r.stderr)")
            XCTAssertEqual(r.lines, ["kept"])
        }
    }

    func testStatsListsTheRecipesBacklogWithNoFlags() throws {
        let prefix = freshRoom()
        try recipeSays("\(prefix):chatty", ["a", "b", "c"])
        let r = try rw(["stats", "\(prefix):*", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try jsonObject(r.lines.first ?? "")
        let rooms = obj["rooms"] as? [[String: Any]] ?? []
        XCTAssertEqual(rooms.count, 1)
        let chatty = try XCTUnwrap(rooms.first)
        XCTAssertEqual(chatty["channel"] as? String, "\(prefix):chatty")
        XCTAssertEqual(chatty["archived"] as? Int, 3, "the list's length")
        let windows = try XCTUnwrap(chatty["messages"] as? [String: Any])
        XCTAssertEqual(windows.count, 3)
        for (label, count) in windows { XCTAssertTrue(count is NSNull, "\(label): raw entries have no time") }
        XCTAssertTrue(chatty["last_ts"] is NSNull)
        XCTAssertEqual(chatty["note"] as? String, "list")
        XCTAssertEqual((obj["collected"] as? [String: Int])?["round_trips"], 2)
        let text = try rw(["stats", "\(prefix):*"])
        XCTAssertEqual(text.status, 0, text.stderr)
        let row = text.lines.first { $0.hasPrefix("\(prefix):chatty") }?.split(separator: " ").map(String.init)
        XCTAssertEqual(row.map { Array($0.dropFirst()) }, ["0", "3", "?", "?", "?", "-"], text.text)
        // Elsewhere by --backlog-key: not found at the default key any more.
        let moved = try rw(["stats", "\(prefix):*", "--json", "--backlog-key", "elsewhere:*"])
        XCTAssertEqual(try (jsonObject(moved.lines.first ?? "")["rooms"] as? [Any])?.count, 0, moved.text)
    }

    /// `--last N` is N in total (like tail -n N of what history prints: the
    /// sorted sets in time order, then the lists), not N per list.
    func testLastIsNInTotalAcrossListsAndSortedSets() throws {
        let p = freshRoom()
        try server.run("RPUSH", "\(p):a:backlog", "a3", "a2", "a1")  // LPUSH order: index 0 newest
        try server.run("RPUSH", "\(p):b:backlog", "b2", "b1")
        for i in 1...5 { try server.run("ZADD", "\(p):c:archive", String(1_795_300_000_000 + i), "c\(i)") }
        func run(_ args: [String]) throws -> [String] { try lines(["\(p):*", "--format", "{message}"] + args) }
        XCTAssertEqual(try run([]), ["c1", "c2", "c3", "c4", "c5", "a1", "a2", "a3", "b1", "b2"])
        XCTAssertEqual(try run(["--reverse"]), ["b2", "b1", "a3", "a2", "a1", "c5", "c4", "c3", "c2", "c1"])
        XCTAssertEqual(try run(["--last", "4"]), ["a2", "a3", "b1", "b2"])
        XCTAssertEqual(try run(["--last", "7"]), ["c4", "c5", "a1", "a2", "a3", "b1", "b2"])
        XCTAssertEqual(try run(["--last", "7", "--reverse"]), ["b2", "b1", "a3", "a2", "a1", "c5", "c4"])
        XCTAssertEqual(try run(["--last", "7", "--limit", "3"]), ["c4", "c5", "a1"])
        XCTAssertEqual(try run(["--limit", "7"]), ["c1", "c2", "c3", "c4", "c5", "a1", "a2"])
        let lists = try lines(["--last", "3", "\(p):a", "\(p):b", "--format", "{message}"])
        XCTAssertEqual(lists, ["a3", "b1", "b2"], "3 in all, not 3 per list")
    }
}
