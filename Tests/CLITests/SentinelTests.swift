import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// history and stats behind Redis Sentinel (SPEC §11), end to end: a
/// master, a replica and three sentinels (the sentinels with a password
/// of their own), started once for the suite.
final class SentinelTests: XCTestCase {
    private static let sentinelPassword = "s3ntinel-pw"
    private static let fixture = StartedOnce { try SentinelSet(sentinelPassword: sentinelPassword) }

    private func set() throws -> SentinelSet {
        let s = try Self.fixture.get()
        for i in s.sentinels.indices where !s.sentinels[i].isRunning { try s.startSentinel(i) }
        return s
    }

    /// 2026-11-21T22:26:40.000Z
    private let base: Int64 = 1_795_300_000_000

    private func url(_ s: SentinelSet, sentinels: [String]? = nil, password: String? = sentinelPassword) -> String {
        let hosts = (sentinels ?? s.sentinelAddresses).joined(separator: ",")
        let query = password.map { "?sentinel_password=\($0)" } ?? ""
        return "redis-sentinel://\(hosts)\(query)#\(s.masterName)"
    }

    private func archive(_ s: SentinelSet, _ room: String, _ entries: [(Int64, String)]) throws {
        let conn = try s.connectMaster(timeout: .seconds(5))
        for (ts, text) in entries {
            let e = Envelope(id: "\(ts)-\(text)", ts: ts, channel: Array(room.utf8), payload: Array(text.utf8))
            XCTAssertEqual(try conn.command([Array("ZADD".utf8), Array("\(room):archive".utf8), Array(String(ts).utf8), e.json]), .integer(1))
        }
        // Replication is asynchronous: a failover right after could lose
        // what the replica has not received yet. Wait until it has.
        XCTAssertEqual(try conn.command("WAIT", "1", "5000"), .integer(1))
    }

    func testHistoryAndStatsThroughSentinelsWhenTheFirstListedIsDown() throws {
        let s = try set()
        let room = "room:sentinel-\(UUID().uuidString.prefix(6))"
        try archive(s, room, [(base, "one"), (base + 1, "two")])
        // The first sentinel listed is down.
        s.stopSentinel(0)
        defer { try? s.startSentinel(0) }
        let addresses = s.sentinelAddresses
        var r = try roomwarden(["history", room, "--format", "{message}", "-u", url(s, sentinels: addresses)])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["one", "two"])
        r = try roomwarden(["stats", room, "--json", "-u", url(s, sentinels: addresses)])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try jsonObject(r.text)
        let rooms = try XCTUnwrap(obj["rooms"] as? [[String: Any]])
        XCTAssertEqual(rooms.first?["archived"] as? Int, 2)
        let nodes = try XCTUnwrap(obj["nodes"] as? [[String: Any]])
        XCTAssertEqual(nodes.first?["address"] as? String, "127.0.0.1:\(try s.masterPort())")
        XCTAssertEqual(nodes.first?["role"] as? String, "master")
    }

    func testWrongSentinelPasswordIs77AndNoReachableSentinelIs69NamingThem() throws {
        let s = try set()
        var r = try roomwarden(["history", "room:x", "-u", url(s, password: "wrong-pw")])
        XCTAssertEqual(r.status, 77, r.stderr)
        XCTAssertTrue(r.stderr.contains("sentinel"), r.stderr)
        XCTAssertFalse(r.stderr.contains("wrong-pw"), r.stderr)
        // --sentinel carries no sentinel password: these sentinels refuse it.
        r = try roomwarden(["stats", "--sentinel", s.sentinelAddresses[0], "--master", s.masterName])
        XCTAssertEqual(r.status, 77, r.stderr)
        // Nothing listens on these (privileged ports): refused at once.
        let addresses = ["127.0.0.1:1", "127.0.0.1:2"]
        r = try roomwarden(["history", "room:x", "--sentinel", addresses[0], "--sentinel", addresses[1], "--master", "roomwarden"])
        XCTAssertEqual(r.status, 69, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        for a in addresses { XCTAssertTrue(r.stderr.contains(a), r.stderr) }
    }

    func testSentinelFlagsAreValidated() throws {
        for args in [["--sentinel", "127.0.0.1:1"], ["--master", "m"], ["--sentinel", "h", "--master", "m", "-p", "6379"],
                     ["--sentinel", "h", "--master", "m", "-u", "redis-sentinel://h#m"], ["--sentinel", "h:0", "--master", "m"],
                     ["-u", "redis-sentinel://h#m", "-h", "x"], ["-u", "redis-sentinel://h"]] {
            let r = try roomwarden(["stats"] + args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
        }
        let r = try roomwarden(["stats", "-u", "redis-sentinel://:topsecret@h"])
        XCTAssertFalse(r.stderr.contains("topsecret"), r.stderr)
        XCTAssertTrue(try roomwarden(["stats", "-u", "http://h"]).stderr.contains("redis-sentinel://"))
    }

    func testHistoryAfterAFailoverReadsTheNewMaster() throws {
        let s = try set()
        let room = "room:failover-\(UUID().uuidString.prefix(6))"
        try archive(s, room, [(base, "before")])
        let old = try s.masterPort()
        let new = try s.failover()
        XCTAssertNotEqual(old, new)
        try archive(s, room, [(base + 1, "after")])  // written on the new master
        let r = try roomwarden(["history", room, "--format", "{message}", "-u", url(s)])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["before", "after"])
        let stats = try roomwarden(["stats", room, "--json", "-u", url(s)])
        XCTAssertEqual(stats.status, 0, stats.stderr)
        XCTAssertEqual((try jsonObject(stats.text)["nodes"] as? [[String: Any]])?.first?["address"] as? String, "127.0.0.1:\(new)")
    }
}
