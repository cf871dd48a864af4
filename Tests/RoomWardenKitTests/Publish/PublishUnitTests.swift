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
}
