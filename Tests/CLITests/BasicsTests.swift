import Foundation
import Hiredis
import RedisFixture
import XCTest

/// What every command shares: help, version, usage errors, stderr hygiene.
final class BasicsTests: XCTestCase {
    func testHelpAndVersion() throws {
        var r = try roomwarden(["--version"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.text.hasPrefix("roomwarden 0.1.0 (hiredis 0.14.1; Swift 6."), r.text)
        r = try roomwarden(["--help"])
        XCTAssertEqual(r.status, 0)
        for sub in ["watch", "publish", "history", "stats"] { XCTAssertTrue(r.text.contains(sub)) }
        r = try roomwarden(["help", "history"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.text.contains("--since"), r.text)
        r = try roomwarden(["stats", "--help"])
        XCTAssertTrue(r.text.contains("-h, --host"), "-h is the host, as in redis-cli")
        XCTAssertEqual(r.stderr, "")
    }

    func testUsageErrorsAreOneLineWithExit64() throws {
        for args in [["publish"], ["bogus"], ["watch", "--nope"], ["history", "--last", "x"], ["stats", "--port", "99999"],
                     ["publish", "room:x", "m", "-p", "notaport"]] {
            let r = try roomwarden(args)
            XCTAssertEqual(r.status, 64, "\(args)")
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "one line: \(r.stderr)")
            XCTAssertTrue(r.stderr.hasPrefix("roomwarden: "), r.stderr)
            XCTAssertTrue(r.stderr.contains("--help"), "says where to look: \(r.stderr)")
            XCTAssertEqual(r.stdout, [])
        }
    }

    func testHostAndPortFlags() throws {
        let room = freshRoom()
        let r = try roomwarden(["publish", room, "via tcp", "-h", "127.0.0.1", "-p", String(server.port)])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try server.run("ZCARD", "\(room):archive"), .integer(1))
        let bad = try roomwarden(["publish", room, "x", "-h", "no-such-host.invalid", "--connect-timeout", "2s"])
        XCTAssertEqual(bad.status, 69)
        XCTAssertTrue(bad.stderr.contains("no-such-host.invalid"), bad.stderr)
    }

    func testClosedStdoutEndsHistoryQuietly() throws {
        let room = freshRoom()
        let input = (0..<50_000).map { "line \($0)\n" }.joined()
        XCTAssertEqual(try rw(["publish", room, "-q"], stdin: Array(input.utf8), timeout: 120).status, 0)
        let r = try bash("'\(CLIProcess.binary.path)' history '\(room)' -s '\(server.socketPath)' | head -n 1 >/dev/null; echo \"${PIPESTATUS[0]}\"")
        XCTAssertEqual(r.stdout, "0\n")
        XCTAssertEqual(r.stderr, "")
    }

    func testDiagnosticsCannotDriveTheTerminal() throws {
        // A key named with an escape sequence, of the wrong type.
        let evil = "room:\u{1B}]0;pwned\u{07}x"
        try server.run("SET", "\(evil):archive", "not a zset")
        let r = try rw(["history", "room:\u{1B}*"])
        XCTAssertEqual(r.status, 65)
        XCTAssertFalse(r.stderr.contains("\u{1B}"), r.stderr)
        XCTAssertTrue(r.stderr.contains(#"\x1b]0;pwned\x07x"#), r.stderr)
        try server.run("DEL", "\(evil):archive")
    }

    func testStatsAndHistoryHonourTheArchiveKeyTemplate() throws {
        let room = freshRoom()
        XCTAssertEqual(try rw(["publish", room, "x", "--archive-key", "log:*"]).status, 0)
        let r = try rw(["stats", "\(room)*", "--json"], env: ["ROOMWARDEN_ARCHIVE_KEY": "log:*"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rooms = try jsonObject(r.lines.first ?? "")["rooms"] as? [[String: Any]] ?? []
        XCTAssertEqual(rooms.first?["channel"] as? String, room)
        XCTAssertEqual(rooms.first?["archived"] as? Int, 1)
        let s = try rw(["history", "\(room)*", "--score-unit", "s", "--archive-key", "log:*", "--format", "{message}"])
        XCTAssertEqual(s.lines, ["x"], "envelopes carry their own ts whatever the score unit")
    }
}
