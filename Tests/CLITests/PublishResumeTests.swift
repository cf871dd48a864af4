import Foundation
import Hiredis
import RedisFixture
import XCTest

/// `roomwarden publish` from stdin through lost connections, refusals and
/// signals: every line archived exactly once, published at most once, and
/// a resume line that `tail -n +N` takes when it stops short.
final class PublishResumeTests: XCTestCase {
    /// 200,000 lines through a proxy that cuts the link every 256 KB.
    func testStreamThroughRepeatedCutsIsArchivedExactlyOnce() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        let stream = try TestStream(count: 200_000)
        let room = "room:cut"
        let sub = try SubscriberDrain(own, channel: room)
        proxy.cutEvery(bytes: 256 * 1024)
        let r = try runPublisher(["publish", room, "-h", "127.0.0.1", "-p", String(proxy.port)], stdin: stream.path, timeout: 300)
        proxy.cutEvery(bytes: nil)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertGreaterThan(proxy.counters.linksCut, 20, "the stream was cut often: \(proxy.counters)")
        try assertArchivedOnce(own, key: "\(room):archive", stream: stream)
        XCTAssertEqual(r.stdout.split(separator: 0x0A).count, stream.count, "one receivers line per confirmed message")
        let received = sub.finish()
        XCTAssertEqual(received.count, Set(received).count, "no message reached the subscriber twice")
        XCTAssertEqual(Set(received), Set(stream.lines), "every executed batch reached the subscriber")
        XCTAssertTrue(r.stderr.contains("resumed"), "a note on the lost connections: \(r.stderr)")
    }

    /// 200,000 lines while a test thread runs `CLIENT KILL TYPE normal`
    /// every 100 ms.
    func testStreamThroughClientKillsIsArchivedExactlyOnce() throws {
        let own = try RedisServer()
        let stream = try TestStream(count: 200_000)
        let room = "room:killed"
        let sub = try SubscriberDrain(own, channel: room)
        let killer = Killer(own)
        let r = try runPublisher(["publish", room, "--json"] + own.socketArguments, stdin: stream.path, timeout: 300)
        let kills = killer.finish()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertGreaterThan(kills, 3, "CLIENT KILL hit the publisher")
        try assertArchivedOnce(own, key: "\(room):archive", stream: stream)
        let objects = r.stdout.split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
        XCTAssertEqual(objects.count, stream.count)
        XCTAssertEqual(Set(objects.compactMap { EnvelopeField.get("id", in: $0) }).count, stream.count, "one object per message, unique ids")
        for line in objects.prefix(3) + objects.suffix(3) { _ = try jsonObject(line) }
        let received = sub.finish()
        XCTAssertEqual(received.count, Set(received).count, "no message reached the subscriber twice")
        XCTAssertEqual(Set(received), Set(stream.lines), "every executed batch reached the subscriber")
    }

    /// A list backlog has no ids: the check reads the list's head.
    func testBacklogStreamThroughClientKillsIsPushedExactlyOnce() throws {
        let own = try RedisServer()
        let stream = try TestStream(count: 30_000)
        let room = "room:chatty"
        try own.run("LPUSH", "\(room):backlog", "before")
        let killer = Killer(own)
        let r = try runPublisher(["publish", room, "-q"] + own.socketArguments, stdin: stream.path, timeout: 300)
        let kills = killer.finish()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertGreaterThan(kills, 0)
        let list = try own.run("LRANGE", "\(room):backlog", "0", "-1").elements?.compactMap(\.string) ?? []
        XCTAssertEqual(list, stream.lines.reversed() + ["before"], "every line pushed once, in order")
        XCTAssertEqual(try own.run("EXISTS", "\(room):archive"), .integer(0))
    }

    /// A transaction that ran but whose reply the lost link took: the
    /// check finds it in the archive, so it is not sent again, and its
    /// receivers are unknown (`?`).
    func testTransactionThatRanBeforeTheCutIsNotSentAgain() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        let room = "room:ranit"
        let sub = try SubscriberDrain(own, channel: room)
        let p = try CLIProcess(["publish", room, "-h", "127.0.0.1", "-p", String(proxy.port)])
        p.write(Array("one\n".utf8))
        XCTAssertTrue(p.waitForLines(1))
        try runButLoseTheReply("two", publisher: p, proxy: proxy, server: own) {
            (try own.run("ZCARD", "\(room):archive").integer ?? 0) == 2
        }
        p.write(Array("three\n".utf8))
        p.closeInput()
        let r = p.wait(timeout: 30)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.text, "1\n?\n1\n", "two ran; its receivers went with the link")
        XCTAssertTrue(r.stderr.contains("was lost once and resumed"), r.stderr)
        XCTAssertEqual(sub.finish(), ["one", "two", "three"], "each once")
        let archived = try archivedMessages(own, key: "\(room):archive")
        XCTAssertEqual(archived, ["one", "two", "three"])
    }

    /// The old link's transaction is held up on its way (here by a second
    /// proxy) while the publisher comes back on a new link and checks: it
    /// is not in the archive, so it is sent again. Before the check, the
    /// publisher drops the old link (CLIENT KILL ID), so the held-up copy
    /// can no longer run when it arrives: published once.
    func testOldLinkHeldUpCannotRunAfterTheCheck() throws {
        let own = try RedisServer()
        let far = try FaultProxy(to: own)
        let near = try FaultProxy(targetPort: far.port)
        let room = "room:heldup"
        let sub = try SubscriberDrain(own, channel: room)
        let p = try CLIProcess(["publish", room, "-h", "127.0.0.1", "-p", String(near.port)])
        p.write(Array("one\n".utf8))
        XCTAssertTrue(p.waitForLines(1))
        far.freeze()
        let before = near.counters.bytesToServer
        p.write(Array("two\n".utf8))
        XCTAssertTrue(near.wait(timeout: 10) { $0.bytesToServer > before }, "two is on its way, held by the far proxy")
        usleep(100_000)
        try near.setTarget(port: own.port)
        near.cut()
        XCTAssertTrue(p.waitForLines(2, timeout: 20), "back on a new link, two sent again")
        far.thaw()
        usleep(300_000)  // the held-up copy reaches the server, which dropped its link
        p.write(Array("three\n".utf8))
        p.closeInput()
        let r = p.wait(timeout: 30)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.text, "1\n1\n1\n")
        XCTAssertEqual(sub.finish(), ["one", "two", "three"], "each once")
        XCTAssertEqual(try archivedMessages(own, key: "\(room):archive"), ["one", "two", "three"])
    }

    /// A server restarted at the same address without its data (another
    /// run_id): publish re-checks the lines it confirmed in the last 30
    /// seconds and sends them again; every line is archived once.
    func testRestartedServerGetsTheRecentLinesAgain() throws {
        let own = try RedisServer()
        let room = "room:restarted"
        let run = try PacedPublish(["publish", room] + own.socketArguments)
        XCTAssertTrue(run.waitForConfirmed(300), "300 lines confirmed")
        own.kill9()
        try own.start()
        let r = run.finish(linesAfter: 300)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try archivedMessages(own, key: "\(room):archive"), run.lines, "each line once, in order")
        let resent = try XCTUnwrap(r.stderr.split(separator: "\n").first { $0.contains("were sent again") }, r.stderr)
        XCTAssertGreaterThanOrEqual(Int(resent.split(separator: ";")[1].split(separator: " ")[0]) ?? 0, 300, String(resent))
        XCTAssertEqual(r.stdout.split(separator: 0x0A).count, run.written, "one receivers line per line, none twice")
        XCTAssertTrue(r.stderr.contains("receivers may see them twice"), r.stderr)
    }

    /// A script holds the server for a second and a half: meanwhile every
    /// transaction is answered BUSY and runs nothing. publish waits and
    /// sends it again on the same link: each line once.
    func testBusyServerIsWaitedFor() throws {
        let own = try RedisServer(extraArguments: ["--busy-reply-threshold", "50"])
        let stream = try TestStream(count: 2000)
        let room = "room:busy"
        let sub = try SubscriberDrain(own, channel: room)
        let p = try CLIProcess(["publish", room, "-q"] + own.socketArguments)
        p.write(Array(stream.text(1...1000).utf8))
        try waitUntil("the first half is archived", timeout: 30) { (try own.run("ZCARD", "\(room):archive").integer ?? 0) == 1000 }
        let script = """
            local t = redis.call('TIME'); local start = t[1] * 1000000 + t[2]
            while true do local n = redis.call('TIME'); if n[1] * 1000000 + n[2] - start > 1500000 then break end end
            return 1
            """
        let scriptDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? own.run("EVAL", script, "0")
            scriptDone.signal()
        }
        usleep(200_000)  // the script runs, past the busy threshold
        p.write(Array(stream.text(1001...1001).utf8))  // a batch alone: nothing queued behind it
        usleep(300_000)
        p.write(Array(stream.text(1002...2000).utf8))
        XCTAssertEqual(scriptDone.wait(timeout: .now() + 10), .success)
        p.closeInput()
        let r = p.wait(timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        let busy = try own.run("INFO", "errorstats").string ?? ""
        XCTAssertTrue(busy.contains("errorstat_BUSY"), "the server did answer BUSY: \(busy)")
        try assertArchivedOnce(own, key: "\(room):archive", stream: stream)
        XCTAssertEqual(sub.finish(), stream.lines, "each line once, in order")
    }

    /// A server with maxmemory and noeviction refuses mid-stream: exit 65,
    /// the archive holds exactly the lines before the resume line, and
    /// `tail -n +N` finishes the job.
    func testOutOfMemoryReportsTheResumeLine() throws {
        let own = try RedisServer(extraArguments: ["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"])
        let stream = try TestStream(count: 25_000)
        let room = "room:full"
        let r = try runPublisher(["publish", room] + own.socketArguments, stdin: stream.path, timeout: 120)
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertTrue(r.stderr.contains("OOM"), r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "one line: \(r.stderr)")
        let resume = try XCTUnwrap(resumeLine(r.stderr), r.stderr)
        XCTAssertGreaterThan(resume, 1)
        XCTAssertLessThan(resume, stream.count)
        XCTAssertTrue(r.stderr.contains("\(resume - 1) lines published and archived, none in doubt"), r.stderr)
        XCTAssertEqual(r.stdout.split(separator: 0x0A).count, resume - 1, "a line printed is a message confirmed")
        try assertArchivedOnce(own, key: "\(room):archive", stream: stream, through: resume - 1)

        try own.run("CONFIG", "SET", "maxmemory", "0")
        let rest = try bash("tail -n +\(resume) '\(stream.path)' | '\(CLIProcess.binary.path)' publish \(room) -q -s '\(own.socketPath)'")
        XCTAssertEqual(rest.stderr, "")
        try assertArchivedOnce(own, key: "\(room):archive", stream: stream)
    }

    /// The archive key turned into a string mid-stream: the batch after the
    /// switch is published but not archived (Redis does not roll back the
    /// PUBLISHes), the one queued behind it is discarded, never published;
    /// the report names the first line of the refused batch, as text on
    /// stderr and as a JSON summary on stdout.
    func testWrongTypeMidStreamReportsTheResumeLine() throws {
        let own = try RedisServer()
        let stream = try TestStream(count: 6_030)
        let room = "room:switched"
        let key = "\(room):archive"
        let sub = try SubscriberDrain(own, channel: room)
        let p = try CLIProcess(["publish", room, "--json"] + own.socketArguments)
        p.write(Array(stream.text(1...5000).utf8))
        XCTAssertTrue(p.waitForLines(5000, timeout: 60), "the first 5000 lines are confirmed")
        let c = try own.connect()
        for cmd in [["MULTI"], ["RENAME", key, "saved"], ["SET", key, "not a sorted set"], ["EXEC"]] {
            try c.command(cmd.map { Array($0.utf8) }).check()
        }
        p.write(Array(stream.text(5001...6030).utf8))  // more than two batches, in one write
        p.closeInput()
        let r = p.wait(timeout: 60)
        XCTAssertEqual(r.status, 65, r.stderr)
        XCTAssertTrue(r.stderr.contains("archive key '\(key)' holds another type"), r.stderr)
        XCTAssertTrue(r.stderr.contains("5000 lines published and archived, none in doubt"), r.stderr)
        XCTAssertEqual(resumeLine(r.stderr), 5001, r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "one line: \(r.stderr)")
        let summary = try jsonObject(r.lines.last ?? "")
        XCTAssertEqual(summary["summary"] as? String, "refused")
        XCTAssertEqual(summary["exit_code"] as? Int, 65)
        XCTAssertEqual(summary["confirmed"] as? Int, 5000)
        XCTAssertEqual(summary["resume_line"] as? Int, 5001)
        XCTAssertTrue(summary["in_doubt"] is NSNull)
        XCTAssertEqual(r.lines.count, 5001, "5000 messages and the summary")
        let refused = try XCTUnwrap(summary["published_not_archived"] as? [Int])
        XCTAssertEqual(refused.first, 5001)
        let last = try XCTUnwrap(refused.last)
        XCTAssertLessThanOrEqual(last, 5512, "one batch refused")
        XCTAssertTrue(r.stderr.contains("lines 5001-\(last) were published but not archived"), r.stderr)
        XCTAssertEqual(sub.finish(), Array(stream.lines.prefix(last)), "nothing published after the refused batch")

        try c.command("DEL", key).check()
        try c.command("RENAME", "saved", key).check()
        let rest = try bash("tail -n +5001 '\(stream.path)' | '\(CLIProcess.binary.path)' publish \(room) -q -s '\(own.socketPath)'")
        XCTAssertEqual(rest.stderr, "")
        try assertArchivedOnce(own, key: key, stream: stream)
    }

    /// SIGINT while a large input flows: 130, and a resume line that is
    /// true of the archive.
    func testInterruptMidStreamGivesATrueResumeLine() throws {
        let own = try RedisServer()
        let stream = try TestStream(count: 60_000)
        let room = "room:interrupted"
        let key = "\(room):archive"
        let p = try startPublisher(["publish", room] + own.socketArguments, stdin: stream.path)
        try waitUntil("some lines are archived", timeout: 60) {
            (try own.run("ZCARD", key).integer ?? 0) >= 5000
        }
        kill(p.pid, SIGINT)
        let r = p.wait(timeout: 30)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertTrue(r.stderr.contains("interrupted"), r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "one line: \(r.stderr)")
        let resume = try XCTUnwrap(resumeLine(r.stderr), r.stderr)
        XCTAssertLessThan(resume, stream.count, "stopped mid-stream")
        XCTAssertEqual(r.stdout.split(separator: 0x0A).count, resume - 1)
        try assertArchivedOnce(own, key: key, stream: stream, through: resume - 1)

        let rest = try bash("tail -n +\(resume) '\(stream.path)' | '\(CLIProcess.binary.path)' publish \(room) -q -s '\(own.socketPath)'", timeout: 120)
        XCTAssertEqual(rest.stderr, "")
        try assertArchivedOnce(own, key: key, stream: stream)
    }

    /// SIGINT while publish waits for more input (`tail -f |`): 130, all
    /// confirmed, and the next line to publish.
    func testInterruptWhileWaitingForInput() throws {
        let room = freshRoom()
        let p = try CLIProcess(["publish", room, "-q"] + server.socketArguments)
        p.write(Array("one\ntwo\n".utf8))
        try waitUntil("both are archived", timeout: 10) { (try server.run("ZCARD", "\(room):archive").integer ?? 0) == 2 }
        p.signal(SIGTERM)
        let r = p.wait(timeout: 10)
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertEqual(r.stderr, "roomwarden: interrupted; 2 lines published and archived, none in doubt; resume with: tail -n +3\n")
    }

    /// SIGINT while the server does not answer: the batch in flight cannot
    /// be confirmed; within a few seconds it exits 130 and says it is in doubt.
    func testInterruptWhileTheServerIsStalledReportsTheBatchInDoubt() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        let p = try CLIProcess(["publish", "room:stalled", "-p", String(proxy.port)])
        p.write(Array("one\n".utf8))
        XCTAssertTrue(p.waitForLines(1))
        try own.pause()
        defer { try? own.resume() }
        let before = proxy.counters.bytesToServer
        p.write(Array("two\n".utf8))
        XCTAssertTrue(proxy.wait(timeout: 10) { $0.bytesToServer > before }, "two is sent")
        let started = Date()
        p.signal(SIGINT)
        let r = p.wait(timeout: 20)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 6, "the stalled reply does not hold the exit")
        XCTAssertTrue(r.stderr.hasPrefix("roomwarden: interrupted; 1 line published and archived; line 2 in doubt"), r.stderr)
        XCTAssertTrue(r.stderr.contains("resume with: tail -n +2 (line 2 may then be published twice)"), r.stderr)
        XCTAssertEqual(r.text, "0\n")
    }

    /// A server that stops answering for 2 s, with --timeout 1s: the reply
    /// that did not come is a lost link; publish reconnects, checks, and
    /// finishes once the server answers again, each line once. Stopped
    /// longer than --retry-for, it gives up after about --timeout plus
    /// --retry-for.
    func testServerThatStopsAnsweringIsWaitedOutWithinRetryFor() throws {
        let own = try RedisServer()
        let room = "room:stopped"
        let sub = try SubscriberDrain(own, channel: room)
        let address = ["-h", "127.0.0.1", "-p", String(own.port), "--timeout", "1s"]
        let p = try CLIProcess(["publish", room, "-q", "--retry-for", "10s"] + address)
        p.write(Array("one\n".utf8))
        try waitUntil("one is archived", timeout: 10) { (try own.run("ZCARD", "\(room):archive").integer ?? 0) == 1 }
        try own.pause()
        p.write(Array("two\n".utf8))
        usleep(2_000_000)
        try own.resume()
        p.write(Array("three\n".utf8))
        p.closeInput()
        let r = p.wait(timeout: 30)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("was lost"), r.stderr)
        XCTAssertEqual(sub.finish(), ["one", "two", "three"])
        XCTAssertEqual(try archivedMessages(own, key: "\(room):archive"), ["one", "two", "three"])

        let q = try CLIProcess(["publish", room, "-q", "--retry-for", "2s"] + address)
        q.write(Array("four\n".utf8))
        try waitUntil("four is archived", timeout: 10) { (try own.run("ZCARD", "\(room):archive").integer ?? 0) == 4 }
        try own.pause()
        defer { try? own.resume() }
        let started = Date()
        q.write(Array("five\n".utf8))
        let gaveUp = q.wait(timeout: 30)
        let took = Date().timeIntervalSince(started)
        XCTAssertEqual(gaveUp.status, 69, gaveUp.stderr)
        XCTAssertGreaterThan(took, 2.9, "--timeout then --retry-for")
        XCTAssertLessThan(took, 8, "about --timeout + --retry-for (+ one more --timeout)")
        XCTAssertTrue(gaveUp.stderr.hasPrefix("roomwarden: Redis at 127.0.0.1:\(own.port) did not answer for 1s while publishing to \(room)"), gaveUp.stderr)
        XCTAssertTrue(gaveUp.stderr.contains("not back within --retry-for 2s"), gaveUp.stderr)
        XCTAssertTrue(gaveUp.stderr.contains("1 line published and archived; line 2 in doubt"), gaveUp.stderr)
    }

    /// The server goes away for good: after --retry-for, exit 69 with the
    /// count and the resume line.
    func testServerGoneForLongerThanRetryForExits69() throws {
        let own = try RedisServer()
        let p = try CLIProcess(["publish", "room:gone", "-q", "--retry-for", "1s"] + own.socketArguments)
        p.write(Array("one\n".utf8))
        try waitUntil("the first line is archived", timeout: 10) {
            (try own.run("ZCARD", "room:gone:archive").integer ?? 0) == 1
        }
        own.stop()
        let started = Date()
        p.write(Array("two\nthree\n".utf8))
        p.closeInput()
        let r = p.wait(timeout: 30)
        XCTAssertEqual(r.status, 69, r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "gave up after about --retry-for")
        XCTAssertTrue(r.stderr.contains("publishing to room:gone"), r.stderr)
        XCTAssertTrue(r.stderr.contains("not back within --retry-for 1s"), r.stderr)
        XCTAssertTrue(r.stderr.contains("1 line published and archived"), r.stderr)
        XCTAssertEqual(resumeLine(r.stderr), 2, r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
    }

    /// A link that breaks before anything is published (here after 40
    /// bytes, in the first look at the archive) is retried too, within
    /// --retry-for; then it says nothing was published.
    func testLinkLostBeforePublishingIsRetriedThenReported() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        proxy.cutEvery(bytes: 40)
        let started = Date()
        let r = try roomwarden(["publish", "room:early", "hi", "--retry-for", "1s", "-p", String(proxy.port)])
        XCTAssertEqual(r.status, 69, r.stderr)
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 0.9, "it retried for --retry-for")
        XCTAssertGreaterThan(proxy.counters.linksAccepted, 2, "\(proxy.counters)")
        XCTAssertTrue(r.stderr.contains("before publishing to room:early"), r.stderr)
        XCTAssertTrue(r.stderr.hasSuffix("; not back within --retry-for 1s; nothing was published\n"), r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
        proxy.cutEvery(bytes: nil)
        XCTAssertEqual(try roomwarden(["publish", "room:early", "hi", "-p", String(proxy.port)]).status, 0)
    }

    /// `--retry-for 0` does not reconnect: what was in flight is in doubt,
    /// and says so.
    func testNoRetryReportsLinesInDoubt() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        let stream = try TestStream(count: 50_000)
        proxy.cutEvery(bytes: 512 * 1024)
        let r = try runPublisher(["publish", "room:once", "-q", "--retry-for", "0", "-p", String(proxy.port)],
                                 stdin: stream.path, timeout: 120)
        XCTAssertEqual(r.status, 69, r.stderr)
        XCTAssertTrue(r.stderr.contains("no retry (--retry-for 0)"), r.stderr)
        let resume = try XCTUnwrap(resumeLine(r.stderr), r.stderr)
        let doubt = try XCTUnwrap(r.stderr.range(of: #"lines \d+-\d+ in doubt"#, options: .regularExpression), r.stderr)
        XCTAssertTrue(r.stderr[doubt].hasPrefix("lines \(resume)-"), r.stderr)
        // The lines before the resume line are archived exactly once;
        // those in doubt are there or not, each at most once.
        let archived = try archivedMessages(own, key: "room:once:archive")
        XCTAssertEqual(Array(archived.prefix(resume - 1)), Array(stream.lines.prefix(resume - 1)))
        XCTAssertEqual(archived.count, Set(archived).count)
    }

    /// A line that stdin only half-delivers is published as soon as its
    /// newline comes: the receivers line shows up while stdin stays open.
    func testPausedInputIsPublishedAtOnce() throws {
        let room = freshRoom()
        let p = try CLIProcess(["publish", room] + server.socketArguments)
        p.write(Array("first\n".utf8))
        XCTAssertTrue(p.waitForLines(1, timeout: 10), "published while stdin is open")
        p.write(Array("second\n".utf8))
        XCTAssertTrue(p.waitForLines(2, timeout: 10))
        p.closeInput()
        XCTAssertEqual(p.wait().status, 0)
        XCTAssertEqual(try server.run("ZCARD", "\(room):archive"), .integer(2))
    }

    // MARK: Helpers

    /// The line number after `resume with: tail -n +` (or `tail -z -n +`).
    private func resumeLine(_ stderr: String) -> Int? {
        guard let r = stderr.range(of: #"resume with: tail (-z )?-n \+\d+"#, options: .regularExpression) else { return nil }
        return Int(stderr[r].split(separator: "+").last ?? "")
    }

    /// Checks that the archive at `key` holds lines 1...through of the
    /// stream (all of it by default) exactly once each, with unique ids,
    /// read on a connection of its own.
    private func assertArchivedOnce(_ own: RedisServer, key: String, stream: TestStream, through: Int? = nil,
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        let n = through ?? stream.count
        let members = try own.run("ZRANGE", key, "0", "-1").elements?.compactMap(\.string) ?? []
        XCTAssertEqual(members.count, n, "archive size", file: file, line: line)
        let ids = members.compactMap { EnvelopeField.get("id", in: $0) }
        XCTAssertEqual(Set(ids).count, n, "unique ids", file: file, line: line)
        let messages = members.compactMap { EnvelopeField.get("message", in: $0) }
        XCTAssertEqual(messages, Array(stream.lines.prefix(n)), "each line once, in order", file: file, line: line)
        for m in members.prefix(3) { _ = try jsonObject(m) }  // the format itself is checked elsewhere
    }

    private func archivedMessages(_ own: RedisServer, key: String) throws -> [String] {
        let members = try own.run("ZRANGE", key, "0", "-1").elements?.compactMap(\.string) ?? []
        return members.compactMap { EnvelopeField.get("message", in: $0) }
    }

    private func waitUntil(_ what: String, timeout: TimeInterval, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? condition()) == true { return }
            usleep(10_000)
        }
        throw FixtureError("timed out waiting until \(what)")
    }
}

/// Makes the server run `line` while the publisher never gets the reply:
/// the server stops, the line reaches it through `proxy`, the proxy then
/// holds every byte back, the server runs again (until `ran` holds), and
/// the link is cut; new links pass again.
func runButLoseTheReply(_ line: String, publisher p: CLIProcess, proxy: FaultProxy, server: RedisServer,
                        ran: () throws -> Bool) throws {
    try server.pause()
    let before = proxy.counters.bytesToServer
    p.write(Array((line + "\n").utf8))
    guard proxy.wait(timeout: 10, until: { $0.bytesToServer > before }) else {
        try server.resume()
        throw FixtureError("the transaction did not reach the server")
    }
    usleep(100_000)  // all of it: one small write
    proxy.freeze()
    try server.resume()
    let deadline = Date().addingTimeInterval(10)
    while (try? ran()) != true {
        if Date() > deadline { throw FixtureError("the transaction did not run") }
        usleep(10_000)
    }
    proxy.cut()
    proxy.thaw()
}

/// Numbered, distinct lines in a temp file.
struct TestStream {
    let lines: [String]
    let path: String
    var count: Int { lines.count }

    init(count: Int) throws {
        lines = (1...count).map { String(format: "line %06d of the stream, with some ordinary chat text", $0) }
        path = FileManager.default.temporaryDirectory.appendingPathComponent("roomwarden-stream-\(UUID().uuidString.prefix(8))").path
        try Data(text(1...count).utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Lines `range` (1-based), each with its newline.
    func text(_ range: ClosedRange<Int>) -> String {
        lines[(range.lowerBound - 1)..<range.upperBound].map { $0 + "\n" }.joined()
    }
}

/// Pulls one field's string out of an envelope the tests wrote themselves
/// (plain ASCII, no escapes): fast enough for 200,000 members.
enum EnvelopeField {
    static func get(_ name: String, in json: String) -> String? {
        guard let start = json.range(of: "\"\(name)\":\"") else { return nil }
        guard let end = json[start.upperBound...].firstIndex(of: "\"") else { return nil }
        return String(json[start.upperBound..<end])
    }
}

/// A subscriber on a thread of its own, straight to the server, collecting
/// every payload until `finish`.
final class SubscriberDrain {
    private let lock = NSLock()
    private var payloads: [String] = []
    private var stopping = false
    private let done = DispatchSemaphore(value: 0)

    init(_ server: RedisServer, channel: String) throws {
        let sub = try Subscriber(server, channels: [channel])
        Thread.detachNewThread { [self] in
            var quietSince = Date()
            let limit = Date().addingTimeInterval(600)
            while Date() < limit {
                if let m = try? sub.next(timeout: 0.1) {
                    lock.lock(); payloads.append(String(decoding: m.payload, as: UTF8.self)); lock.unlock()
                    quietSince = Date()
                } else {
                    lock.lock(); let stop = stopping; lock.unlock()
                    if stop && Date().timeIntervalSince(quietSince) > 1 { break }
                }
            }
            done.signal()
        }
    }

    /// Waits until nothing came for a second and returns what came.
    func finish() -> [String] {
        lock.lock(); stopping = true; lock.unlock()
        _ = done.wait(timeout: .now() + 60)
        lock.lock(); defer { lock.unlock() }
        return payloads
    }
}

/// A test thread that runs `CLIENT KILL TYPE normal` every 100 ms (for at
/// most five minutes) until `finish`; counts the clients it killed.
final class Killer {
    private let lock = NSLock()
    private var stopping = false
    private var killed = 0
    private let done = DispatchSemaphore(value: 0)

    init(_ server: RedisServer) {
        Thread.detachNewThread { [self] in
            let limit = Date().addingTimeInterval(300)
            while Date() < limit {
                lock.lock(); let stop = stopping; lock.unlock()
                if stop { break }
                if let n = try? server.run("CLIENT", "KILL", "TYPE", "normal").integer {
                    lock.lock(); killed += Int(n); lock.unlock()
                }
                usleep(100_000)
            }
            done.signal()
        }
    }

    /// Stops killing; returns how many clients were killed.
    func finish() -> Int {
        lock.lock(); stopping = true; lock.unlock()
        _ = done.wait(timeout: .now() + 10)
        lock.lock(); defer { lock.unlock() }
        return killed
    }
}

/// The binary started by bash's `exec` with stdin from a file (so the pid
/// is roomwarden's own), stdout and stderr to files.
final class FilePublisher {
    let process = Process()
    let directory: URL
    var pid: pid_t { process.processIdentifier }

    init(_ arguments: [String], stdin: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("roomwarden-pub-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let quoted = ([CLIProcess.binary.path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "exec \(quoted.joined(separator: " ")) < '\(stdin)' > '\(directory.path)/out' 2> '\(directory.path)/err'"]
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        try process.run()
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Waits for the exit (SIGKILL after `timeout` s) and reads the output.
    func wait(timeout: TimeInterval) -> PublishRun {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let out = (try? Data(contentsOf: directory.appendingPathComponent("out"))) ?? Data()
        let err = (try? String(contentsOf: directory.appendingPathComponent("err"), encoding: .utf8)) ?? ""
        return PublishRun(status: process.terminationStatus, stdout: [UInt8](out), stderr: err)
    }
}

/// What a publisher run left: its exit status and output.
struct PublishRun {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String
}

func startPublisher(_ arguments: [String], stdin: String) throws -> FilePublisher {
    try FilePublisher(arguments, stdin: stdin)
}

func runPublisher(_ arguments: [String], stdin: String, timeout: TimeInterval) throws -> PublishRun {
    try FilePublisher(arguments, stdin: stdin).wait(timeout: timeout)
}
