import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// `roomwarden history`, end to end against a real server.
final class HistoryTests: XCTestCase {
    /// 2026-11-21T22:26:40.000Z
    let base: Int64 = 1_795_300_000_000

    /// Archives envelopes at the given times (ms) in `channel`'s archive.
    private func archive(_ channel: String, _ entries: [(Int64, String)]) throws {
        let c = try server.connect()
        var batch = CommandBatch()
        for (i, (ts, text)) in entries.enumerated() {
            let e = Envelope(id: "\(ts)-test-\(i)", ts: ts, channel: Array(channel.utf8), payload: Array(text.utf8))
            batch.add([Array("ZADD".utf8), Array("\(channel):archive".utf8), Array(String(ts).utf8), e.json])
        }
        try c.append(batch)
        for r in try c.readReplies(entries.count) { XCTAssertEqual(r, .integer(1)) }
    }

    private func messages(_ r: CLIResult) throws -> [String] {
        try r.lines.map { try jsonObject($0)["message"] as? String ?? "?" }
    }

    func testWindowEdges() throws {
        let room = freshRoom()
        try archive(room, [(base - 1, "before"), (base, "at start"), (base + 999, "last inside"), (base + 1000, "at end"), (base + 5000, "after")])
        let windows: [([String], [String])] = [
            (["--since", "@1795300000", "--until", "@1795300001"], ["at start", "last inside"]),
            (["--since", "2026-11-21T22:26:40Z", "--until", "2026-11-21T22:26:41Z"], ["at start", "last inside"]),
            (["--since", "2026-11-21T23:26:40+01:00", "--until", "2026-11-21T22:26:40.999Z"], ["at start"]),
            (["--since", "2026-11-21T22:26:40.001Z"], ["last inside", "at end", "after"]),
            (["--until", "@1795300000"], ["before"]),
            (["--since", "@1795300005", "--until", "now"], ["after"]),
            (["--since", "1m"], []),
        ]
        for (args, expected) in windows {
            let r = try rw(["history", room, "--json"] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try messages(r), expected, "\(args)")
        }
        let r = try rw(["history", room, "--since", "@1795300001", "--until", "@1795300000"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("ends"), r.stderr)
        XCTAssertEqual(try rw(["history", room, "--since", "yesterday-ish"]).status, 64)
    }

    func testThreeRoomsMergeInTimeOrder() throws {
        let prefix = freshRoom()
        try archive("\(prefix):a", [(base + 1, "a1"), (base + 4, "a4"), (base + 7, "a7")])
        try archive("\(prefix):b", [(base + 2, "b2"), (base + 5, "b5"), (base + 8, "b8")])
        try archive("\(prefix):c", [(base + 3, "c3"), (base + 6, "c6"), (base + 9, "c9")])
        var r = try rw(["history", "\(prefix):*", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try messages(r), ["a1", "b2", "c3", "a4", "b5", "c6", "a7", "b8", "c9"])
        XCTAssertEqual(try r.lines.map { try jsonObject($0)["channel"] as? String }, ["a", "b", "c", "a", "b", "c", "a", "b", "c"].map { "\(prefix):\($0)" })
        // Named channels merge the same way; a missing one says so on stderr.
        r = try rw(["history", "\(prefix):c", "\(prefix):a", "\(prefix):none", "--json"])
        XCTAssertEqual(try messages(r), ["a1", "c3", "a4", "c6", "a7", "c9"])
        XCTAssertTrue(r.stderr.contains("no archive for \(prefix):none"), r.stderr)
        r = try rw(["history", "\(prefix):*", "--reverse", "--format", "{message}"])
        XCTAssertEqual(r.lines, ["c9", "b8", "a7", "c6", "b5", "a4", "c3", "b2", "a1"])
    }

    func testManyEntriesSharingOneScorePageWithoutLossOrDuplicate() throws {
        let room = freshRoom()
        let c = try server.connect()
        var batch = CommandBatch()
        for i in 0..<25_000 {
            let e = Envelope(id: "same-\(i)", ts: base, channel: Array(room.utf8), payload: Array("m\(i)".utf8))
            batch.add([Array("ZADD".utf8), Array("\(room):archive".utf8), Array(String(base).utf8), e.json])
        }
        batch.add("ZADD", "\(room):archive", String(base - 1), "raw before")
        batch.add("ZADD", "\(room):archive", String(base + 1), "raw after")
        try c.append(batch)
        _ = try c.readReplies(25_002)
        for extra in [[String](), ["--reverse"]] {
            let r = try rw(["history", room, "--format", "{message}"] + extra, timeout: 120)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.lines.count, 25_002)
            XCTAssertEqual(Set(r.lines).count, 25_002, "no duplicate")
            XCTAssertEqual(extra.isEmpty ? r.lines.first : r.lines.last, "raw before")
            XCTAssertEqual(extra.isEmpty ? r.lines.last : r.lines.first, "raw after")
        }
    }

    func testLastLimitReverseWithAWindow() throws {
        let room = freshRoom()
        try archive(room, (0..<10).map { (base + Int64($0) * 1000, "m\($0)") })
        let window = ["--since", "@1795300002", "--until", "@1795300008"]  // m2 ... m7
        let cases: [([String], [String])] = [
            ([], ["m2", "m3", "m4", "m5", "m6", "m7"]),
            (["--last", "3"], ["m5", "m6", "m7"]),
            (["--last", "3", "--reverse"], ["m7", "m6", "m5"]),
            (["--limit", "2"], ["m2", "m3"]),
            (["--limit", "2", "--reverse"], ["m7", "m6"]),
            (["--last", "4", "--limit", "2"], ["m4", "m5"]),
            (["--last", "100"], ["m2", "m3", "m4", "m5", "m6", "m7"]),
        ]
        for (args, expected) in cases {
            let r = try rw(["history", room, "--json"] + window + args)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try messages(r), expected, "\(args)")
        }
    }

    func testSeedRecipeArchiveAndListBacklog() throws {
        let room = freshRoom()
        // Another client's archive: raw members scored in seconds.
        try server.run("ZADD", "\(room):archive", "1795300000", "hello from the seed", "1795300060.5", "a minute later")
        var r = try rw(["history", room, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let objs = try r.lines.map { try jsonObject($0) }
        XCTAssertEqual(objs.map { $0["message"] as? String }, ["hello from the seed", "a minute later"])
        XCTAssertEqual(objs.map { ($0["ts"] as? NSNumber)?.int64Value }, [base, base + 60_500])
        XCTAssertEqual(objs.first?["time"] as? String, "2026-11-21T22:26:40.000Z")
        XCTAssertNil(objs.first?["id"])
        r = try rw(["history", room, "--since", "@1795300030", "--format", "{message}"])
        XCTAssertEqual(r.lines, ["a minute later"], "windows apply to seconds scores too")
        r = try rw(["history", room, "--score-unit", "ms", "--format", "{ts}"])
        XCTAssertEqual(r.lines, ["1795300000", "1795300061"])
        r = try rw(["history", room, "--score-unit", "s", "--format", "{ts}"])
        XCTAssertEqual(r.lines, ["1795300000000", "1795300060500"])

        // The seed recipe's LPUSH backlog: newest first, no times.
        let list = freshRoom()
        try server.run("LPUSH", "\(list):archive", "first", "second", "third")
        r = try rw(["history", list, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try messages(r), ["first", "second", "third"])
        XCTAssertTrue(r.lines[0].hasPrefix(#"{"ts":null,"time":null,"channel":""#), r.lines[0])
        r = try rw(["history", list, "--last", "2", "--format", "{message}"])
        XCTAssertEqual(r.lines, ["second", "third"])
        r = try rw(["history", list, "--last", "2", "--reverse", "--format", "{message}"])
        XCTAssertEqual(r.lines, ["third", "second"])
        r = try rw(["history", list, "--since", "1h"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("is a list"), r.stderr)
    }

    func testWrongTypeExits65NamingTheKey() throws {
        let room = freshRoom()
        try server.run("HSET", "\(room):archive", "f", "v")
        let r = try rw(["history", room])
        XCTAssertEqual(r.status, 65)
        XCTAssertTrue(r.stderr.contains("'\(room):archive' holds a hash"), r.stderr)
    }

    func testArchiveKeyTemplate() throws {
        let room = freshRoom()
        XCTAssertEqual(try rw(["publish", room, "templated", "--archive-key", "logs:*"]).status, 0)
        let r = try rw(["history", "\(room)*", "--archive-key", "logs:*", "--format", "{message}"])
        XCTAssertEqual(r.lines, ["templated"])
        XCTAssertEqual(try rw(["history", room, "--format", "{message}"]).lines, [])
    }

    func testFollowKeepsApplyingGrepAndIgnoreToLiveMessages() throws {
        let room = freshRoom()
        let other = room + "-muted"
        try archive(room, [(base, "keep old"), (base + 1, "drop old")])
        try archive(other, [(base + 2, "keep muted")])
        let p = try CLIProcess(["history", room + "*", "--follow", "--grep", "^KEEP", "-i", "--ignore", other,
                                "--format", "{message}"] + server.socketArguments)
        p.closeInput()
        XCTAssertTrue(p.waitForLines(1, timeout: 20), p.stderrSoFar)
        for (channel, text) in [(room, "drop live"), (other, "keep live muted"), (room, "keep live"), (room, "keep end")] {
            XCTAssertEqual(try rw(["publish", channel, text] + server.socketArguments).status, 0)
        }
        XCTAssertTrue(p.waitForLines(3, timeout: 20), p.stderrSoFar)
        usleep(300_000)
        p.signal(SIGINT)
        let r = p.wait()
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertEqual(r.lines, ["keep old", "keep live", "keep end"])
    }

    func testFollowHandsOverWithNoGapAndNoDuplicate() throws {
        let room = freshRoom()
        try archive(room, (0..<20_000).map { (base + Int64($0), "old \($0)") })
        // A publisher that archives and publishes, before, during and after
        // the follower's start (MULTI/ZADD/PUBLISH/EXEC, as `publish` does).
        let stop = DispatchSemaphore(value: 0)
        var sent: [String] = []
        let sentLock = NSLock()
        let socket = server.socketPath
        let publisher = Thread {
            guard let c = try? Connection(endpoint: .unix(path: socket), connectTimeout: .seconds(2)) else { return }
            var i = 0
            while stop.wait(timeout: .now() + .milliseconds(1)) == .timedOut {
                let text = "live \(i)"
                let ts = Int64(Date().timeIntervalSince1970 * 1000)
                let e = Envelope(id: "live-\(i)", ts: ts, channel: Array(room.utf8), payload: Array(text.utf8))
                var b = CommandBatch()
                b.add("MULTI")
                b.add([Array("ZADD".utf8), Array("\(room):archive".utf8), Array(String(ts).utf8), e.json])
                b.add([Array("PUBLISH".utf8), Array(room.utf8), Array(text.utf8)])
                b.add("EXEC")
                guard (try? c.append(b)) != nil, (try? c.readReplies(4)) != nil else { return }
                sentLock.lock(); sent.append(text); sentLock.unlock()
                i += 1
            }
        }
        publisher.start()
        usleep(200_000)
        let p = try CLIProcess(["history", room, "--follow", "--format", "{message}"] + server.socketArguments)
        p.closeInput()
        usleep(1_500_000)
        stop.signal()
        while publisher.isExecuting { usleep(10_000) }
        sentLock.lock(); let all = sent; sentLock.unlock()
        XCTAssertGreaterThan(all.count, 100)
        XCTAssertTrue(p.waitForLines(20_000 + all.count, timeout: 30), "printed \(p.stdoutSoFar.filter { $0 == 0x0A }.count)")
        usleep(300_000)
        p.signal(SIGINT)
        let r = p.wait()
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertEqual(r.lines.count, 20_000 + all.count, "one line per message")
        XCTAssertEqual(Array(r.lines.prefix(20_000)), (0..<20_000).map { "old \($0)" })
        XCTAssertEqual(Array(r.lines.dropFirst(20_000)), all, "live messages in order, each once")
    }

    /// #9: the sorted set's page fetched ahead was read by the list's
    /// LRANGE, which printed ZRANGE data (members and scores) as the list.
    func testLastOverASortedSetAndAListKeepsEachReplyWithItsReader() throws {
        let prefix = freshRoom()
        try archive("\(prefix):a", (0..<30).map { (base + Int64($0), "z\($0)") })
        try server.run("LPUSH", "\(prefix):b:archive", "l1", "l2", "l3")
        // --last N is N in all (#18): the list prints last, so its 3 count first.
        for n in [5, 32] {
            let r = try rw(["history", "--last", String(n), "\(prefix):a", "\(prefix):b", "--format", "{channel} {message}"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.lines, ((33 - n)..<30).map { "\(prefix):a z\($0)" } + ["l1", "l2", "l3"].map { "\(prefix):b \($0)" })
        }
    }

    /// #10: a score or envelope ts that is no time (+inf, -inf, -1e16, the
    /// year 31 million) crashed history over all rooms. Such an entry
    /// prints with no time (text `?`; JSON `ts` the raw score, null when
    /// infinite, and `time` null); every other room prints as always.
    func testScoresThatAreNoTimePrintWithoutTimeAndSpareTheOtherRooms() throws {
        let prefix = freshRoom()
        try archive("\(prefix):good", [(base, "fine")])
        try server.run("ZADD", "\(prefix):inf:archive", "+inf", "x")
        try server.run("ZADD", "\(prefix):ninf:archive", "-inf", "y")
        try server.run("ZADD", "\(prefix):neg:archive", "-1e16", "z")
        let far = Envelope(id: "far", ts: -999_999_999_999_999_999, channel: Array("\(prefix):far".utf8), payload: Array("far".utf8))
        _ = try server.connect().command([Array("ZADD".utf8), Array("\(prefix):far:archive".utf8), Array(String(base + 1).utf8), far.json])
        var r = try rw(["history", "\(prefix):*"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["? \(prefix):ninf y", "? \(prefix):neg z", "2026-11-21T22:26:40.000Z \(prefix):good fine",
                                 "? \(prefix):far far", "? \(prefix):inf x"])
        r = try rw(["history", "\(prefix):*", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, [
            #"{"ts":null,"time":null,"channel":"\#(prefix):ninf","message":"y"}"#,
            #"{"ts":-1e+16,"time":null,"channel":"\#(prefix):neg","message":"z"}"#,
            #"{"ts":1795300000000,"time":"2026-11-21T22:26:40.000Z","channel":"\#(prefix):good","id":"1795300000000-test-0","message":"fine"}"#,
            #"{"ts":-999999999999999999,"time":null,"channel":"\#(prefix):far","id":"far","message":"far"}"#,
            #"{"ts":null,"time":null,"channel":"\#(prefix):inf","message":"x"}"#,
        ])
        for line in r.lines { XCTAssertNoThrow(try jsonObject(line), line) }
        r = try rw(["history", "\(prefix):*", "--reverse", "--last", "2", "--format", "{ts}|{time}|{message}"])
        XCTAssertEqual(r.lines, ["inf|?|x", "-999999999999999999|?|far"])
        r = try rw(["history", "\(prefix):*", "--since", "@1795299999", "--format", "{message}"])
        XCTAssertEqual(r.lines, ["fine", "far", "x"], "a window leaves out what is before it, whatever it is")
    }

    /// #10: under an ACL that denies every key, history said the archive
    /// did not exist and exited 0 (an empty export reported as success).
    func testAUserWhoMayNotReadTheArchivesExits77() throws {
        let room = freshRoom()
        try archive(room, [(base, "secret")])
        try server.run("ACL", "SETUSER", "nokeys", "on", ">pw", "resetkeys", "&*", "+@all")
        for targets in [[room], ["\(room)*"], []] {
            let r = try rw(["history", "--user", "nokeys"] + targets, env: ["REDISCLI_AUTH": "pw"])
            XCTAssertEqual(r.status, 77, "\(targets): \(r.stderr)")
            XCTAssertEqual(r.lines, [])
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("NOPERM"), r.stderr)
            XCTAssertFalse(r.stderr.contains("does not exist"), r.stderr)
        }
    }

    func testUsageErrors() throws {
        for args in [["--follow", "--reverse"], ["--follow", "--until", "now"], ["--follow", "--limit", "3"], ["--follow", "--from", "alice"],
                     ["--last", "0"], ["--limit", "-1"], ["--score-unit", "days"], ["--until", "tomorrow"]] {
            let r = try rw(["history"] + args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
        }
    }
}
