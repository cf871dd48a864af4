import Foundation
import Hiredis
import RedisFixture
@testable import RoomWardenKit
import XCTest

/// The pieces of publish that decide without a full run: batches cut in
/// halves, the back-off, the backlog check, the stop report.
final class PublishUnitTests: XCTestCase {
    private func batch(_ target: ArchiveTarget, lines: [String], firstLine: Int = 1, maxLength: Int? = nil) -> PublishBatch {
        let plan = PublishPlan(channel: Array("room:t".utf8), target: target, retainMilliseconds: nil, maxLength: maxLength)
        var b = PublishBatch(plan: plan, firstLine: firstLine)
        for (i, line) in lines.enumerated() {
            Array(line.utf8).withUnsafeBytes { payload in
                b.add(payload: payload, ts: 1_000 + Int64(i)) { members in
                    members += Array(#"{"id":"id-\#(i)","message":"\#(line)"}"#.utf8)
                }
            }
        }
        return b
    }

    func testHalvesKeepEveryMessageAndItsLineNumber() throws {
        let whole = batch(.sortedSet(key: Array("k".utf8)), lines: ["a", "bb", "ccc", "dddd", "e"], firstLine: 41)
        let (first, second) = try XCTUnwrap(whole.halves())
        XCTAssertEqual([first.firstLine, first.lastLine, second.firstLine, second.lastLine], [41, 42, 43, 45])
        XCTAssertEqual((0..<second.count).map { String(decoding: second.payload($0), as: UTF8.self) }, ["ccc", "dddd", "e"])
        XCTAssertEqual(second.id(0).map { String(decoding: $0, as: UTF8.self) }, "id-2")
        XCTAssertEqual(second.ts, [1002, 1003, 1004])
        var encodedWhole = CommandBatch(), encodedHalves = CommandBatch()
        whole.encodeQueued(into: &encodedWhole)
        first.encodeQueued(into: &encodedHalves)
        second.encodeQueued(into: &encodedHalves)
        XCTAssertEqual(encodedWhole.count, 1 + 1 + 5, "MULTI, one ZADD, five PUBLISH (the engine adds EXEC)")
        XCTAssertEqual(encodedHalves.count, 2 * 2 + 5)
        XCTAssertEqual(whole.queuedReplies, 7)
        XCTAssertNil(batch(.none, lines: ["only"]).halves())
    }

    func testBackOffDoublesToItsCapWithJitter() {
        var policy = RetryPolicy(budgetMilliseconds: 30_000)
        policy.firstDelayMilliseconds = 100
        policy.maxDelayMilliseconds = 1000
        for _ in 0..<200 {
            XCTAssertTrue((50...100).contains(policy.delay(attempt: 1)))
            XCTAssertTrue((100...200).contains(policy.delay(attempt: 2)))
            XCTAssertTrue((500...1000).contains(policy.delay(attempt: 9)))
            XCTAssertTrue((500...1000).contains(policy.delay(attempt: 500)))
        }
        XCTAssertGreaterThan(Set((0..<50).map { _ in policy.delay(attempt: 5) }).count, 1, "jittered")
    }

    /// A reply that did not come in time (--timeout) is a lost link, like a
    /// closed one: reconnect and check. LOADING and the like: wait, send again.
    func testFailuresAreToldApart() {
        XCTAssertEqual(RedisError.timeout("no reply within 30s").disposition, .lostLink)
        XCTAssertEqual(RedisError.closed.disposition, .lostLink)
        XCTAssertEqual(RedisError.io("Connection reset by peer").disposition, .lostLink)
        XCTAssertEqual(RedisError.server("LOADING Redis is loading the dataset in memory").disposition, .busy)
        XCTAssertEqual(RedisError.server("WRONGTYPE Operation against a key holding the wrong kind of value").disposition, .refused)
        XCTAssertEqual(RedisError.server("OOM command not allowed when used memory > 'maxmemory'.").disposition, .refused)
        // Ran nothing, and the node is not the one: ask the topology, go there.
        for line in ["MOVED 3999 127.0.0.1:6381", "ASK 3999 127.0.0.1:6381", "READONLY You can't write against a read only replica."] {
            XCTAssertEqual(RedisError.server(line).disposition, .redirected, line)
        }
        for line in ["TRYAGAIN Multiple keys request during rehashing of slot", "CLUSTERDOWN The cluster is down"] {
            XCTAssertEqual(RedisError.server(line).disposition, .busy, line)
        }
    }

    /// The list's head decides: exactly one expectation must match.
    func testBacklogCheckReadsTheListHead() throws {
        let server = try RedisServer()
        let c = try server.connect()
        let key = Array("room:t:backlog".utf8)
        try c.command("RPUSH", "room:t:backlog", "x3", "x2", "x1", "x0", "older").check()
        let head = BacklogHead(entries: ["x3", "x2", "x1", "x0"].map { Array($0.utf8) }, maxLength: nil)
        let sent = [batch(.backlog(key: key), lines: ["a", "b"]), batch(.backlog(key: key), lines: ["c"], firstLine: 3)]
        XCTAssertEqual(try head.executedPrefix(of: sent, key: key, on: TransactionLink(connection: c, node: "", clientID: nil)), 0, "nothing pushed")
        try c.command("LPUSH", "room:t:backlog", "a", "b").check()
        XCTAssertEqual(try head.executedPrefix(of: sent, key: key, on: TransactionLink(connection: c, node: "", clientID: nil)), 1)
        try c.command("LPUSH", "room:t:backlog", "c").check()
        XCTAssertEqual(try head.executedPrefix(of: sent, key: key, on: TransactionLink(connection: c, node: "", clientID: nil)), 2)
        try c.command("LPUSH", "room:t:backlog", "someone else").check()
        XCTAssertNil(try head.executedPrefix(of: sent, key: key, on: TransactionLink(connection: c, node: "", clientID: nil)), "another writer pushed: cannot tell")

        // Trimmed to two: after "c" ran, the list is exactly [c, b].
        try c.command("DEL", "room:t:backlog").check()
        try c.command("RPUSH", "room:t:backlog", "c", "b").check()
        let trimmed = BacklogHead(entries: ["x1", "x0"].map { Array($0.utf8) }, maxLength: 2)
        XCTAssertEqual(try trimmed.executedPrefix(of: sent, key: key, on: TransactionLink(connection: c, node: "", clientID: nil)), 2)
        let alike = [batch(.backlog(key: key), lines: ["s"])]
        let sameHead = BacklogHead(entries: ["s", "s", "s", "s"].map { Array($0.utf8) }, maxLength: nil)
        try c.command("DEL", "room:t:backlog").check()
        try c.command("RPUSH", "room:t:backlog", "s", "s", "s", "s", "s", "s").check()
        XCTAssertNil(try sameHead.executedPrefix(of: alike, key: key, on: TransactionLink(connection: c, node: "", clientID: nil)), "identical payloads: cannot tell")
    }

    func testStopReportSaysWhatToDo() {
        let refused = PublishStopped(
            error: .data("archive key 'k' holds another type (WRONGTYPE ...); lines 5001-5100 were published but not archived"),
            outcome: "refused", confirmed: 5000, inDoubt: nil, publishedNotArchived: 5001...5100,
            resumeLine: 5001, archives: true)
        XCTAssertEqual(refused.line(resumeWith: "tail -n"),
                       "archive key 'k' holds another type (WRONGTYPE ...); lines 5001-5100 were published but not archived; "
                       + "5000 lines published and archived, none in doubt; "
                       + "resume with: tail -n +5001 (publishes lines 5001-5100 again; +5101 leaves them unarchived)")
        let lost = PublishStopped(error: .unreachable("lost it"), outcome: "connection_lost", confirmed: 1,
                                  inDoubt: 2...3, publishedNotArchived: nil, resumeLine: 2, archives: false)
        XCTAssertEqual(lost.line(resumeWith: "tail -z -n"),
                       "lost it; 1 line published; lines 2-3 in doubt (sent, but the connection was lost before Redis confirmed them); "
                       + "resume with: tail -z -n +2 (lines 2-3 may then be published twice)")
        let json = try? JSONSerialization.jsonObject(with: Data(lost.json())) as? [String: Any]
        XCTAssertEqual(json?["in_doubt"] as? [Int], [2, 3])
        XCTAssertEqual(json?["resume_line"] as? Int, 2)
        XCTAssertEqual(json?["summary"] as? String, "connection_lost")
    }

    /// One batch of one message at `ts`, under `plan`.
    private func single(_ plan: PublishPlan, ts: Int64, id: String) -> PublishBatch {
        var b = PublishBatch(plan: plan, firstLine: 1)
        Array(id.utf8).withUnsafeBytes { payload in
            b.add(payload: payload, ts: ts) { $0 += Array(#"{"id":"\#(id)","ts":\#(ts)}"#.utf8) }
        }
        return b
    }

    /// After a switch, a batch is missing when its newest envelope is not
    /// there, unless the publisher's own trims would have removed it by now.
    func testRecheckAfterASwitchMindsTheTrims() throws {
        let server = try RedisServer()
        let c = try server.connect()
        let link = TransactionLink(connection: c, node: "", clientID: nil)
        let key = Array("room:t:archive".utf8)
        func plan(retain: Int64? = nil, maxLength: Int? = nil) -> PublishPlan {
            PublishPlan(channel: Array("room:t".utf8), target: .sortedSet(key: key), retainMilliseconds: retain, maxLength: maxLength)
        }
        let present = single(plan(), ts: 5000, id: "a")
        try c.command([Array("ZADD".utf8), key, Array("5000".utf8), Array(present.member(0))]).check()
        try c.command("ZADD", "room:t:archive", "5001", "other").check()
        let lost = single(plan(), ts: 6000, id: "b")
        XCTAssertEqual(try PublishBatch.missing([present, lost], key: key, plan: plan(), on: link), [false, true])
        // --max-len 2, the archive full from 5000 on: 1000 was trimmed, 6000 is lost.
        let old = single(plan(maxLength: 2), ts: 1000, id: "c")
        XCTAssertEqual(try PublishBatch.missing([old, lost], key: key, plan: plan(maxLength: 2), on: link), [false, true])
        XCTAssertEqual(try PublishBatch.missing([old, lost], key: key, plan: plan(maxLength: 3), on: link), [true, true],
                       "not full: nothing was trimmed")
        // --retain 100ms: 1000 is older than that before the newest batch.
        XCTAssertEqual(try PublishBatch.missing([old, lost], key: key, plan: plan(retain: 100), on: link), [false, true])
    }

    /// The window of confirmed batches keeps the newest, within its age,
    /// count and byte limits.
    func testRecentWindowIsBounded() {
        let p = PublishPlan(channel: Array("room:t".utf8), target: .sortedSet(key: Array("k".utf8)), retainMilliseconds: nil, maxLength: nil)
        let size = single(p, ts: 0, id: "y0").size
        var window = RecentTransactions<PublishBatch>(limits: RecheckWindow(milliseconds: 1000, count: 3, bytes: 1 << 20))
        for i in 0..<5 { window.add(single(p, ts: Int64(i), id: "x\(i)"), at: Int64(i)) }
        XCTAssertEqual(window.confirmed(since: 0).map { $0.ts[0] }, [2, 3, 4], "by count")
        window.add(single(p, ts: 9, id: "late"), at: 2000)
        XCTAssertEqual(window.confirmed(since: 0).map { $0.ts[0] }, [9], "by age")
        XCTAssertEqual(window.confirmed(since: 2001).count, 0)
        var small = RecentTransactions<PublishBatch>(limits: RecheckWindow(milliseconds: 1000, count: 100, bytes: 2 * size))
        for i in 0..<5 { small.add(single(p, ts: Int64(i), id: "y\(i)"), at: Int64(i)) }
        XCTAssertEqual(small.count, 2, "by bytes")
        small.keepFound(since: 0, missing: [true, false])
        XCTAssertEqual(small.confirmed(since: 0).map { $0.ts[0] }, [4], "the missing ones leave: they are sent again")
    }

    /// What the window drops is released at once: a stream of millions of
    /// lines kept every batch dropped since the last compaction (RSS grew
    /// to 175 MB at 600,000 lines, 0.28 kB a line).
    func testRecentWindowReleasesWhatItDrops() {
        final class Tracked: @unchecked Sendable {
            nonisolated(unsafe) static var alive = 0
            init() { Tracked.alive += 1 }
            deinit { Tracked.alive -= 1 }
        }
        struct Held: ResumableTransaction {
            let tracked = Tracked()
            var size: Int { 1 }
            func encodeQueued(into batch: inout CommandBatch) {}
            var queuedReplies: Int { 0 }
            func readOutcome(from connection: Connection) throws(RedisError) -> Int { 0 }
            func halves() -> (Held, Held)? { nil }
        }
        var window = RecentTransactions<Held>(limits: RecheckWindow(milliseconds: 1_000_000, count: 10, bytes: 1 << 20))
        for i in 0..<500 { window.add(Held(), at: Int64(i)) }
        XCTAssertEqual(window.count, 10)
        XCTAssertEqual(Tracked.alive, 10, "only the kept ones are alive")
    }

    /// A link knows its server by run_id: a restart at the same address is another server.
    func testALinkKnowsItsServerByRunID() throws {
        let server = try RedisServer()
        let first = try TransactionLink.open(try server.connect())
        XCTAssertEqual(first.node.count, 40, first.node)
        XCTAssertNotNil(first.clientID)
        XCTAssertEqual(try TransactionLink.open(try server.connect()).node, first.node)
        server.kill9()
        try server.start()
        XCTAssertNotEqual(try TransactionLink.open(try server.connect()).node, first.node)
    }
}
