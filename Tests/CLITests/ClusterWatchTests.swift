import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// watch on a Redis Cluster (SPEC §10), end to end on the process's shared
/// cluster (`RedisCluster.shared()`, which brings killed nodes back for the
/// next user): one PSUBSCRIBE on a node sees every room; a killed node is
/// left for another at once and the gap replayed from the archives;
/// `--sharded` follows SPUBLISH on every shard.
final class ClusterWatchTests: XCTestCase {
    /// One room per primary, by the slot of `key(room)`.
    private func roomsOnEveryPrimary(_ c: RedisCluster, prefix: String, key: (String) -> String) throws -> [String: String] {
        let primaries = try c.primaries()
        var byOwner: [String: String] = [:]
        var i = 0
        while byOwner.count < primaries.count {
            let room = "\(prefix):r\(i)"
            let owner = try c.primary(forKey: key(room)).id
            if byOwner[owner] == nil { byOwner[owner] = room }
            i += 1
            XCTAssertLessThan(i, 10_000)
        }
        return byOwner
    }

    /// Publishes and archives one message the way `roomwarden publish`
    /// does (MULTI; ZADD; PUBLISH; EXEC), on the primary owning the archive.
    private func publish(_ c: RedisCluster, _ room: String, _ text: String) throws {
        let key = "\(room):archive"
        let conn = try c.connect(to: try c.primary(forKey: key), timeout: .seconds(5))
        let ts = nowMilliseconds()
        let e = Envelope(id: "\(ts)-\(text)", ts: ts, channel: Array(room.utf8), payload: Array(text.utf8))
        var batch = CommandBatch()
        batch.add([Array("MULTI".utf8)])
        batch.add([Array("ZADD".utf8), Array(key.utf8), Array(String(ts).utf8), e.json])
        batch.add([Array("PUBLISH".utf8), Array(room.utf8), Array(text.utf8)])
        batch.add([Array("EXEC".utf8)])
        try conn.append(batch)
        let replies = try conn.readReplies(4)
        XCTAssertEqual(replies.last?.elements?.first, .integer(1), "\(replies)")
    }

    /// Publishes probes to `room` until watch prints one: it is subscribed.
    private func waitUntilWatching(_ p: CLIProcess, _ c: RedisCluster, room: String) throws {
        let deadline = Date().addingTimeInterval(15)
        var n = 0
        while !String(decoding: p.stdoutSoFar, as: UTF8.self).contains(" probe") {
            XCTAssertTrue(Date() < deadline && p.process.isRunning, "watch did not subscribe: \(p.stderrSoFar)")
            if Date() >= deadline || !p.process.isRunning { return }
            try publish(c, room, "probe\(n)")
            n += 1
            usleep(100_000)
        }
    }

    private func printed(_ r: CLIResult) -> [String] { printed(r.stdout) }

    /// Lines but the probes.
    private func printed(_ stdout: [UInt8]) -> [String] {
        String(decoding: stdout, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.contains(" probe") }
    }

    func testWatchThroughAKilledNodeMovesToAnotherAndReplaysTheGap() throws {
        let c = try RedisCluster.shared()
        let prefix = "room:cwatch-\(UUID().uuidString.prefix(6))"
        let byOwner = try roomsOnEveryPrimary(c, prefix: prefix) { "\($0):archive" }
        let victim = try XCTUnwrap(try c.primaries().first)
        defer { try? c.restart(victim) }
        let survivors = byOwner.filter { $0.key != victim.id }.map(\.value).sorted()
        let rooms = byOwner.values.sorted()
        // watch through the node that is about to die.
        let p = try CLIProcess(["watch", "\(prefix):*", "--format", "{channel} {message} {replayed}",
                                "-h", "127.0.0.1", "-p", String(victim.announcedPort)])
        try waitUntilWatching(p, c, room: survivors[0])
        for room in rooms { try publish(c, room, "before") }
        let deadline = Date().addingTimeInterval(10)
        while printed(p.stdoutSoFar).count < rooms.count && Date() < deadline { usleep(20_000) }
        // Stopped, so that what follows is published while it cannot hear:
        // the node dies, messages go to the rooms on the other shards.
        p.signal(SIGSTOP)
        try c.kill9(victim)
        for room in survivors { try publish(c, room, "during") }
        let moved = Date()
        p.signal(SIGCONT)
        XCTAssertTrue(p.waitForStderr("moved to the Redis Cluster node", timeout: 5), p.stderrSoFar)
        // The replay waits for the cluster to fail the dead primary over.
        XCTAssertTrue(p.waitForStderr("replayed", timeout: 30), p.stderrSoFar)
        print("moved and replayed \(String(format: "%.1f", Date().timeIntervalSince(moved))) s after the kill")
        try c.waitHealthy()
        for room in rooms { try publish(c, room, "after") }
        let expected = rooms.count * 2 + survivors.count
        let waiting = Date().addingTimeInterval(15)
        while printed(p.stdoutSoFar).count < expected && Date() < waiting { usleep(20_000) }
        usleep(300_000)  // anything printed twice would come now
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        var want = rooms.map { "\($0) before " } + survivors.map { "\($0) during true" } + rooms.map { "\($0) after " }
        want.sort()
        XCTAssertEqual(printed(r).sorted(), want, r.stderr)
        XCTAssertTrue(r.stderr.contains("lost the connection to the Redis Cluster node 127.0.0.1:\(victim.announcedPort)"), r.stderr)
        // (Probes published just before it subscribed may be replayed too.)
        XCTAssertTrue(r.stderr.contains("moved to the Redis Cluster node"), r.stderr)
        XCTAssertTrue(r.stderr.contains(" messages from the archives of"), r.stderr)
        XCTAssertFalse(r.stderr.contains("not received"), r.stderr)
        XCTAssertFalse(r.stderr.contains("still trying"), "no backoff against the dead node: \(r.stderr)")
        // At once: the span reported runs from the last byte heard before
        // the kill to the new node's confirmation (the stop included).
        let moveLine = try XCTUnwrap(r.stderr.split(separator: "\n").first { $0.contains("moved to the Redis Cluster node") })
        let seconds = try XCTUnwrap(moveLine.split(separator: " ").firstIndex(of: "after").map { Double(moveLine.split(separator: " ")[$0 + 1].dropLast(2)) ?? 99 })
        XCTAssertLessThan(seconds, 3, String(moveLine))
    }

    /// The payloads archived in `key`, read on the primary that owns it
    /// (or on `node`, importing its slot, after ASKING):
    /// the `"message":"..."` of each envelope, in score order.
    private func archivedPayloads(_ c: RedisCluster, _ key: String, asking node: RedisCluster.Node? = nil) throws -> [String] {
        let conn = try c.connect(to: try node ?? c.primary(forKey: key), timeout: .seconds(5))
        if node != nil { _ = try conn.command("ASKING") }
        let members = try conn.command("ZRANGE", key, "0", "-1").elements ?? []
        return members.compactMap { $0.string }.compactMap { member in
            guard let start = member.range(of: #""message":""#)?.upperBound,
                  let end = member[start...].firstIndex(of: "\"") else { return nil }
            return String(member[start..<end])
        }
    }

    /// Plain PUBLISHes (nothing archived by the publisher) to `rooms`,
    /// through any node: classic pub/sub reaches every node.
    private func publishPlain(_ c: RedisCluster, _ rooms: [String], _ texts: (String) -> [String]) throws {
        let conn = try c.connect(to: try XCTUnwrap(try c.primaries().last), timeout: .seconds(5))
        for room in rooms {
            var batch = CommandBatch()
            let all = texts(room)
            for text in all { batch.add([Array("PUBLISH".utf8), Array(room.utf8), Array(text.utf8)]) }
            try conn.append(batch)
            _ = try conn.readReplies(all.count)
        }
    }

    /// Starts `watch --archive` on `prefix`'s rooms through `node`, and
    /// publishes plain probes to `room` until it printed one (subscribed).
    private func archivingWatch(_ c: RedisCluster, _ prefix: String, through node: RedisCluster.Node, probing room: String) throws -> CLIProcess {
        let p = try CLIProcess(["watch", "\(prefix):*", "--archive", "--format", "{channel} {message}",
                                "-h", "127.0.0.1", "-p", String(node.announcedPort)])
        let deadline = Date().addingTimeInterval(15)
        var probes = 0
        while !String(decoding: p.stdoutSoFar, as: UTF8.self).contains("probe") && Date() < deadline && p.process.isRunning {
            try publishPlain(c, [room]) { _ in ["probe\(probes)"] }
            probes += 1
            usleep(100_000)
        }
        return p
    }

    /// Waits (up to `timeout`) until each room's archive holds `count`
    /// payloads besides the probes, then stops watch with SIGINT.
    private func stopOnceArchived(_ p: CLIProcess, _ c: RedisCluster, _ rooms: [String], count: Int, timeout: TimeInterval) throws -> CLIResult {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            let counts = try rooms.map { try archivedPayloads(c, "\($0):archive").filter { !$0.hasPrefix("probe") }.count }
            if counts.allSatisfy({ $0 >= count }) { break }
            usleep(100_000)
        } while Date() < deadline
        usleep(300_000)  // anything archived twice would come now
        p.signal(SIGINT)
        return p.wait()
    }

    /// `watch --archive` through one node archives each room on the
    /// primary that owns its archive key, every message once (it sent
    /// every write to the node named, and rooms on other shards failed
    /// with MOVED), and pushes a backlog-only room's messages to its list
    /// wherever that lives.
    func testArchiveWritesEachRoomOnItsOwnShard() throws {
        let c = try RedisCluster.shared()
        let prefix = "room:carch-\(UUID().uuidString.prefix(6))"
        let rooms = try roomsOnEveryPrimary(c, prefix: prefix) { "\($0):archive" }.values.sorted()
        // A room kept the recipe's way: only a list backlog.
        let listRoom = "\(prefix):list"
        let backlogKey = "\(listRoom):backlog"
        let listConn = try c.connect(to: try c.primary(forKey: backlogKey), timeout: .seconds(5))
        _ = try listConn.command("RPUSH", backlogKey, "old")
        let p = try archivingWatch(c, prefix, through: try XCTUnwrap(try c.primaries().first), probing: rooms[0])
        let perRoom = 200
        try publishPlain(c, rooms + [listRoom]) { room in (0..<perRoom).map { "m\($0)-\(room.suffix(3))" } }
        let r = try stopOnceArchived(p, c, rooms, count: perRoom, timeout: 15)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertFalse(r.stderr.contains("not archived"), r.stderr)
        XCTAssertFalse(r.stderr.contains("MOVED"), r.stderr)
        for room in rooms {
            let want = (0..<perRoom).map { "m\($0)-\(room.suffix(3))" }
            let owner = try c.primary(forKey: "\(room):archive").announcedPort
            XCTAssertEqual(try archivedPayloads(c, "\(room):archive").filter { !$0.hasPrefix("probe") }, want, "\(room) on \(owner): \(r.stderr)")
        }
        let list = (try listConn.command("LRANGE", backlogKey, "0", "-1").elements ?? []).compactMap(\.string)
        XCTAssertEqual(list, (0..<perRoom).reversed().map { "m\($0)-\(listRoom.suffix(3))" } + ["old"], r.stderr)
        let archiveOwner = try c.connect(to: try c.primary(forKey: "\(listRoom):archive"), timeout: .seconds(5))
        XCTAssertEqual(try archiveOwner.command("EXISTS", "\(listRoom):archive").integer, 0)
    }

    /// A `CLUSTER FAILOVER` of a shard that owns a room while watch
    /// archives a stream into every room: each message archived once.
    func testArchiveFollowsAFailoverAndWritesEachMessageOnce() throws {
        let c = try RedisCluster.shared()
        let prefix = "room:cfail-\(UUID().uuidString.prefix(6))"
        let byOwner = try roomsOnEveryPrimary(c, prefix: prefix) { "\($0):archive" }
        let rooms = byOwner.values.sorted()
        let primaries = try c.primaries()
        let shard = try XCTUnwrap(primaries.first { byOwner[$0.id] != nil && $0.id != primaries[0].id })
        let p = try archivingWatch(c, prefix, through: primaries[0], probing: rooms[0])
        // A paced stream in the background; the failover in its middle.
        let rounds = 60
        let publisher = Thread {
            for i in 0..<rounds {
                try? self.publishPlain(c, rooms) { _ in ["s\(i)"] }
                usleep(50_000)
            }
        }
        publisher.start()
        usleep(800_000)
        _ = try c.failover(replicaOf: shard)
        while !publisher.isFinished { usleep(50_000) }
        let r = try stopOnceArchived(p, c, rooms, count: rounds, timeout: 20)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertFalse(r.stderr.contains("not archived"), r.stderr)
        // Printed once each (nothing lost in the failover), archived once each.
        let printedLines = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").filter { !$0.contains("probe") }
        XCTAssertEqual(printedLines.count, rooms.count * rounds, r.stderr)
        for room in rooms {
            XCTAssertEqual(try archivedPayloads(c, "\(room):archive").filter { !$0.hasPrefix("probe") }, (0..<rounds).map { "s\($0)" },
                           "\(room): \(r.stderr)")
        }
    }

    /// A room's slot migrating while watch archives it: once its archive
    /// key has moved, the old owner answers ASK and the writes (and the
    /// reads that find what a publisher archived itself) go to the
    /// importing node (ASKING first); after the move, MOVED. Each message
    /// archived once, on the new owner.
    func testArchiveFollowsASlotMigration() throws {
        let c = try RedisCluster.shared()
        let prefix = "room:cmig-\(UUID().uuidString.prefix(6))"
        let room = "\(prefix):r"
        let key = "\(room):archive"
        let source = try c.primary(forKey: key)
        let target = try XCTUnwrap(try c.primaries().first { $0.id != source.id })
        let p = try archivingWatch(c, prefix, through: target, probing: room)
        try publishPlain(c, [room]) { _ in (0..<50).map { "a\($0)" } }
        XCTAssertTrue(try waitArchived(c, room, count: 50), p.stderrSoFar)
        let migration = try c.beginMigration(slot: try c.keySlot(key), from: source, to: target)
        defer { try? migration.finish() }
        try migration.moveKeys()  // the archive is on the target now: the source answers ASK
        try publishPlain(c, [room]) { _ in (0..<50).map { "b\($0)" } }
        XCTAssertTrue(try waitArchived(c, room, count: 100, migrating: target), "archived on the importing node: \(p.stderrSoFar)")
        // Archived by their publisher meanwhile: watch, which reads the
        // archive through the same redirections, adds them no second time.
        let published = try roomwarden(["publish", room, "-h", "127.0.0.1", "-p", String(source.announcedPort)],
                                       stdin: Array((0..<20).map { "p\($0)\n" }.joined().utf8))
        XCTAssertEqual(published.status, 0, published.stderr)
        XCTAssertTrue(try waitArchived(c, room, count: 120, migrating: target), p.stderrSoFar)
        try migration.finish()
        try publishPlain(c, [room]) { _ in (0..<50).map { "c\($0)" } }
        let r = try stopOnceArchived(p, c, [room], count: 170, timeout: 15)
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertFalse(r.stderr.contains("not archived"), r.stderr)
        let want = ["a", "b"].flatMap { l in (0..<50).map { "\(l)\($0)" } } + (0..<20).map { "p\($0)" } + (0..<50).map { "c\($0)" }
        XCTAssertEqual(try archivedPayloads(c, key).filter { !$0.hasPrefix("probe") }, want, r.stderr)
    }

    /// Waits up to 10 s until `room`'s archive holds `count` payloads
    /// besides probes (read on `migrating`, the importing node, with
    /// ASKING, when given); true if it did.
    private func waitArchived(_ c: RedisCluster, _ room: String, count: Int, migrating: RedisCluster.Node? = nil) throws -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let payloads = try archivedPayloads(c, "\(room):archive", asking: migrating)
            if payloads.filter({ !$0.hasPrefix("probe") }).count >= count { return true }
            usleep(100_000)
        }
        return false
    }

    func testShardedFollowsSPublishOnEveryShard() throws {
        let c = try RedisCluster.shared()
        let prefix = "room:sharded-\(UUID().uuidString.prefix(6))"
        // The channels' own slots spread over every primary.
        let byOwner = try roomsOnEveryPrimary(c, prefix: prefix) { $0 }
        let rooms = byOwner.values.sorted()
        // Two rooms are found by their archives, one by a sharded
        // subscriber of someone else (PUBSUB SHARDCHANNELS).
        for room in rooms.dropLast() {
            let key = "\(room):archive"
            let conn = try c.connect(to: try c.primary(forKey: key), timeout: .seconds(5))
            let e = Envelope(id: "1-\(room)", ts: 1_795_300_000_000, channel: Array(room.utf8), payload: Array("old".utf8))
            XCTAssertEqual(try conn.command([Array("ZADD".utf8), Array(key.utf8), Array("1795300000000".utf8), e.json]), .integer(1))
        }
        let other = try XCTUnwrap(rooms.last)
        let otherOwner = try c.primary(forKey: other)
        let bystander = try c.connect(to: otherOwner, timeout: .seconds(5))
        try bystander.append(.ssubscribe(channels: [Array(other.utf8)]))
        try bystander.flush()
        defer { withExtendedLifetime(bystander) {} }

        let p = try CLIProcess(["watch", "\(prefix):*", "--sharded", "--format", "{channel} {message}"] + c.seedArguments)
        // Subscribed once every room's owner counts watch's SSUBSCRIBE.
        let deadline = Date().addingTimeInterval(20)
        for room in rooms {
            let owner = try c.connect(to: try c.primary(forKey: room), timeout: .seconds(5))
            let want: Int64 = room == other ? 2 : 1
            while (try owner.command("PUBSUB", "SHARDNUMSUB", room).elements?.last?.integer ?? 0) < want {
                XCTAssertTrue(Date() < deadline && p.process.isRunning, "watch did not SSUBSCRIBE \(room): \(p.stderrSoFar)")
                if Date() >= deadline || !p.process.isRunning { break }
                usleep(50_000)
            }
        }
        for room in rooms {
            let owner = try c.connect(to: try c.primary(forKey: room), timeout: .seconds(5))
            XCTAssertGreaterThanOrEqual(try owner.command("SPUBLISH", room, "sharded \(room)").integer ?? 0, 1)
        }
        // Classic PUBLISH is still seen.
        try c.connect(to: try c.primaries()[0], timeout: .seconds(5)).command("PUBLISH", rooms[0], "classic").check()
        XCTAssertTrue(p.waitForLines(rooms.count + 1, timeout: 10), p.stderrSoFar)

        // A channel that appears later is found within a few seconds, and
        // one whose primary fails over is followed on the new primary.
        let moving = rooms[0]
        let promoted = try c.failover(replicaOf: try c.primary(forKey: moving))
        XCTAssertTrue(try c.primary(forKey: moving).id == promoted.id)
        // (After the failover: a failover unsubscribes the old primary's
        // sharded subscribers.)
        let late = "\(prefix):late"
        let lateOwner = try c.connect(to: try c.primary(forKey: late), timeout: .seconds(5))
        try lateOwner.append(.ssubscribe(channels: [Array(late.utf8)]))
        try lateOwner.flush()
        defer { withExtendedLifetime(lateOwner) {} }
        let rediscovered = Date()
        for (room, want) in [(late, Int64(2)), (moving, Int64(1))] {
            let owner = try c.connect(to: try c.primary(forKey: room), timeout: .seconds(5))
            let deadline = Date().addingTimeInterval(15)
            while (try owner.command("PUBSUB", "SHARDNUMSUB", room).elements?.last?.integer ?? 0) < want {
                XCTAssertTrue(Date() < deadline && p.process.isRunning, "watch did not SSUBSCRIBE \(room) again: \(p.stderrSoFar)")
                if Date() >= deadline || !p.process.isRunning { break }
                usleep(50_000)
            }
            XCTAssertGreaterThanOrEqual(try owner.command("SPUBLISH", room, "then \(room)").integer ?? 0, 1)
        }
        print("--sharded followed a new channel and a failed-over shard, both SSUBSCRIBEd again \(String(format: "%.1f", Date().timeIntervalSince(rediscovered))) s after the failover settled")
        XCTAssertTrue(p.waitForLines(rooms.count + 3, timeout: 10), p.stderrSoFar)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertEqual(r.lines.sorted(), (rooms.map { "\($0) sharded \($0)" } + ["\(rooms[0]) classic", "\(late) then \(late)", "\(moving) then \(moving)"]).sorted())
        XCTAssertEqual(r.stderr, "")
    }

    /// On one Redis 7 server SSUBSCRIBE works too: --sharded follows it.
    func testShardedOnOneServer() throws {
        let room = freshRoom()
        XCTAssertEqual(try rw(["publish", room, "archived", "-q"]).status, 0)
        let p = try CLIProcess(["watch", room, "--sharded", "--format", "{channel} {message}"] + server.socketArguments)
        let admin = try server.connect()
        let deadline = Date().addingTimeInterval(10)
        while (try admin.command("PUBSUB", "SHARDNUMSUB", room).elements?.last?.integer ?? 0) < 1 {
            XCTAssertTrue(Date() < deadline && p.process.isRunning, "watch did not SSUBSCRIBE: \(p.stderrSoFar)")
            if Date() >= deadline || !p.process.isRunning { break }
            usleep(50_000)
        }
        XCTAssertEqual(try admin.command("SPUBLISH", room, "sharded").integer, 1)
        XCTAssertTrue(p.waitForLines(1), p.stderrSoFar)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertEqual(r.lines, ["\(room) sharded"])
    }
}
