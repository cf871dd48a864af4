import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// history and stats on a Redis Cluster (SPEC §10), end to end: a 3-primary
/// cluster with a replica each, every node behind a `FaultProxy` (so that a
/// primary can fall silent without the cluster failing it over), started
/// once for the suite. Ground truth comes from plain connections to each
/// key's owner.
final class ClusterTests: XCTestCase {
    private static let fixture = StartedOnce { try RedisCluster(proxied: true) }

    /// The suite's cluster, started on first use.
    private func cluster() throws -> RedisCluster {
        try Self.fixture.get()
    }

    /// 2026-11-21T22:26:40.000Z
    private let base: Int64 = 1_795_300_000_000

    /// Runs roomwarden against the cluster through the node on `port`
    /// (announced port: its proxy).
    private func rw(_ args: [String], port: Int, timeout: TimeInterval = 60) throws -> CLIResult {
        try roomwarden(args + ["-h", "127.0.0.1", "-p", String(port)], timeout: timeout)
    }

    /// Rooms under `prefix` whose archives together live on every primary:
    /// `perPrimary` rooms on each, by primary.
    private func roomsOnEveryPrimary(_ c: RedisCluster, prefix: String, perPrimary: Int = 2) throws -> [String: [String]] {
        let primaries = try c.primaries()
        var byOwner: [String: [String]] = [:]
        var i = 0
        while byOwner.count < primaries.count || byOwner.values.contains(where: { $0.count < perPrimary }) {
            let room = "\(prefix):r\(i)"
            let owner = try c.primary(forKey: "\(room):archive").id
            if byOwner[owner, default: []].count < perPrimary { byOwner[owner, default: []].append(room) }
            i += 1
            XCTAssertLessThan(i, 10_000)
        }
        return byOwner
    }

    /// Archives envelopes in `room`'s archive, on its owner, directly.
    private func archive(_ c: RedisCluster, _ room: String, _ entries: [(Int64, String)]) throws {
        let key = "\(room):archive"
        let conn = try c.connect(to: try c.primary(forKey: key), timeout: .seconds(5))
        var batch = CommandBatch()
        for (ts, text) in entries {
            let e = Envelope(id: "\(ts)-\(text)", ts: ts, channel: Array(room.utf8), payload: Array(text.utf8))
            batch.add([Array("ZADD".utf8), Array(key.utf8), Array(String(ts).utf8), e.json])
        }
        try conn.append(batch)
        for r in try conn.readReplies(entries.count) { XCTAssertEqual(r, .integer(1)) }
    }

    private func messages(_ r: CLIResult) throws -> [String] {
        try r.lines.map { try jsonObject($0)["message"] as? String ?? "?" }
    }

    func testHistoryMergesRoomsOfEveryShardInTimeOrderAndReadsANamedRoomThroughANonOwner() throws {
        let c = try cluster()
        let prefix = "room:merge-\(UUID().uuidString.prefix(6))"
        let rooms = try roomsOnEveryPrimary(c, prefix: prefix).values.flatMap { $0 }.sorted()
        XCTAssertEqual(rooms.count, 6)
        // Interleaved times: entry k of room j at base + k * rooms + j.
        var expected: [(Int64, String)] = []
        for (j, room) in rooms.enumerated() {
            let entries = (0..<20).map { k in (base + Int64(k * rooms.count + j), "\(room)#\(k)") }
            try archive(c, room, entries)
            expected += entries
        }
        expected.sort { $0.0 < $1.0 }
        // Ground truth: each archive is whole on its owner.
        for room in rooms {
            let conn = try c.connect(to: try c.primary(forKey: "\(room):archive"), timeout: .seconds(5))
            XCTAssertEqual(try conn.command("ZCARD", "\(room):archive"), .integer(20))
        }
        // Through each primary in turn: every shard's rooms, merged in exact time order.
        for seed in try c.primaries() {
            let r = try rw(["history", "\(prefix):*", "--json"], port: seed.announcedPort)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try messages(r), expected.map(\.1), "through \(seed)")
            XCTAssertEqual(try r.lines.map { try jsonObject($0)["ts"] as? Int }, expected.map { Int($0.0) })
        }
        // A named room goes straight to its owner, through a node that is not it.
        let named = rooms[0]
        let owner = try c.primary(forKey: "\(named):archive")
        let other = try XCTUnwrap(try c.primaries().first { $0.id != owner.id })
        let r = try rw(["history", named, rooms[1], "--json"], port: other.announcedPort)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try messages(r), expected.filter { $0.1.hasPrefix(named + "#") || $0.1.hasPrefix(rooms[1] + "#") }.map(\.1))
        XCTAssertFalse(r.stderr.contains("no archive"), r.stderr)
        // --last and --reverse work across shards too.
        let last = try rw(["history", "\(prefix):*", "--last", "5", "--format", "{message}"], port: other.announcedPort)
        XCTAssertEqual(last.lines, expected.suffix(5).map(\.1))
        let reversed = try rw(["history", "\(prefix):*", "--reverse", "--limit", "3", "--format", "{message}"], port: owner.announcedPort)
        XCTAssertEqual(reversed.lines, expected.reversed().prefix(3).map(\.1))
    }

    func testStatsSumsSubscribersOverNodesAndCountsArchivesOfEveryShard() throws {
        let c = try cluster()
        let prefix = "room:stats-\(UUID().uuidString.prefix(6))"
        let byOwner = try roomsOnEveryPrimary(c, prefix: prefix, perPrimary: 1)
        let rooms = byOwner.values.flatMap { $0 }.sorted()
        for (j, room) in rooms.enumerated() {
            try archive(c, room, (0...j).map { (base + Int64($0), "m\($0)") })
        }
        // Subscribers to one room on three different nodes, pattern
        // subscribers on two, a sharded subscriber on the shard channel's owner.
        let nodes = try c.nodes()
        let subscribed = "\(prefix):live"
        let sharded = "\(prefix):shard"
        var subscribers: [Connection] = []
        for node in nodes.prefix(3) {
            let s = try c.connect(to: node, timeout: .seconds(5))
            XCTAssertEqual(try s.command("SUBSCRIBE", subscribed).elements?.first?.string, "subscribe")
            subscribers.append(s)
        }
        for node in nodes.suffix(2) {
            let s = try c.connect(to: node, timeout: .seconds(5))
            XCTAssertEqual(try s.command("PSUBSCRIBE", "\(prefix):*").elements?.first?.string, "psubscribe")
            subscribers.append(s)
        }
        let shardOwner = try c.primary(forKey: sharded)
        let ss = try c.connect(to: shardOwner, timeout: .seconds(5))
        XCTAssertEqual(try ss.command("SSUBSCRIBE", sharded).elements?.first?.string, "ssubscribe")
        subscribers.append(ss)
        defer { _ = subscribers }

        // Ground truth: each node counts only its own subscriber.
        for node in nodes.prefix(3) {
            XCTAssertEqual(try c.connect(to: node).command("PUBSUB", "NUMSUB", subscribed).elements?.last, .integer(1))
        }
        let seed = try XCTUnwrap(nodes.last)
        let r = try rw(["stats", "\(prefix):*", "--json"], port: seed.announcedPort)
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try jsonObject(r.text)
        let reported = try XCTUnwrap(obj["rooms"] as? [[String: Any]])
        var byName: [String: [String: Any]] = [:]
        for room in reported { if let name = room["channel"] as? String { byName[name] = room } }
        XCTAssertEqual(byName[subscribed]?["subscribers"] as? Int, 3, "\(reported)")
        for (j, room) in rooms.enumerated() {
            let owner = try c.connect(to: try c.primary(forKey: "\(room):archive"))
            let truth = try XCTUnwrap(try owner.command("ZCARD", "\(room):archive").integer)
            XCTAssertEqual(truth, Int64(j + 1))
            XCTAssertEqual(byName[room]?["archived"] as? Int, Int(truth), room)
        }
        let server = try XCTUnwrap(obj["server"] as? [String: Any])
        XCTAssertEqual(server["pattern_subscriptions"] as? Int, 2)
        let nodeEntries = try XCTUnwrap(obj["nodes"] as? [[String: Any]])
        XCTAssertEqual(nodeEntries.count, 6)
        XCTAssertEqual(Set(nodeEntries.compactMap { $0["address"] as? String }), Set(nodes.map { "127.0.0.1:\($0.announcedPort)" }))
        XCTAssertEqual(nodeEntries.filter { $0["role"] as? String == "primary" }.count, 3)
        XCTAssertTrue(nodeEntries.allSatisfy { ($0["version"] as? String)?.isEmpty == false })
        let shards = try XCTUnwrap(obj["shard_channels"] as? [[String: Any]])
        XCTAssertEqual(shards.count, 1)
        XCTAssertEqual(shards.first?["channel"] as? String, sharded)
        XCTAssertEqual(shards.first?["subscribers"] as? Int, 1)

        // The text report: the totals, then one line per node.
        let text = try rw(["stats", "\(prefix):*"], port: seed.announcedPort)
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.text.contains("cluster: 6 nodes, pattern subscriptions 2"), text.text)
        XCTAssertEqual(text.lines.filter { $0.hasPrefix("node 127.0.0.1:") }.count, 6, text.text)
        XCTAssertTrue(text.text.contains("sharded \(sharded): 1 subscribers"), text.text)
    }

    /// 10,500 rooms over the three shards, over five windows of the
    /// pipeline per node: room i has i % 4 archived entries on its owner
    /// and i % 3 subscribers, one on each of two nodes (so every count is
    /// a sum over nodes). Every figure exact across the windows' edges.
    func testStatsOverManyRoomsIsExactAcrossWindowsOnEveryNode() throws {
        let c = try cluster()
        let n = 10_500
        // Outside room:*, and removed after, so that other tests' room:* stays small.
        let prefix = "bulk-\(UUID().uuidString.prefix(6))"
        let name = { (i: Int) in "\(prefix):r" + String(100_000 + i).dropFirst() }
        let nodes = try c.nodes()
        let primaries = nodes.filter(\.isPrimary)
        func owner(_ key: String) throws -> RedisCluster.Node {
            let slot = KeySlot.of(Array(key.utf8))
            return try XCTUnwrap(primaries.first { $0.slots.contains { $0.contains(slot) } })
        }
        var batches: [String: (RedisCluster.Node, CommandBatch, [String])] = [:]
        for i in 0..<n where i % 4 > 0 {
            let key = "\(name(i)):archive"
            let o = try owner(key)
            var entry = batches[o.id] ?? (o, CommandBatch(), [])
            for e in 0..<(i % 4) {
                let env = Envelope(id: "\(i)-\(e)", ts: base + Int64(e), channel: Array(name(i).utf8), payload: Array("m".utf8))
                entry.1.add([Array("ZADD".utf8), Array(key.utf8), Array(String(base + Int64(e)).utf8), env.json])
            }
            entry.2.append(key)
            batches[o.id] = entry
        }
        for (node, batch, _) in batches.values {
            let conn = try c.connect(to: node, timeout: .seconds(10))
            try conn.append(batch)
            XCTAssertTrue(try conn.readReplies(batch.count).allSatisfy { $0.errorMessage == nil })
        }
        defer {
            for (node, _, keys) in batches.values {
                if let conn = try? c.connect(to: node, timeout: .seconds(10)) {
                    for k in stride(from: 0, to: keys.count, by: 500) {
                        _ = try? conn.command([Array("UNLINK".utf8)] + keys[k..<min(keys.count, k + 500)].map { Array($0.utf8) })
                    }
                }
            }
        }
        var subscribers: [Connection] = []
        for (node, rooms) in [(nodes[0], (0..<n).filter { $0 % 3 >= 1 }), (nodes[nodes.count - 1], (0..<n).filter { $0 % 3 == 2 })] {
            let s = try c.connect(to: node, timeout: .seconds(10))
            XCTAssertEqual(try s.command([Array("SUBSCRIBE".utf8)] + rooms.map { Array(name($0).utf8) }).elements?.first?.string, "subscribe")
            subscribers.append(s)
        }
        defer { _ = subscribers }
        XCTAssertEqual(try c.connect(to: nodes[0]).command("PUBSUB", "NUMSUB", name(2)).elements?.last, .integer(1))

        let r = try rw(["stats", "\(prefix):*", "--json", "--window", "1h"], port: primaries[1].announcedPort)
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try jsonObject(r.text)
        var byName: [String: [String: Any]] = [:]
        for room in obj["rooms"] as? [[String: Any]] ?? [] { if let channel = room["channel"] as? String { byName[channel] = room } }
        let listed = (0..<n).filter { $0 % 3 != 0 || $0 % 4 != 0 }
        XCTAssertEqual(byName.count, listed.count)
        var wrong: [String] = []
        for i in listed {
            let room = byName[name(i)]
            if room?["subscribers"] as? Int != i % 3 || room?["archived"] as? Int != (i % 4 > 0 ? i % 4 : nil) {
                wrong.append("\(name(i)): \(String(describing: room))")
            }
        }
        XCTAssertEqual(wrong.count, 0, wrong.prefix(5).joined(separator: "\n"))
        let trips = try XCTUnwrap((obj["collected"] as? [String: Int])?["round_trips"])
        XCTAssertLessThan(trips, 6 * 30, "windows of rooms on each node, not a round trip per room")
    }

    /// #17/#18 on a cluster: --delete removes each entry on the primary
    /// that owns its archive, and a recipe backlog on any shard is found.
    func testDeleteRemovesEachEntryOnItsOwnerAndBacklogsAreFoundOnEveryShard() throws {
        let c = try cluster()
        let prefix = "room:moderate-\(UUID().uuidString.prefix(6))"
        let rooms = try roomsOnEveryPrimary(c, prefix: prefix, perPrimary: 1).values.flatMap { $0 }.sorted()
        var kept: [String: Set<[UInt8]>] = [:]
        for (j, room) in rooms.enumerated() {
            let key = "\(room):archive"
            let conn = try c.connect(to: try c.primary(forKey: key), timeout: .seconds(5))
            for (k, who) in ["mallory", "alice", "mallory"].enumerated() {
                let ts = base + Int64(k * 10 + j)
                let e = Envelope(id: "\(ts)-\(j)-\(k)", ts: ts, channel: Array(room.utf8), from: who, payload: Array("\(who) \(k)".utf8))
                XCTAssertEqual(try conn.command([Array("ZADD".utf8), Array(key.utf8), Array(String(ts).utf8), e.json]), .integer(1))
                if who == "alice" { kept[room] = [e.json] }
            }
        }
        let backlog = "\(prefix):chatty"
        let backlogOwner = try c.connect(to: try c.primary(forKey: "\(backlog):backlog"), timeout: .seconds(5))
        _ = try backlogOwner.command("LPUSH", "\(backlog):backlog", "hi", "there")
        let seed = try c.primaries()[0]
        let r = try rw(["history", "\(prefix):*", "--from", "mallory", "--delete", "--yes", "--format", "{channel}"], port: seed.announcedPort)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, 6)
        XCTAssertEqual(r.stderr, "roomwarden: removed 6 entries from 3 rooms\n")
        for room in rooms {
            let conn = try c.connect(to: try c.primary(forKey: "\(room):archive"), timeout: .seconds(5))
            let left = Set(try conn.command("ZRANGE", "\(room):archive", "0", "-1").elements?.compactMap(\.bytes) ?? [])
            XCTAssertEqual(left, kept[room], room)
        }
        let last = try rw(["history", "\(prefix):*", "--last", "3", "--format", "{message}"], port: seed.announcedPort)
        XCTAssertEqual(last.lines, ["alice 1", "hi", "there"], last.stderr)
        let stats = try rw(["stats", "\(prefix):*", "--json"], port: seed.announcedPort)
        let chatty = (try jsonObject(stats.text)["rooms"] as? [[String: Any]])?.first { $0["channel"] as? String == backlog }
        XCTAssertEqual(chatty?["archived"] as? Int, 2, stats.text)
        XCTAssertEqual(chatty?["note"] as? String, "list")
    }

    func testAPasswordTheClusterDoesNotAskForIsWarnedAboutOnceNotOncePerNode() throws {
        let c = try cluster()
        let r = try roomwarden(["stats", "--json"] + c.seedArguments, environment: ["REDISCLI_AUTH": "unneeded"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr.components(separatedBy: "none configured").count - 1, 1, r.stderr)
        XCTAssertEqual((try jsonObject(r.text)["nodes"] as? [Any])?.count, 6)
    }

    func testAPrimaryThatFallsSilentAndIsNotFailedOverIsExit69NamingItAndItsSlots() throws {
        let c = try cluster()
        let primaries = try c.primaries()
        let silent = primaries[0]
        let seed = primaries[1]
        let proxy = try c.proxy(silent)
        proxy.freeze()
        defer { proxy.thaw() }
        for args in [["history", "room:*"], ["stats"]] {
            let started = Date()
            let r = try rw(args + ["--timeout", "1s"], port: seed.announcedPort, timeout: 30)
            XCTAssertEqual(r.status, 69, "\(args): \(r.stderr)")
            XCTAssertTrue(r.text.isEmpty, "\(args): printed a partial answer: \(r.text)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains("127.0.0.1:\(silent.announcedPort)"), r.stderr)
            let slots = ClusterShard.describe(silent.slots)
            XCTAssertTrue(r.stderr.contains("slots \(slots)"), r.stderr)
            XCTAssertTrue(r.stderr.contains("not failed over"), r.stderr)
            // The wait is --timeout's, not publish's --retry-for.
            XCTAssertFalse(r.stderr.contains("--retry-for"), r.stderr)
            if args[0] == "history" { XCTAssertTrue(r.stderr.contains("within 1s (--timeout)"), r.stderr) }
            XCTAssertLessThan(Date().timeIntervalSince(started), 15, "\(args)")
        }
    }
}
