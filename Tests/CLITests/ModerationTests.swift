import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// #17: history's filters (--grep, --from, --ignore) and --delete, which
/// removes exactly what the same command prints. Ground truth: the
/// archive's members before and after, read with ZRANGE/LRANGE.
final class ModerationTests: XCTestCase {
    /// 2026-11-21T22:26:40.000Z
    let base: Int64 = 1_795_300_000_000

    /// Archives envelopes (ts, from, message) in `channel`'s archive and
    /// returns their members.
    @discardableResult
    private func archive(_ channel: String, _ entries: [(Int64, String?, String)]) throws -> [[UInt8]] {
        let c = try server.connect()
        var batch = CommandBatch()
        var members: [[UInt8]] = []
        let tag = UUID().uuidString.prefix(8)
        for (i, (ts, from, text)) in entries.enumerated() {
            let e = Envelope(id: "\(ts)-\(tag)-\(i)", ts: ts, channel: Array(channel.utf8), from: from, payload: Array(text.utf8))
            batch.add([Array("ZADD".utf8), Array("\(channel):archive".utf8), Array(String(ts).utf8), e.json])
            members.append(e.json)
        }
        try c.append(batch)
        for r in try c.readReplies(entries.count) { XCTAssertEqual(r, .integer(1)) }
        return members
    }

    /// Every member of a sorted set.
    private func members(_ key: String) throws -> Set<[UInt8]> {
        Set(try server.run("ZRANGE", key, "0", "-1").elements?.compactMap(\.bytes) ?? [])
    }

    private func list(_ key: String) throws -> [String] {
        try server.run("LRANGE", key, "0", "-1").elements?.compactMap(\.string) ?? []
    }

    // MARK: Filters

    func testFiltersPickExactlyTheExpectedEntriesAcrossRoomsAndBeforeLast() throws {
        let p = freshRoom()
        try archive("\(p):a", [(base + 1, "mallory", "buy cheap pills"), (base + 2, "alice", "hello"),
                               (base + 5, "mallory", "hello again"), (base + 8, "bob", "REFUND please")])
        try archive("\(p):b", [(base + 3, "mallory", "pills pills"), (base + 7, "alice", "bye")])
        try server.run("ZADD", "\(p):b:archive", String(base + 6), "raw refund talk")  // another writer's raw member
        try archive("\(p):bots", [(base + 9, "mallory", "bot pills")])
        func picked(_ args: [String]) throws -> [String] {
            let r = try rw(["history", "\(p):*", "--format", "{channel}|{from}|{message}"] + args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            return r.lines.map { $0.replacingOccurrences(of: "\(p):", with: "") }
        }
        XCTAssertEqual(try picked(["--from", "mallory"]),
                       ["a|mallory|buy cheap pills", "b|mallory|pills pills", "a|mallory|hello again", "bots|mallory|bot pills"])
        XCTAssertEqual(try picked(["--from", "mallory", "--from", "bob"]),
                       ["a|mallory|buy cheap pills", "b|mallory|pills pills", "a|mallory|hello again", "a|bob|REFUND please",
                        "bots|mallory|bot pills"])
        XCTAssertEqual(try picked(["--grep", "pills"]), ["a|mallory|buy cheap pills", "b|mallory|pills pills", "bots|mallory|bot pills"])
        XCTAssertEqual(try picked(["--grep", "refund", "-i"]), ["b||raw refund talk", "a|bob|REFUND please"])
        XCTAssertEqual(try picked(["--grep", "refund|cheap"]), ["a|mallory|buy cheap pills", "b||raw refund talk"], "grep -E")
        XCTAssertEqual(try picked(["--grep", "^hello"]), ["a|alice|hello", "a|mallory|hello again"])
        XCTAssertEqual(try picked(["--from", "mallory", "--ignore", "*:bots"]),
                       ["a|mallory|buy cheap pills", "b|mallory|pills pills", "a|mallory|hello again"])
        XCTAssertEqual(try picked(["--ignore", "*:bots", "--ignore", "*:a"]), ["b|mallory|pills pills", "b||raw refund talk", "b|alice|bye"])
        // Filters apply before --last and --limit.
        XCTAssertEqual(try picked(["--from", "mallory", "--last", "2"]), ["a|mallory|hello again", "bots|mallory|bot pills"])
        XCTAssertEqual(try picked(["--from", "mallory", "--last", "2", "--ignore", "*bots"]), ["b|mallory|pills pills", "a|mallory|hello again"])
        XCTAssertEqual(try picked(["--from", "mallory", "--limit", "1", "--reverse"]), ["bots|mallory|bot pills"])
        XCTAssertEqual(try picked(["--grep", "pills", "--from", "alice"]), [])
        XCTAssertEqual(try picked(["--from", "nobody"]), [])
        XCTAssertEqual(try picked(["--since", "@1795300000.004", "--from", "mallory"]), ["a|mallory|hello again", "bots|mallory|bot pills"])
        let bad = try rw(["history", "--grep", "("])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("--grep '('"), bad.stderr)
        XCTAssertEqual(try rw(["history", "-i"]).status, 64, "-i goes with --grep")
    }

    // MARK: Deleting

    func testDeleteRemovesExactlyThePrintedEntriesAndNothingElse() throws {
        let room = freshRoom()
        let key = "\(room):archive"
        let m = try archive(room, [
            (base + 1000, "mallory", "you are an idiot"),   // 0: in the window: removed
            (base + 3000, "alice", "you are an idiot"),     // 1: same payload, another sender
            (base + 4000, "mallory", "ok"),                 // 2: mallory, no match
            (base + 5000, "mallory", "you are an idiot"),   // 3: in the window: removed
            (base + 20000, "mallory", "you are an idiot"),  // 4: same payload, outside the window
            (base + 5000, "mallory", "you are an idiot"),   // 5: same payload, same time, another id: removed
        ])
        try server.run("ZADD", key, String(base + 2000), "raw idiot")
        let before = try members(key)
        let window = ["--since", "2026-11-21T22:26:41Z", "--until", "2026-11-21T22:26:50Z"]
        let args = ["history", room, "--from", "mallory", "--grep", "idiot"] + window
        let preview = try rw(args + ["--json"])
        XCTAssertEqual(preview.lines.count, 3)
        let r = try rw(args + ["--json", "--delete", "--yes"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, preview.lines, "removes exactly what it prints")
        XCTAssertEqual(r.stderr, "roomwarden: removed 3 entries from 1 room\n")
        XCTAssertEqual(try members(key), before.subtracting([m[0], m[3], m[5]]))
        // Again: nothing left to remove.
        let again = try rw(args + ["--delete", "--yes"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.lines, [])
        XCTAssertEqual(again.stderr, "roomwarden: removed 0 entries from 0 rooms\n")
        // Another writer's raw member goes by its exact bytes too.
        let raw = try rw(["history", room, "--grep", "^raw idiot$", "--delete", "--yes", "--format", "{message}"])
        XCTAssertEqual(raw.lines, ["raw idiot"])
        XCTAssertEqual(try members(key), before.subtracting([m[0], m[3], m[5], Array("raw idiot".utf8)]))
    }

    func testInterruptedDeleteSaysExactlyWhatItRemoved() throws {
        let room = freshRoom()
        let key = "\(room):archive"
        let c = try server.connect()
        var batch = CommandBatch()
        for chunk in 0..<200 {
            var zadd = [Array("ZADD".utf8), Array(key.utf8)]
            for i in 0..<1000 {
                let n = chunk * 1000 + i
                zadd.append(Array(String(base + Int64(n)).utf8))
                zadd.append(Array("entry \(n)".utf8))
            }
            batch.add(zadd)
        }
        try c.append(batch)
        _ = try c.readReplies(200)
        let before = try members(key)
        let p = try CLIProcess(["history", room, "--delete", "--yes", "--all", "--format", "{message}"] + server.socketArguments)
        p.closeInput()
        XCTAssertTrue(p.waitForLines(1, timeout: 20), p.stderrSoFar)
        // Stopped mid-run: the signal lands while it waits for the server.
        try server.pause()
        p.signal(SIGINT)
        usleep(300_000)
        try server.resume()
        let r = p.wait()
        XCTAssertEqual(r.status, 130, r.stderr)
        let removed = r.lines.count
        XCTAssertGreaterThan(removed, 0)
        XCTAssertLessThan(removed, 200_000, "stopped before the end")
        XCTAssertEqual(r.stderr, "roomwarden: interrupted; removed \(removed) entries from 1 room before that (printed on stdout)\n")
        let left = try members(key)
        XCTAssertEqual(left.count, 200_000 - removed)
        XCTAssertEqual(before.subtracting(left), Set(r.lines.map { Array($0.utf8) }), "removed exactly what it printed")
    }

    /// Messages published while the delete runs (the same sender, the same
    /// payload, inside the open-ended window) are never touched.
    func testDeleteLeavesMessagesPublishedWhileItRuns() throws {
        let room = freshRoom()
        let key = "\(room):archive"
        let start = nowMilliseconds() - 600_000
        var old: [(Int64, String?, String)] = []
        for i in 0..<60_000 { old.append((start + Int64(i) * 5, i % 3 == 0 ? "mallory" : "alice", "spam")) }
        let oldMembers = try archive(room, old)
        let mallorys = Set(oldMembers.enumerated().filter { $0.offset % 3 == 0 }.map(\.element))
        let p = try CLIProcess(["history", room, "--since", "1h", "--from", "mallory", "--delete", "--yes", "--format", "{id}"]
                               + server.socketArguments)
        p.closeInput()
        XCTAssertTrue(p.waitForLines(1, timeout: 30), p.stderrSoFar)
        // The delete is under way: publish as the recipe does, as fast as it goes.
        let c = try server.connect()
        var published: [[UInt8]] = []
        var i = 0
        while p.process.isRunning && i < 100_000 {
            let ts = nowMilliseconds()
            let e = Envelope(id: "live-\(i)", ts: ts, channel: Array(room.utf8), from: i % 2 == 0 ? "mallory" : "alice", payload: Array("spam".utf8))
            var b = CommandBatch()
            b.add("MULTI")
            b.add([Array("ZADD".utf8), Array(key.utf8), Array(String(ts).utf8), e.json])
            b.add("PUBLISH", room, "spam")
            b.add("EXEC")
            try c.append(b)
            _ = try c.readReplies(4)
            published.append(e.json)
            i += 1
        }
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertGreaterThan(published.count, 10, "published while the delete ran")
        XCTAssertEqual(r.lines.count, 20_000)
        XCTAssertEqual(r.stderr, "roomwarden: removed 20000 entries from 1 room\n")
        XCTAssertEqual(try members(key), Set(oldMembers).subtracting(mallorys).union(published))
    }

    func testDeleteWorksOnPatternsListBacklogsAndRawMembers() throws {
        let p = freshRoom()
        let x = try archive("\(p):x", [(base + 1, "mallory", "spam here"), (base + 3, "alice", "fine")])
        try server.run("ZADD", "\(p):x:archive", String(base + 2), "raw spam")
        try server.run("LPUSH", "\(p):y:backlog", "spam", "hi", "spam", "ok")  // the recipe's list, newest first
        let z = try archive("\(p):z", [(base + 4, "bob", "nothing to see")])
        let r = try rw(["history", "\(p):*", "--grep", "spam", "--delete", "--yes", "--format", "{channel} {message}"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["\(p):x spam here", "\(p):x raw spam", "\(p):y spam", "\(p):y spam"])
        XCTAssertEqual(r.stderr, "roomwarden: removed 4 entries from 2 rooms\n")
        XCTAssertEqual(try members("\(p):x:archive"), [x[1]])
        XCTAssertEqual(try list("\(p):y:backlog"), ["ok", "hi"])
        XCTAssertEqual(try members("\(p):z:archive"), Set(z))
        // --last on a list: only the newest match goes.
        try server.run("RPUSH", "\(p):w:backlog", "spam", "keep", "spam")
        let last = try rw(["history", "\(p):w", "--grep", "spam", "--last", "1", "--delete", "--yes", "--format", "{message}"])
        XCTAssertEqual(last.lines, ["spam"])
        XCTAssertEqual(try list("\(p):w:backlog"), ["keep", "spam"])
    }

    func testDeleteWithLastAndLimitRemovesOnlyThose() throws {
        let room = freshRoom()
        var entries: [(Int64, String?, String)] = []
        for i in 1...6 {
            entries.append((base + Int64(i) * 10, "mallory", "m\(i)"))
            entries.append((base + Int64(i) * 10 + 1, "alice", "a\(i)"))
        }
        let m = try archive(room, entries)
        let before = try members("\(room):archive")
        var r = try rw(["history", room, "--from", "mallory", "--last", "2", "--delete", "--yes", "--format", "{message}"])
        XCTAssertEqual(r.lines, ["m5", "m6"])
        r = try rw(["history", room, "--from", "mallory", "--limit", "2", "--delete", "--yes", "--format", "{message}"])
        XCTAssertEqual(r.lines, ["m1", "m2"])
        XCTAssertEqual(try members("\(room):archive"), before.subtracting([m[0], m[2], m[8], m[10]]))
    }

    /// The cursor skips the members already read at its score; removed
    /// ones must not count, or entries are missed (5,000 share one score,
    /// five pages).
    func testDeleteAcrossPagesOfEntriesSharingOneScore() throws {
        for order in [[String](), ["--reverse"]] {
            let room = freshRoom()
            let all = try archive(room, (0..<5000).map { (base, $0 % 2 == 0 ? "even" : "odd", "m\($0)") })
            let r = try rw(["history", room, "--from", "even", "--delete", "--yes", "--format", "{message}"] + order, timeout: 60)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.lines.count, 2500, "\(order)")
            XCTAssertEqual(try members("\(room):archive"), Set(all.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)), "\(order)")
        }
    }

    func testRefusalsRemoveNothing() throws {
        let room = freshRoom()
        try archive(room, [(base, "mallory", "spam"), (base + 1, "alice", "hi")])
        try server.run("LPUSH", "\(room)-list:backlog", "spam")
        let before = try members("\(room):archive")
        let refused: [[String]] = [
            [room, "--delete", "--yes"],                               // no window, filter or count
            [room, "--from", "mallory", "--delete"],                   // stdin is no terminal, no --yes
            [room, "--from", "mallory", "--all"],                      // --all without --delete
            [room, "--from", "mallory", "--yes"],                      // --yes without --delete
            [room, "--from", "mallory", "--delete", "--yes", "--follow"],
            [room, "--grep", "(", "--delete", "--yes"],
            ["\(room)-list", "--since", "1h", "--delete", "--yes"],    // a window on a list backlog
        ]
        for args in refused {
            let r = try rw(["history"] + args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertEqual(r.lines, [], "\(args)")
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "\(args): \(r.stderr)")
            XCTAssertEqual(try members("\(room):archive"), before, "\(args)")
            XCTAssertEqual(try list("\(room)-list:backlog"), ["spam"], "\(args)")
        }
        // --all says it is meant.
        let all = try rw(["history", room, "--delete", "--all", "--yes", "--format", "{message}"])
        XCTAssertEqual(all.lines, ["spam", "hi"])
        XCTAssertEqual(try members("\(room):archive"), [])
    }

    /// On a terminal it asks, showing the count; only yes removes.
    func testDeleteOnATerminalAsksWithTheCount() throws {
        let room = freshRoom()
        try archive(room, [(base, "mallory", "one"), (base + 1, "alice", "hi"), (base + 2, "mallory", "two")])
        let before = try members("\(room):archive")
        let out = server.directory.appendingPathComponent("removed-\(UUID().uuidString.prefix(6)).jsonl").path
        let command = "\(CLIProcess.binary.path) history \(room) --from mallory --delete --json -s \(server.socketPath) > \(out)"
        for (answer, status) in [("n", Int32(1)), ("y", Int32(0))] {
            let shell = try CLIProcessShell(["/usr/bin/script", "-qec", command, "/dev/null"])
            XCTAssertTrue(shell.waitFor("[y/N]"), shell.output)
            XCTAssertTrue(shell.output.contains("remove 2 entries from 1 room"), shell.output)
            shell.type("\(answer)\n")
            XCTAssertEqual(shell.wait(), status, shell.output)
            let saved = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
            if answer == "n" {
                XCTAssertTrue(shell.output.contains("nothing removed"), shell.output)
                XCTAssertEqual(saved, [])
                XCTAssertEqual(try members("\(room):archive"), before)
            } else {
                XCTAssertTrue(shell.output.contains("removed 2 entries from 1 room"), shell.output)
                XCTAssertEqual(try saved.map { try jsonObject(String($0))["message"] as? String }, ["one", "two"])
                XCTAssertEqual(try members("\(room):archive").count, 1)
            }
        }
    }

    /// A user who may not ZREM (some keys, or at all) gets exit 77, and the
    /// error says how many entries were removed before the refusal.
    func testAUserWithoutZremExits77SayingWhatWasRemoved() throws {
        let p = freshRoom()
        let a = try archive("\(p):a", [(base + 1, "mallory", "a1"), (base + 3, "mallory", "a3"), (base + 5, "alice", "a5")])
        let b = try archive("\(p):b", [(base + 2, "mallory", "b2"), (base + 4, "alice", "b4")])
        try server.run("ACL", "SETUSER", "janitor-\(p.suffix(6))", "on", ">pw", "resetkeys", "%R~*", "%RW~\(p):a:*", "&*", "+@all")
        var r = try rw(["history", "\(p):*", "--from", "mallory", "--delete", "--yes", "--format", "{message}",
                        "--user", "janitor-\(p.suffix(6))"], env: ["REDISCLI_AUTH": "pw"])
        XCTAssertEqual(r.status, 77, r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("NOPERM") && r.stderr.contains("'\(p):b:archive'"), r.stderr)
        XCTAssertTrue(r.stderr.contains("removed 2 entries from 1 room before that"), r.stderr)
        XCTAssertEqual(r.lines, ["a1", "a3"], "what was removed is printed")
        XCTAssertEqual(try members("\(p):a:archive"), [a[2]])
        XCTAssertEqual(try members("\(p):b:archive"), Set(b))
        // No ZREM at all: nothing removed, and it says so.
        try server.run("ACL", "SETUSER", "reader-\(p.suffix(6))", "on", ">pw", "~*", "&*", "+@all", "-zrem")
        r = try rw(["history", "\(p):*", "--from", "mallory", "--delete", "--yes", "--user", "reader-\(p.suffix(6))"],
                   env: ["REDISCLI_AUTH": "pw"])
        XCTAssertEqual(r.status, 77, r.stderr)
        XCTAssertTrue(r.stderr.contains("NOPERM") && r.stderr.contains("nothing was removed"), r.stderr)
        XCTAssertEqual(r.lines, [])
        XCTAssertEqual(try members("\(p):b:archive"), Set(b))
    }
}
