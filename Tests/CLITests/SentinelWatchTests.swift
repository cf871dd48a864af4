import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// watch behind Redis Sentinel (SPEC §11), end to end on a set of its own
/// (a master, a replica, three sentinels): it subscribes on the master the
/// sentinels name, hears `+switch-master` and moves at once, and replays
/// the gap from the archive on the new master.
final class SentinelWatchTests: XCTestCase {
    private static let fixture = StartedOnce { try SentinelSet() }

    private func set() throws -> SentinelSet {
        try Self.fixture.get()
    }

    /// Publishes and archives one message on the current master (MULTI;
    /// ZADD; PUBLISH; EXEC, as `roomwarden publish` does).
    private func publish(_ s: SentinelSet, _ room: String, _ text: String) throws {
        let conn = try s.connectMaster(timeout: .seconds(5))
        let ts = nowMilliseconds()
        let e = Envelope(id: "\(ts)-\(text)", ts: ts, channel: Array(room.utf8), payload: Array(text.utf8))
        var batch = CommandBatch()
        batch.add([Array("MULTI".utf8)])
        batch.add([Array("ZADD".utf8), Array("\(room):archive".utf8), Array(String(ts).utf8), e.json])
        batch.add([Array("PUBLISH".utf8), Array(room.utf8), Array(text.utf8)])
        batch.add([Array("EXEC".utf8)])
        try conn.append(batch)
        let replies = try conn.readReplies(4)
        XCTAssertEqual(replies.last?.elements?.first, .integer(1), "\(replies)")
    }

    /// Waits until stderr reports the `count`th move, to `port` (its line
    /// comes once the gap is replayed).
    private func waitForMoves(_ p: CLIProcess, _ count: Int, to port: Int, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let moves = p.stderrSoFar.split(separator: "\n").filter { $0.contains("roomwarden: moved to the Redis Sentinel master") }
            if moves.count >= count { return moves[count - 1].contains("at 127.0.0.1:\(port) after") }
            usleep(20_000)
        }
        return false
    }

    /// Publishes probes to `room` until watch prints one: it is subscribed.
    private func waitUntilWatching(_ p: CLIProcess, _ s: SentinelSet, _ room: String) throws {
        let deadline = Date().addingTimeInterval(10)
        var n = 0
        while !String(decoding: p.stdoutSoFar, as: UTF8.self).contains("probe") && Date() < deadline && p.process.isRunning {
            try publish(s, room, "probe\(n)")
            n += 1
            usleep(100_000)
        }
    }

    private func waitForLine(_ p: CLIProcess, _ line: String, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if String(decoding: p.stdoutSoFar, as: UTF8.self).split(separator: "\n").contains(Substring(line)) { return true }
            usleep(20_000)
        }
        return false
    }

    func testWatchFollowsTheMasterThroughFailoversAndReplaysTheGap() throws {
        let s = try set()
        let room = "room:swatch-\(UUID().uuidString.prefix(6))"
        let first = try s.masterPort()
        let p = try CLIProcess(["watch", room, "--format", "{message} {replayed}", "--sentinel", s.sentinelAddresses[0],
                                "--sentinel", s.sentinelAddresses[1], "--master", s.masterName])
        // Subscribed on the master the sentinels name (not on 127.0.0.1:6379).
        try waitUntilWatching(p, s, room)
        try publish(s, room, "before")
        XCTAssertTrue(waitForLine(p, "before ", timeout: 5), p.stderrSoFar)

        // A failover while it listens: +switch-master moves it at once.
        let second = try s.failover()
        XCTAssertNotEqual(first, second)
        let switched = Date()
        try publish(s, room, "after-first")
        XCTAssertTrue(waitForLine(p, "after-first ", timeout: 5), "printed within 5 s of the switch: \(p.stderrSoFar)")
        print("watch printed a message published to the new master \(String(format: "%.2f", Date().timeIntervalSince(switched))) s after the failover settled")
        XCTAssertTrue(p.stderrSoFar.contains("the sentinels announced a failover"), p.stderrSoFar)
        XCTAssertTrue(p.stderrSoFar.contains("moved to the Redis Sentinel master '\(s.masterName)' at 127.0.0.1:\(second)"), p.stderrSoFar)

        // A failover while it cannot hear (stopped): what the new master got
        // meanwhile is replayed from its archive, marked.
        p.signal(SIGSTOP)
        let third = try s.failover()
        XCTAssertEqual(third, first)
        try publish(s, room, "during-1")
        try publish(s, room, "during-2")
        p.signal(SIGCONT)
        // Back on the first master once the replay is done (the report
        // line comes after it).
        XCTAssertTrue(waitForMoves(p, 2, to: third, timeout: 15), p.stderrSoFar)
        try publish(s, room, "after-second")
        XCTAssertTrue(waitForLine(p, "after-second ", timeout: 5), p.stderrSoFar)

        // The master crashes: the lost link asks the sentinels again until
        // they name the promoted replica.
        let crashed = try s.master()
        defer { try? s.restart(crashed) }
        let fourth = try s.kill9Master()
        XCTAssertNotEqual(fourth, third)
        XCTAssertTrue(waitForMoves(p, 3, to: fourth, timeout: 10), p.stderrSoFar)
        try publish(s, room, "after-crash")
        XCTAssertTrue(waitForLine(p, "after-crash ", timeout: 10), p.stderrSoFar)
        usleep(300_000)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertEqual(r.lines.filter { !$0.hasPrefix("probe") },
                       ["before ", "after-first ", "during-1 true", "during-2 true", "after-second ", "after-crash "], r.stderr)
        XCTAssertTrue(r.stderr.contains("moved to the Redis Sentinel master '\(s.masterName)' at 127.0.0.1:\(fourth)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("at 127.0.0.1:\(third)"), r.stderr)
        XCTAssertFalse(r.stderr.contains("not received"), r.stderr)
    }

    /// True once sentinel `index` has a client subscribed (watch's
    /// listener: sentinels themselves subscribe only on data nodes).
    private func listenerIsOn(_ s: SentinelSet, _ index: Int, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let list = try? s.sentinels[index].run(timeout: .seconds(2), ["CLIENT", "LIST"]).string,
               list.contains("sub=1") { return true }
            usleep(100_000)
        }
        return false
    }

    /// The sentinel watch listens to for `+switch-master` stops (SIGSTOP:
    /// its socket stays open, nothing answers): after a PING unanswered for
    /// --heartbeat, watch listens on another sentinel, and hears the next
    /// failover there. Before, it listened to the stopped one for ever and
    /// heard no announcement.
    func testASilentSentinelIsLeftForAnotherThatAnnouncesTheFailover() throws {
        let s = try set()
        let room = "room:ssilent-\(UUID().uuidString.prefix(6))"
        let p = try CLIProcess(["watch", room, "--format", "{message}", "--heartbeat", "1s", "--sentinel", s.sentinelAddresses[0],
                                "--sentinel", s.sentinelAddresses[1], "--master", s.masterName])
        try waitUntilWatching(p, s, room)
        XCTAssertTrue(listenerIsOn(s, 0, timeout: 5), "listening on the first sentinel: \(p.stderrSoFar)")
        try s.sentinels[0].pause()
        defer {
            try? s.sentinels[0].resume()
            try? s.waitSettled(timeout: 60)
        }
        XCTAssertTrue(listenerIsOn(s, 1, timeout: 10), "moved to the second sentinel: \(p.stderrSoFar)")
        let moved = try s.failover()
        try publish(s, room, "after")
        XCTAssertTrue(waitForLine(p, "after", timeout: 5), p.stderrSoFar)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertTrue(r.stderr.contains("the sentinels announced a failover"), r.stderr)
        XCTAssertTrue(r.stderr.contains("at 127.0.0.1:\(moved)"), r.stderr)
    }

    /// No sentinel answers: one line naming each, exit 69 (not a wait on
    /// 127.0.0.1:6379, as before watch knew the sentinels).
    /// `watch --archive` behind sentinels archives on the master they name
    /// (it wrote to 127.0.0.1:6379, the default address, before).
    func testArchiveWritesOnTheMasterTheSentinelsName() throws {
        let s = try set()
        let room = "room:sarchive-\(UUID().uuidString.prefix(6))"
        let p = try CLIProcess(["watch", room, "--archive", "--format", "{message}", "--sentinel", s.sentinelAddresses[0],
                                "--master", s.masterName])
        let deadline = Date().addingTimeInterval(10)
        var sent = 0
        while !String(decoding: p.stdoutSoFar, as: UTF8.self).contains("live") && Date() < deadline && p.process.isRunning {
            let conn = try s.connectMaster(timeout: .seconds(5))
            _ = try conn.command("PUBLISH", room, "live \(sent)")  // published, not archived: watch archives it
            sent += 1
            usleep(100_000)
        }
        XCTAssertTrue(waitForLine(p, "live \(sent - 1)", timeout: 5), p.stderrSoFar)
        let conn = try s.connectMaster(timeout: .seconds(5))
        var archived = 0
        let until = Date().addingTimeInterval(10)
        while Date() < until {
            archived = try conn.command("ZCARD", "\(room):archive").integer.map { Int($0) } ?? 0
            if archived >= 1 { break }
            usleep(50_000)
        }
        p.signal(SIGINT)
        let r = p.wait()
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertGreaterThanOrEqual(archived, 1, "archived on the master: \(r.stderr)")
        XCTAssertFalse(r.stderr.contains("--archive: lost"), r.stderr)
    }

    func testNoReachableSentinelIs69NamingThem() throws {
        let r = try roomwarden(["watch", "--sentinel", "127.0.0.1:1", "--sentinel", "127.0.0.1:2", "--master", "roomwarden"], timeout: 10)
        XCTAssertEqual(r.status, 69, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        for a in ["127.0.0.1:1", "127.0.0.1:2"] { XCTAssertTrue(r.stderr.contains(a), r.stderr) }
    }
}
