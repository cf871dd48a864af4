import Foundation
import Hiredis
import RedisFixture
import XCTest

/// A hostile user's history and connection options: secrets typed in the
/// wrong place, key templates with glob characters, equal times across
/// rooms, a silent server during the handshake, and error lines that must
/// say the right thing to do.
final class HistoryHostileTests: XCTestCase {
    /// A server of this suite's own, stopped (SIGSTOP) by some tests.
    static var own: RedisServer!

    override class func setUp() {
        do { own = try RedisServer() } catch { fatalError("\(error)") }
    }

    override class func tearDown() { own = nil }

    /// 2026-11-21T22:26:40.000Z
    let base: Int64 = 1_795_300_000_000

    /// A password typed where the parser cannot take it (glued to -a, after
    /// a flag cluster, as --askpass's value, not UTF-8 on the command line
    /// or in a URL) is a usage error that never shows it.
    func testAPasswordInTheWrongPlaceIsNeverEchoed() throws {
        let secret = "Pw0rdXyz"
        let bin = "'\(CLIProcess.binary.path)'"
        let lines = [
            "\(bin) history -a\(secret)",
            "\(bin) history -ia\(secret)",
            "\(bin) history --askpass=\(secret)",
            "\(bin) history -a $'\(secret)\\xff'",
            "\(bin) history --pass=$'\(secret)\\xff'",
            "\(bin) history -u $'redis://:\(secret)\\xff@127.0.0.1:1'",
            "\(bin) history --url=$'redis://u:\(secret)\\xff@127.0.0.1:1'",
        ]
        for line in lines {
            let r = try bash("\(line) --connect-timeout 1s; echo \"status $?\"", timeout: 20)
            XCTAssertTrue(r.stdout.hasSuffix("status 64\n"), "\(line): \(r.stdout) \(r.stderr)")
            XCTAssertFalse(r.stderr.contains(secret), "\(line): \(r.stderr)")
            XCTAssertFalse(r.stdout.contains(secret), "\(line): \(r.stdout)")
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "\(line): one line: \(r.stderr)")
        }
        // A URL already shown redacted is not redacted twice.
        let r = try roomwarden(["history", "-u", "unix:///tmp/x.sock?db="])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("'unix:///tmp/x.sock?db=***'"), r.stderr)
    }

    /// A key template's own characters are literal, even glob characters:
    /// SCAN must look for them as they are, not as a pattern.
    func testKeyTemplatesWithGlobCharactersFindTheirRooms() throws {
        let room = freshRoom()
        try server.run("ZADD", "log[1]:\(room)", String(base), "from the archive")
        try server.run("RPUSH", "bl\\x?:\(room)x", "from the backlog")
        let r = try rw(["history", "\(room)*", "--archive-key", "log[1]:*", "--backlog-key", "bl\\x?:*", "--format", "{channel} {message}"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["\(room) from the archive", "\(room)x from the backlog"])
        XCTAssertEqual(r.stderr, "")
    }

    /// Entries of several rooms at one time: --reverse prints exactly the
    /// forward order backwards, and --last N is the tail of it.
    func testEqualTimesAcrossRoomsReverseExactlyAndLastIsTheTail() throws {
        let room = freshRoom()
        for (suffix, members) in [("a", ["a1", "a2"]), ("b", ["b1", "b2"]), ("c", ["c1"])] {
            for m in members { try server.run("ZADD", "\(room)\(suffix):archive", String(base), m) }
        }
        try server.run("ZADD", "\(room)b:archive", String(base - 1), "older")
        try server.run("ZADD", "\(room)c:archive", String(base + 1), "newer")
        let format = ["--format", "{channel} {message}"]
        let forward = try rw(["history", "\(room)*"] + format)
        XCTAssertEqual(forward.status, 0, forward.stderr)
        XCTAssertEqual(forward.lines.count, 7)
        let backward = try rw(["history", "\(room)*", "--reverse"] + format)
        XCTAssertEqual(backward.lines, forward.lines.reversed())
        for n in 1...6 {
            let last = try rw(["history", "\(room)*", "--last", String(n)] + format)
            XCTAssertEqual(last.lines, Array(forward.lines.suffix(n)), "--last \(n)")
            let reversedLast = try rw(["history", "\(room)*", "--last", String(n), "--reverse"] + format)
            XCTAssertEqual(reversedLast.lines, Array(forward.lines.suffix(n).reversed()), "--last \(n) --reverse")
        }
    }

    /// A server that stops answering during the handshake (AUTH, SELECT)
    /// is waited for --connect-timeout: the line names that option.
    func testASilentHandshakeNamesConnectTimeout() throws {
        try Self.own.pause()
        defer { try? Self.own.resume() }
        let r = try roomwarden(["history", "-h", "127.0.0.1", "-p", String(Self.own.port), "--db", "1",
                                "--connect-timeout", "1s", "--timeout", "30s"], timeout: 20)
        XCTAssertEqual(r.status, 69, r.stderr)
        XCTAssertTrue(r.stderr.contains("did not answer for 1s"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--connect-timeout"), r.stderr)
        XCTAssertFalse(r.stderr.contains("--timeout"), r.stderr)
    }

    /// Error lines show a backslash as it was typed and meant: the advice
    /// for a bad expression is what grep -E takes.
    /// A back-reference can make glibc's regexec take exponential time on
    /// one long message (a cron job that never ends): refused up front, in
    /// history and watch alike; inside brackets a backslash is a character.
    func testGrepBackReferencesAreRefusedBeforeAnythingRuns() throws {
        let room = freshRoom()
        try server.run("ZADD", "\(room):archive", String(base), String(repeating: "ab", count: 2000))
        for command in [["history", room], ["watch", "-n", "1", "--wait", "1s"]] {
            let r = try rw(command + ["--grep", "(.*)(.*)\\2\\1z"], timeout: 20)
            XCTAssertEqual(r.status, 64, "\(command): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("back-reference"), r.stderr)
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
        }
        let literal = try rw(["history", room, "--grep", "[\\1]z", "--format", "{channel}"])
        XCTAssertEqual(literal.status, 0, literal.stderr)
        XCTAssertEqual(literal.lines, [])
    }

    func testErrorLinesKeepBackslashesAsTyped() throws {
        let r = try rw(["history", "--grep", #"a\.("#])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains(#"--grep 'a\.(' is not"#), r.stderr)
        XCTAssertTrue(r.stderr.contains(#"write \( for a parenthesis"#), r.stderr)
        XCTAssertFalse(r.stderr.contains(#"\\"#), r.stderr)
    }

    /// A bad value from the environment is named by its variable: the
    /// user gave no flag to look for.
    func testErrorsFromTheEnvironmentNameTheVariable() throws {
        for (name, value) in [("ROOMWARDEN_ARCHIVE_KEY", "no-star"), ("ROOMWARDEN_BACKLOG_KEY", "no-star"), ("REDIS_URL", "bogus")] {
            let r = try rw(["history"], env: [name: value])
            XCTAssertEqual(r.status, 64, "\(name): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(name), "\(name): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("--archive-key") || r.stderr.contains("--backlog-key"), "\(name): \(r.stderr)")
        }
    }

    /// --local writes RFC 3339 whatever the zone: a local time it cannot
    /// write (a year before 0000 or after 9999 there, an offset with
    /// seconds from an old local mean time) is written in UTC, not as
    /// "00-1-12-31T13:30:40.000-10:29".
    func testLocalTimesAreAlwaysRFC3339() throws {
        let room = freshRoom()
        let times: [Int64] = [-62_167_219_200_000, -2_000_000_000_000, 0, base, 253_402_300_799_999]
        for (i, ms) in times.enumerated() { try server.run("ZADD", "\(room):archive", String(ms), "m\(i)") }
        let rfc3339 = try NSRegularExpression(pattern: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$"#)
        for zone in ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Amsterdam", "America/St_Johns"] {
            let r = try rw(["history", room, "--score-unit", "ms", "--local", "--format", "{time}"], env: ["TZ": zone])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.lines.count, times.count, zone)
            for (line, ms) in zip(r.lines, times) {
                XCTAssertEqual(rfc3339.numberOfMatches(in: line, range: NSRange(line.startIndex..., in: line)), 1, "\(zone): \(line)")
                XCTAssertEqual(instant(line), ms, "\(zone): \(line) is not \(ms)")
            }
        }
    }

    /// Unix ms of an RFC 3339 time with milliseconds.
    private func instant(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count >= 24 else { return nil }
        func n(_ from: Int, _ count: Int) -> Int64 { Int64(String(decoding: b[from..<(from + count)], as: UTF8.self)) ?? 0 }
        var y = n(0, 4), m = n(5, 2)
        let d = n(8, 2)
        if m <= 2 { y -= 1; m += 12 }
        func floor(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }
        let days = 365 * y + floor(y, 4) - floor(y, 100) + floor(y, 400) + (153 * (m - 3) + 2) / 5 + d - 719_469
        var ms = ((days * 24 + n(11, 2)) * 60 + n(14, 2)) * 60_000 + n(17, 2) * 1000 + n(20, 3)
        if b[23] != UInt8(ascii: "Z") {
            let offset = (n(24, 2) * 60 + n(27, 2)) * 60_000
            ms += b[23] == UInt8(ascii: "+") ? -offset : offset
        }
        return ms
    }

    /// A server busy with a script (BUSY) or loading its data (LOADING)
    /// cannot serve now: that is exit 69, try again later, as for a
    /// server that does not answer; 65 would tell a cron job the data is
    /// wrong.
    func testABusyServerIsUnavailableNotRefusedData() throws {
        try Self.own.run("ZADD", "room:busy:archive", String(base), "kept")
        try Self.own.run("CONFIG", "SET", "busy-reply-threshold", "100")
        defer { _ = try? Self.own.run("CONFIG", "SET", "busy-reply-threshold", "5000") }
        let script = try Self.own.connect()
        _ = try script.append(["EVAL", "while true do end", "0"].map { Array($0.utf8) })
        try script.flush()
        usleep(400_000)
        defer { _ = try? Self.own.run("SCRIPT", "KILL") }
        for args in [["history"], ["history", "room:busy"]] {
            let r = try roomwarden(args + ["-s", Self.own.socketPath], timeout: 20)
            XCTAssertEqual(r.status, 69, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("BUSY"), r.stderr)
            XCTAssertTrue(r.stderr.contains("try again"), r.stderr)
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
        }
    }

    /// Large members are read in pages of a few MB, not 1000 at a time: an
    /// archive (or backlog) of 120 members of 1 MB is exported with less
    /// memory than it holds, never as one 120 MB reply.
    func testLargeMembersAreReadInPagesOfAFewMegabytes() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else { throw XCTSkip("no /usr/bin/time") }
        let room = freshRoom()
        let c = try server.connect()
        for i in 0..<120 {
            // Unique members (a sorted set holds each once), 1 MB each.
            let tag = Array(String(format: "%04d", i).utf8)
            let member = tag + Array(repeating: UInt8(ascii: "a") + UInt8(i % 26), count: (1 << 20) - tag.count)
            _ = try c.command([Array("ZADD".utf8), Array("\(room):archive".utf8), Array(String(base + Int64(i)).utf8), member])
            _ = try c.command([Array("RPUSH".utf8), Array("\(room)-list:backlog".utf8), member])
        }
        defer { _ = try? server.run("DEL", "\(room):archive", "\(room)-list:backlog") }
        let bin = "'\(CLIProcess.binary.path)'"
        for (target, extra) in [(room, ""), (room, "--reverse"), ("\(room)-list", "")] {
            let r = try bash("/usr/bin/time -f 'rss %M' \(bin) history '\(target)' -f raw \(extra) -s '\(server.socketPath)' | wc -c", timeout: 120)
            XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), String(120 * ((1 << 20) + 1)), "\(target) \(extra): \(r.stderr)")
            let rss = Int(r.stderr.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? .max
            XCTAssertLessThan(rss, 90_000, "\(target) \(extra): peak RSS \(rss) KB for a 120 MB archive")
        }
    }

    /// Rooms merged together share one page budget: 20 rooms of 40 members
    /// of 200 KB (160 MB) export in bounded memory. Each room paged 8 MB
    /// (and read the next page ahead) on its own before: 252 MB peak RSS for
    /// 20 rooms of 60 such members, growing with every room.
    func testManyRoomsOfLargeMembersShareOnePageBudget() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else { throw XCTSkip("no /usr/bin/time") }
        let room = freshRoom()
        _ = try server.run("EVAL", """
            for r = 1, 20 do for i = 1, 40 do
              redis.call('ZADD', KEYS[1] .. r .. ':archive', ARGV[1] + i * 1000 + r, string.rep('m', 200000) .. r .. ':' .. i)
            end end return 1
            """, "1", room, String(base))
        defer { for r in 1...20 { _ = try? server.run("DEL", "\(room)\(r):archive") } }
        let bin = "'\(CLIProcess.binary.path)'"
        for extra in ["", "--reverse"] {
            let r = try bash("/usr/bin/time -f 'rss %M' \(bin) history '\(room)*' -f raw \(extra) -s '\(server.socketPath)' | wc -c", timeout: 120)
            let expected = (1...20).reduce(0) { sum, r in sum + (1...40).reduce(0) { $0 + 200_000 + "\(r):\($1)".utf8.count + 1 } }
            XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), String(expected), "\(extra): \(r.stderr)")
            let rss = Int(r.stderr.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? .max
            XCTAssertLessThan(rss, 100_000, "\(extra): peak RSS \(rss) KB for 20 rooms of 8 MB")
        }
    }
}
