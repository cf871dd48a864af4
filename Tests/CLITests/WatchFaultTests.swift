import Foundation
import Hiredis
import RedisFixture
import XCTest

/// `watch` and `history --follow` under faults (#11): a frozen link, a cut
/// link, killed connections, a stopped server, a stdout nobody reads,
/// repeated subscriptions. Each asserts the exit code, a bound on the time
/// from the fault, and exact counts of what was printed, archived and
/// reported lost. The figures measured are printed (`fault to ...`).
final class WatchFaultTests: XCTestCase {
    private func tcp(_ port: Int) -> [String] { ["-h", "127.0.0.1", "-p", String(port)] }

    // MARK: 2. Signals end the process whatever it is blocked on

    /// `watch > fifo` whose reader never reads: the write to stdout never
    /// returns, yet SIGTERM and SIGINT end it within a second with 143 and
    /// 130 (it used to hang, then exit 0 once the reader went away).
    func testSignalsEndAWatchBlockedWritingToAFifoNobodyReads() throws {
        for (sig, code) in [(SIGTERM, Int32(143)), (SIGINT, Int32(130))] {
            let room = freshRoom()
            let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("rw-fifo-\(UUID().uuidString.prefix(8))").path
            XCTAssertEqual(mkfifo(fifo, 0o600), 0)
            defer { unlink(fifo) }
            let reader = open(fifo, O_RDONLY | O_NONBLOCK)  // never reads
            defer { close(reader) }
            let before = try server.subscriptionCount()
            let watch = Process()
            watch.executableURL = CLIProcess.binary
            watch.arguments = ["watch", "\(room)*"] + server.socketArguments
            watch.standardOutput = try XCTUnwrap(FileHandle(forWritingAtPath: fifo))
            watch.standardError = FileHandle.nullDevice
            try watch.run()
            let subscribing = Date().addingTimeInterval(10)
            while try server.subscriptionCount() <= before && Date() < subscribing { usleep(10_000) }
            let line = [UInt8](repeating: UInt8(ascii: "x"), count: 1000)
            for _ in 0..<300 { try server.publish(room, line) }  // 300 KB: far more than the pipe holds
            usleep(500_000)
            XCTAssertTrue(watch.isRunning, "blocked writing, not gone")
            let signalled = Date()
            kill(watch.processIdentifier, sig)
            let deadline = Date().addingTimeInterval(10)
            while watch.isRunning && Date() < deadline { usleep(2_000) }
            let took = Date().timeIntervalSince(signalled)
            if watch.isRunning { kill(watch.processIdentifier, SIGKILL) }
            watch.waitUntilExit()
            XCTAssertEqual(watch.terminationStatus, code)
            XCTAssertLessThan(took, 1.5, "ends within a second of the signal (slack for a loaded machine)")
            print("fault to exit, signal \(sig) while writing to a full fifo: \(String(format: "%.2f", took))s")
        }
    }

    /// `watch --archive` with only the archive link frozen: printing goes
    /// on, SIGTERM ends it at once, and what was not archived is counted.
    func testSignalEndsAWatchWhoseArchiveLinkIsFrozen() throws {
        let (own, proxies, p) = try watchWithAFrozenArchiveLink(["--format", "{message}"])
        defer { proxies.forEach { $0.thaw() } }
        for m in ["one", "two", "three"] { try own.publish("room:a", Array(m.utf8)) }
        XCTAssertTrue(p.waitForLines(3), "printing does not wait for the archive: \(p.stderrSoFar)")
        XCTAssertTrue(proxies[1].wait { $0.linksAccepted >= 1 }, "the archive link went to the frozen proxy")
        usleep(200_000)
        let (r, took) = interrupt(p, SIGTERM)
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertLessThan(took, 1.5)
        XCTAssertEqual(r.lines, ["one", "two", "three"])
        XCTAssertEqual(lostCounts(r.stderr, after: "--archive: "), 3, r.stderr)
        XCTAssertTrue(r.stderr.contains("not archived: the watch ended before the archive link took them"), r.stderr)
        XCTAssertEqual(try own.run("ZCARD", "room:a:archive"), .integer(0))
        print("fault to exit, SIGTERM with the archive link frozen: \(String(format: "%.2f", took))s")
    }

    /// The same without a signal: `-n` ends the watch, and what the frozen
    /// archive link did not take within `--timeout` is counted.
    func testAFrozenArchiveLinkIsGivenUpAfterTheTimeoutWithACount() throws {
        let (own, proxies, p) = try watchWithAFrozenArchiveLink(["-n", "2", "--timeout", "1s"])
        defer { proxies.forEach { $0.thaw() } }
        try own.publish("room:a", Array("one".utf8))
        try own.publish("room:a", Array("two".utf8))
        XCTAssertTrue(p.waitForLines(2))
        let counted = Date()
        let r = p.wait(timeout: 15)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(counted), 3.5, "--timeout 1s, not forever")
        XCTAssertEqual(lostCounts(r.stderr, after: "--archive: "), 2, r.stderr)
    }

    /// `history --follow` blocked reading the archive from a frozen link.
    func testSignalEndsHistoryFollowBlockedReadingTheArchive() throws {
        let own = try RedisServer()
        let total = 150_000
        let c = try own.connect()
        for start in stride(from: 0, to: total, by: 1000) {
            var zadd: [[UInt8]] = [Array("ZADD".utf8), Array("room:big:archive".utf8)]
            for i in start..<(start + 1000) {
                zadd.append(Array(String(1_795_300_000_000 + i).utf8))
                zadd.append(Array("old entry \(i) padded out to look like a chat line".utf8))
            }
            try c.append(zadd)
        }
        XCTAssertEqual(try c.readReplies(total / 1000).count, total / 1000)
        let proxy = try FaultProxy(to: own)
        let p = try CLIProcess(["history", "room:big", "--follow"] + tcp(proxy.port))
        XCTAssertTrue(p.waitForLines(1, timeout: 20))
        proxy.freeze()
        defer { proxy.thaw() }
        usleep(300_000)
        let printed = p.stdoutSoFar.lazy.filter { $0 == 0x0A }.count
        XCTAssertLessThan(printed, total, "frozen in the middle of the archive")
        let (r, took) = interrupt(p, SIGINT)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertLessThan(took, 1.5)
        print("fault to exit, SIGINT with history --follow blocked reading a frozen archive link: \(String(format: "%.2f", took))s")
    }

    /// `history --follow` waiting for the server to run its handoff marker
    /// (writes paused): the archive is printed, SIGINT ends it at once.
    func testSignalEndsHistoryFollowWaitingForItsMarker() throws {
        let own = try RedisServer()
        try own.run("ZADD", "room:p:archive", "1795300000000", "kept")
        try own.run("CLIENT", "PAUSE", "10000", "WRITE")
        defer { _ = try? own.run("CLIENT", "UNPAUSE") }
        let p = try startWatch(["room:p", "--follow", "--format", "{message}"], on: own, subscriptions: 2, command: ["history"])
        XCTAssertTrue(p.waitForLines(1), p.stderrSoFar)
        let (r, took) = interrupt(p, SIGINT)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertLessThan(took, 1.5)
        XCTAssertEqual(r.lines, ["kept"])
    }

    // MARK: 3. Loss reports are true

    /// The link freezes for 4 s while a ticker publishes every 100 ms: the
    /// reported span runs from the last byte heard to the new
    /// subscription's confirmation, and holds every message not printed.
    func testAFrozenLinkIsReportedWithTheSpanThatHoldsEveryLostMessage() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        let p = try startWatch(["room:tick", "--heartbeat", "1s", "--format", "{message}"], on: own, address: tcp(proxy.port))
        let ticker = try Ticker(own, channel: "room:tick", every: 0.1)
        usleep(1_000_000)
        proxy.freeze()
        let frozenAt = Date()
        usleep(4_000_000)
        proxy.thaw()
        let thawedAt = Date()
        XCTAssertTrue(p.waitForStderr("reconnected", timeout: 10), p.stderrSoFar)
        let reportedAfter = Date().timeIntervalSince(thawedAt)
        usleep(1_000_000)
        let sent = ticker.stop()
        usleep(300_000)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertEqual(Set(r.lines).count, r.lines.count, "each message once")
        let printed = Set(r.lines)
        let lost = sent.filter { !printed.contains($0.text) }
        XCTAssertEqual(printed.count + lost.count, sent.count)
        XCTAssertTrue(printed.isSubset(of: Set(sent.map(\.text))))
        let notices = r.stderr.split(separator: "\n")
        XCTAssertEqual(notices.count, 2, r.stderr)
        XCTAssertTrue(notices.first?.contains("lost the connection") ?? false, r.stderr)
        let span = try XCTUnwrap(Self.reportedSpan(r.stderr), r.stderr)
        // Every lost message was published inside the span...
        for m in lost {
            XCTAssertGreaterThanOrEqual(m.after, span.from, "\(m.text) lost before the span: \(r.stderr)")
            XCTAssertLessThanOrEqual(m.before, span.to, "\(m.text) lost after the span: \(r.stderr)")
        }
        // ...and the span holds nothing else (the confirmation may follow
        // the server's subscription by a millisecond).
        let inside = sent.filter { $0.before >= span.from && $0.after <= span.to }
        XCTAssertLessThanOrEqual(inside.count - lost.count, 1)
        XCTAssertGreaterThanOrEqual(lost.count, 35, "about 4 s of ticks were lost")
        XCTAssertGreaterThan(span.to.timeIntervalSince(span.from), 3.5)
        XCTAssertLessThan(span.to.timeIntervalSince(span.from), 5.5)
        XCTAssertLessThan(span.from.timeIntervalSince(frozenAt), 0.2)
        XCTAssertLessThan(reportedAfter, 2, "reported soon after the link is back")
        print("fault to true report, frozen link 4s (ticks every 100ms): \(lost.count) lost, span \(String(format: "%.2f", span.to.timeIntervalSince(span.from)))s, reported \(String(format: "%.2f", reportedAfter))s after the thaw")
    }

    /// A SIGSTOPped server accepts connections but confirms nothing:
    /// "reconnected" comes only once it answers again.
    func testAStoppedServerIsNotReportedBackUntilItConfirms() throws {
        let own = try RedisServer()
        let p = try startWatch(["room:*", "--heartbeat", "500ms", "--connect-timeout", "1s", "--format", "{message}"], on: own)
        try own.publish("room:s", Array("before".utf8))
        XCTAssertTrue(p.waitForLines(1))
        try own.pause()
        let stoppedAt = Date()
        XCTAssertTrue(p.waitForStderr("lost the connection", timeout: 5), p.stderrSoFar)
        usleep(4_000_000)
        XCTAssertFalse(p.stderrSoFar.contains("reconnected"), "not while it is stopped: \(p.stderrSoFar)")
        try own.resume()
        let resumedAt = Date()
        XCTAssertTrue(p.waitForStderr("reconnected", timeout: 10), p.stderrSoFar)
        let reportedAfter = Date().timeIntervalSince(resumedAt)
        let r = try publishAfterAndEnd(p, on: own, room: "room:s", with: SIGTERM)
        let span = try XCTUnwrap(Self.reportedSpan(r.stderr), r.stderr)
        XCTAssertLessThanOrEqual(span.from, stoppedAt.addingTimeInterval(0.05))
        XCTAssertGreaterThan(span.from, stoppedAt.addingTimeInterval(-1.5))
        XCTAssertGreaterThanOrEqual(span.to, resumedAt.addingTimeInterval(-0.05))
        XCTAssertLessThan(reportedAfter, 3)
        print("fault to true report, server stopped 5s: reconnected \(String(format: "%.2f", reportedAfter))s after SIGCONT")
    }

    /// A cut link (closed, not silent) is noticed at once and reported the
    /// same way.
    func testACutLinkIsReportedAndWatchingGoesOn() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        let p = try startWatch(["room:*", "--format", "{message}"], on: own, address: tcp(proxy.port))
        try own.publish("room:c", Array("before".utf8))
        XCTAssertTrue(p.waitForLines(1))
        proxy.cut()
        XCTAssertTrue(p.waitForStderr("reconnected", timeout: 10), p.stderrSoFar)
        _ = try publishAfterAndEnd(p, on: own, room: "room:c", with: SIGINT)
    }

    // MARK: 4. Overlapping subscriptions print each message once

    func testRepeatedSubscriptionsPrintEveryMessageOnce() throws {
        let room = freshRoom()
        for args in [["\(room)*", "\(room)*"], ["-c", room, "-c", room]] {
            let p = try startWatch(args + ["-n", "5", "--wait", "5s", "--format", "{message}"])
            XCTAssertEqual(try server.publish(room, Array("same".utf8)), 1, "Redis holds a repeated subscription once")
            for _ in 0..<3 { try server.publish(room, Array("same".utf8)) }
            try server.publish(room, Array("other".utf8))
            let r = p.wait()
            XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)")
            XCTAssertEqual(r.lines, ["same", "same", "same", "same", "other"], "\(args)")
        }
    }

    /// `room:[a-]` is the range a..] for Redis: `_` matches it, `-` does not.
    func testOverlapFollowsRedisOwnGlob() throws {
        let room = freshRoom()
        let p = try startWatch(["\(room):*", "\(room):[a-]", "-n", "4", "--wait", "5s", "--format", "{channel} {message}"], subscriptions: 2)
        XCTAssertEqual(try server.publish("\(room):_", Array("m1".utf8)), 2)
        XCTAssertEqual(try server.publish("\(room):_", Array("m1".utf8)), 2)
        XCTAssertEqual(try server.publish("\(room):-", Array("m1".utf8)), 1)
        XCTAssertEqual(try server.publish("\(room):-", Array("m1".utf8)), 1)
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["\(room):_ m1", "\(room):_ m1", "\(room):- m1", "\(room):- m1"])
    }

    // MARK: 5. --archive through connection kills

    /// Publish, then CLIENT KILL TYPE normal (the archive link), 30 times:
    /// every message printed and archived exactly once, none reported lost.
    func testArchiveKeepsEveryMessageThroughConnectionKills() throws {
        let own = try RedisServer()
        let p = try startWatch(["room:k", "--archive", "-n", "30", "--format", "{message}"], on: own)
        let admin = try own.connect()
        var killed = 0
        for i in 0..<30 {
            try own.publish("room:k", Array("m\(i)".utf8))
            usleep(UInt32(i % 3) * 5_000)
            killed += Int(try admin.command("CLIENT", "KILL", "TYPE", "normal").integer ?? 0)
        }
        let r = p.wait(timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, (0..<30).map { "m\($0)" })
        XCTAssertGreaterThan(killed, 0, "the archive link was killed")
        let members = try own.run("ZRANGE", "room:k:archive", "0", "-1").elements ?? []
        let archived = try members.map { try jsonObject($0.string ?? "")["message"] as? String ?? "?" }
        XCTAssertEqual(archived.sorted(), (0..<30).map { "m\($0)" }.sorted(), "each once: \(r.stderr)")
        XCTAssertFalse(r.stderr.contains("not archived"), r.stderr)
        print("--archive through \(killed) connection kills: printed \(r.lines.count), archived \(archived.count)")
    }

    /// A message its publisher archived already is not archived again.
    func testArchiveDoesNotDuplicateWhatThePublisherArchived() throws {
        let room = freshRoom()
        let p = try startWatch([room, "--archive", "-n", "2", "--format", "{message}"])
        XCTAssertEqual(try rw(["publish", room, "once", "-q"]).status, 0)
        try server.publish(room, Array("unarchived".utf8))
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["once", "unarchived"])
        let members = try server.run("ZRANGE", "\(room):archive", "0", "-1").elements ?? []
        XCTAssertEqual(try members.map { try jsonObject($0.string ?? "")["message"] as? String ?? "?" }.sorted(), ["once", "unarchived"])
    }

    // MARK: 6. history --follow hands off exactly

    /// The issue's reproduction: a live message equal to one in the archive,
    /// published after the follow started, is printed.
    func testFollowPrintsALiveMessageEqualToAnArchivedOne() throws {
        let room = freshRoom()
        XCTAssertEqual(try rw(["publish", room, "ok", "-q"]).status, 0)
        usleep(300_000)
        let p = try startWatch([room, "--follow", "--format", "{message}"], subscriptions: 2, command: ["history"])
        XCTAssertTrue(p.waitForLines(1))
        usleep(300_000)
        XCTAssertEqual(try rw(["publish", room, "ok", "-q"]).status, 0)
        XCTAssertEqual(try rw(["publish", room, "after", "-q"]).status, 0)
        XCTAssertTrue(p.waitForLines(3))
        p.signal(SIGINT)
        let r = p.wait()
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertEqual(r.lines, ["ok", "ok", "after"])
        XCTAssertEqual(r.stderr, "")
    }

    /// Where the ACL forbids the marker's channel, the handoff falls back
    /// to time and says so.
    func testFollowFallsBackToTimeWhenTheACLForbidsTheMarker() throws {
        let room = freshRoom()
        let user = "follower\(UUID().uuidString.prefix(6))"
        try server.run("ACL", "SETUSER", user, "on", ">pw", "resetchannels", "&room:*", "~room:*", "+@all")
        defer { _ = try? server.run("ACL", "DELUSER", user) }
        XCTAssertEqual(try rw(["publish", room, "old", "-q"]).status, 0)
        let p = try startWatch([room, "--follow", "--user", user, "--format", "{message}"], env: ["REDISCLI_AUTH": "pw"], command: ["history"])
        XCTAssertTrue(p.waitForLines(1))
        XCTAssertTrue(p.waitForStderr("falling back to a time-based handoff"), p.stderrSoFar)
        XCTAssertEqual(try rw(["publish", room, "new", "-q"]).status, 0)
        XCTAssertTrue(p.waitForLines(2))
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertEqual(r.lines, ["old", "new"])
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("NOPERM"), r.stderr)
    }

    // MARK: Helpers

    /// `watch room:a --archive` on a server of its own, through a proxy:
    /// its subscription link works, while its archive link (opened with the
    /// first message) lands on a second proxy, frozen. The proxies are
    /// returned (the frozen one second) to be thawed.
    private func watchWithAFrozenArchiveLink(_ args: [String]) throws -> (RedisServer, [FaultProxy], CLIProcess) {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        let frozen = try FaultProxy(to: own)
        frozen.freeze()
        let p = try startWatch(["room:a", "--archive"] + args, on: own, address: tcp(proxy.port))
        try proxy.setTarget(port: frozen.port)
        return (own, [proxy, frozen], p)
    }

    /// After `before` was printed and the link lost and regained: publishes
    /// `after`, ends the watch with `sig`, and checks that both were
    /// printed once, the exit code, and the two notices (lost, regained).
    private func publishAfterAndEnd(_ p: CLIProcess, on own: RedisServer, room: String, with sig: Int32,
                                    file: StaticString = #filePath, line: UInt = #line) throws -> CLIResult {
        try own.publish(room, Array("after".utf8))
        XCTAssertTrue(p.waitForLines(2), file: file, line: line)
        let (r, _) = interrupt(p, sig)
        XCTAssertEqual(r.status, 128 + sig, r.stderr, file: file, line: line)
        XCTAssertEqual(r.lines, ["before", "after"], file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 2, r.stderr, file: file, line: line)
        return r
    }

    /// Sends `sig` and waits for the exit: the result, and the seconds
    /// from the signal to the exit.
    private func interrupt(_ p: CLIProcess, _ sig: Int32) -> (CLIResult, TimeInterval) {
        let signalled = Date()
        p.signal(sig)
        let r = p.wait(timeout: 10)
        return (r, Date().timeIntervalSince(signalled))
    }

    /// The span of the "reconnected ... between A and B" notice.
    static func reportedSpan(_ stderr: String) -> (from: Date, to: Date)? {
        guard let m = stderr.range(of: #"between (\S+) and (\S+) (to \S+ \(no archive\) )?were not received"#, options: .regularExpression) else { return nil }
        let words = stderr[m].split(separator: " ")
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard words.count >= 4, let from = f.date(from: String(words[1])), let to = f.date(from: String(words[3])) else { return nil }
        return (from, to)
    }
}

/// Publishes `tick N` to a channel every `interval` seconds on its own
/// thread (at most 60 s), noting the wall-clock time before and after
/// each PUBLISH.
final class Ticker {
    struct Sent {
        var text: String
        var before: Date
        var after: Date
    }

    private let lock = NSLock()
    private var sent: [Sent] = []
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(_ server: RedisServer, channel: String, every interval: TimeInterval) throws {
        let c = try server.connect()
        Thread.detachNewThread { [self] in
            defer { done.signal() }
            let started = Date()
            var i = 0
            while Date().timeIntervalSince(started) < 60 {
                lock.lock(); let stop = stopped; lock.unlock()
                if stop { break }
                let text = "tick \(i)"
                let before = Date()
                guard (try? c.command([Array("PUBLISH".utf8), Array(channel.utf8), Array(text.utf8)])) != nil else { break }
                lock.lock(); sent.append(Sent(text: text, before: before, after: Date())); lock.unlock()
                i += 1
                usleep(UInt32(interval * 1_000_000))
            }
        }
    }

    /// Stops and returns what was published.
    func stop() -> [Sent] {
        lock.lock(); stopped = true; lock.unlock()
        _ = done.wait(timeout: .now() + 5)
        lock.lock(); defer { lock.unlock() }
        return sent
    }
}
