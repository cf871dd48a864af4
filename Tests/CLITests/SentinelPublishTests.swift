import Foundation
import Hiredis
import RedisFixture
import XCTest

/// publish behind Redis Sentinel (SPEC §11), end to end: a master, a
/// replica and three sentinels of this suite's own (its tests fail the
/// master over and kill it), started once. Ground truth is read on the
/// master the sentinels name, on a connection of its own.
final class SentinelPublishTests: XCTestCase {
    private static let fixture = StartedOnce { try SentinelSet() }

    /// The suite's set, with every data node running and settled.
    private func set() throws -> SentinelSet {
        let s = try Self.fixture.get()
        try s.revive()
        return s
    }

    private func url(_ s: SentinelSet) -> String {
        "redis-sentinel://\(s.sentinelAddresses.joined(separator: ","))#\(s.masterName)"
    }

    /// The messages of `room`'s archive on the current master.
    private func archived(_ s: SentinelSet, _ room: String) throws -> [String] {
        let members = try s.connectMaster(timeout: .seconds(5)).command("ZRANGE", "\(room):archive", "0", "-1").elements?.compactMap(\.string) ?? []
        return members.compactMap { EnvelopeField.get("message", in: $0) }
    }

    func testPublishGoesToTheMasterTheSentinelsName() throws {
        let s = try set()
        let room = "room:sent-\(UUID().uuidString.prefix(6))"
        let sub = try Subscriber(try s.master(), channels: [room])
        let r = try roomwarden(["publish", room, "hello", "-u", url(s)])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.text, "1\n")
        XCTAssertEqual(try archived(s, room), ["hello"])
        XCTAssertEqual(try sub.next().map { String(decoding: $0.payload, as: UTF8.self) }, "hello")
        let flags = try roomwarden(["publish", room, "again", "--sentinel", s.sentinelAddresses[1], "--master", s.masterName, "-q"])
        XCTAssertEqual(flags.status, 0, flags.stderr)
        XCTAssertEqual(try archived(s, room), ["hello", "again"])
    }

    /// `SENTINEL FAILOVER` promotes the replica without the master's
    /// agreement: the old master takes writes until the sentinels demote
    /// it (dropping its clients), and those are lost; publish follows the
    /// sentinels and sends them again.
    func testStreamAcrossSentinelFailoverIsArchivedOnceOnTheNewMaster() throws {
        let s = try set()
        let room = "room:sfail-\(UUID().uuidString.prefix(6))"
        let old = try s.masterPort()
        let run = try PacedPublish(["publish", room, "-u", url(s)])
        XCTAssertTrue(run.waitForConfirmed(300))
        let new = try s.failover()
        XCTAssertNotEqual(new, old)
        let r = run.finish(linesAfter: 1000)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, run.written, "one receivers line per line, none twice")
        XCTAssertEqual(try s.masterPort(), new)
        XCTAssertEqual(try archived(s, room), run.lines, "each line once, in order, on the new master")
        XCTAssertTrue(r.stderr.contains("resumed"), r.stderr)
    }

    /// The master crashes with writes its replica never got (the replica
    /// stopped and cut off first): publish re-checks on the new master and
    /// sends the missing lines again.
    func testStreamAcrossAKill9OfTheMasterResendsWhatTheReplicaLacked() throws {
        let s = try set()
        let room = "room:scrash-\(UUID().uuidString.prefix(6))"
        let master = try s.master()
        let replica = try XCTUnwrap(try s.replicas().first)
        let run = try PacedPublish(["publish", room, "-u", url(s)])
        XCTAssertTrue(run.waitForConfirmed(300))
        let direct = try master.connectTCP(timeout: .seconds(5))
        let key = "\(room):archive"
        try replica.pause()
        XCTAssertEqual(try master.run("CLIENT", "KILL", "TYPE", "replica"), .integer(1))
        let cutOff = try XCTUnwrap(try direct.command("ZCARD", key).integer)
        let deadline = Date().addingTimeInterval(20)
        while (try direct.command("ZCARD", key).integer ?? 0) < cutOff + 200 && Date() < deadline { usleep(5000) }
        master.kill9()
        try replica.resume()
        try s.waitSettled()
        XCTAssertEqual(try s.masterPort(), replica.port)
        let r = run.finish(linesAfter: 500)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, run.written, "one receivers line per line, none twice")
        XCTAssertEqual(try archived(s, room), run.lines, "each line once, in order, the lost ones sent again")
        let resent = try XCTUnwrap(r.stderr.split(separator: "\n").first { $0.contains("sent again") }, r.stderr)
        XCTAssertTrue(resent.contains("receivers may see them twice"), String(resent))
        let count = Int(resent.split(separator: ";")[1].split(separator: " ")[0]) ?? 0
        XCTAssertGreaterThanOrEqual(count, 200, "at least what the master confirmed alone: \(resent)")
        try s.restart(master)
    }
}
