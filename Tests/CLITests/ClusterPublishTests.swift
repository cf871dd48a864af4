import Foundation
import Hiredis
import RedisFixture
import XCTest

/// publish on a Redis Cluster (SPEC §10), end to end: a 3-primary cluster
/// with a replica each, of this suite's own (its tests fail over, migrate
/// and kill nodes), started once. Ground truth comes from plain
/// connections to each key's owner.
final class ClusterPublishTests: XCTestCase {
    private static let fixture = StartedOnce { try RedisCluster() }

    /// The suite's cluster, started on first use; killed nodes brought
    /// back and the cluster healthy again before each test.
    private func cluster() throws -> RedisCluster {
        let c = try Self.fixture.get()
        try c.revive()
        return c
    }

    private func seed(_ node: RedisCluster.Node) -> [String] { ["-h", "127.0.0.1", "-p", String(node.announcedPort)] }

    /// A room whose archive lives on `owner` (or on any primary but `avoiding`).
    private func room(_ c: RedisCluster, prefix: String, on owner: RedisCluster.Node) throws -> String {
        for i in 0..<10_000 {
            let room = "\(prefix):r\(i)"
            if try c.primary(forKey: "\(room):archive").id == owner.id { return room }
        }
        throw FixtureError("no room of \(prefix) on \(owner)")
    }

    /// The messages of `room`'s archive, read on its owner.
    private func archived(_ c: RedisCluster, _ room: String) throws -> [String] {
        let key = "\(room):archive"
        let conn = try c.connect(to: try c.primary(forKey: key), timeout: .seconds(5))
        let members = try conn.command("ZRANGE", key, "0", "-1").elements?.compactMap(\.string) ?? []
        return members.compactMap { EnvelopeField.get("message", in: $0) }
    }

    func testPublishToRoomsOnEveryShardThroughOneNode() throws {
        let c = try cluster()
        let prefix = "room:pub-\(UUID().uuidString.prefix(6))"
        let primaries = try c.primaries()
        let through = try XCTUnwrap(try c.replicas().first, "a replica names the way like any node")
        for (i, owner) in primaries.enumerated() {
            let room = try room(c, prefix: prefix, on: owner)
            let elsewhere = try Subscriber(try c.server(primaries[(i + 1) % primaries.count]), channels: [room])
            let there = try Subscriber(try c.server(owner), channels: [room])
            let r = try roomwarden(["publish", room, "hello \(i)"] + seed(through))
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.text, "1\n", "PUBLISH counts the subscribers of the node that ran it: the owner")
            XCTAssertEqual(r.stderr, "")
            XCTAssertEqual(try archived(c, room), ["hello \(i)"], "archived on its owner, \(owner)")
            XCTAssertEqual(try there.next().map { String(decoding: $0.payload, as: UTF8.self) }, "hello \(i)")
            XCTAssertEqual(try elsewhere.next().map { String(decoding: $0.payload, as: UTF8.self) }, "hello \(i)",
                           "classic pub/sub is cluster-wide")
        }
        // --no-archive: PUBLISH on the node named, whichever it is.
        let room = "\(prefix):live"
        let sub = try Subscriber(try c.server(primaries[0]), channels: [room])
        let r = try roomwarden(["publish", room, "no trace", "--no-archive"] + seed(primaries[1]))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.text, "0\n", "no subscriber on the node named")
        XCTAssertEqual(try sub.next().map { String(decoding: $0.payload, as: UTF8.self) }, "no trace")
        XCTAssertEqual(try archived(c, room), [])
    }

    func testStreamOf20000LinesThroughANodeThatDoesNotOwnTheRoom() throws {
        let c = try cluster()
        let primaries = try c.primaries()
        let room = try room(c, prefix: "room:bulk-\(UUID().uuidString.prefix(6))", on: primaries[0])
        let stream = try TestStream(count: 20_000)
        let r = try runPublisher(["publish", room, "-q"] + seed(primaries[2]), stdin: stream.path, timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        XCTAssertEqual(try archived(c, room), stream.lines, "each line once, in order, on the owner")
    }

    /// Redis itself: `ASKING` before `MULTI` lets the whole transaction run
    /// on the node importing the slot (the flag lasts until EXEC); without
    /// it, the importing node sends the commands back (MOVED).
    func testAskingBeforeMultiHoldsForTheWholeTransaction() throws {
        let c = try cluster()
        let primaries = try c.primaries()
        let room = try room(c, prefix: "room:asking-\(UUID().uuidString.prefix(6))", on: primaries[0])
        let key = "\(room):archive"
        let slot = try c.keySlot(key)
        let migration = try c.beginMigration(slot: slot, from: primaries[0], to: primaries[1])
        defer { try? migration.finish() }
        let target = try c.connect(to: primaries[1], timeout: .seconds(5))
        for command in [["ASKING"], ["MULTI"], ["ZADD", key, "1", "a"], ["ZADD", key, "2", "b"], ["PUBLISH", room, "x"]] {
            _ = try target.append(command.map { Array($0.utf8) })
        }
        _ = try target.append([Array("EXEC".utf8)])
        let replies = try target.readReplies(6)
        XCTAssertEqual(replies[1], .status("OK"))
        XCTAssertEqual(Array(replies[2...4]), [.status("QUEUED"), .status("QUEUED"), .status("QUEUED")])
        XCTAssertEqual(replies[5].elements, [.integer(1), .integer(1), .integer(0)], "the second ZADD too ran under ASKING")
        let without = try target.command("ZADD", key, "3", "c")
        XCTAssertTrue(without.errorMessage?.hasPrefix("MOVED") == true, "\(without)")
    }

    func testStreamAcrossAFailoverOfTheOwningPrimary() throws {
        let c = try cluster()
        let owner = try c.primaries()[1]
        let room = try room(c, prefix: "room:failover-\(UUID().uuidString.prefix(6))", on: owner)
        let run = try PacedPublish(["publish", room] + seed(owner))
        XCTAssertTrue(run.waitForConfirmed(300))
        let promoted = try c.failover(replicaOf: owner)
        XCTAssertNotEqual(promoted.id, owner.id)
        let r = run.finish(linesAfter: 500)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, run.written, "one receivers line per line, none twice")
        XCTAssertEqual(try c.primary(forKey: "\(room):archive").id, promoted.id)
        XCTAssertEqual(try archived(c, room), run.lines, "each line once, in order")
        XCTAssertTrue(r.stderr.contains("resumed"), r.stderr)
        XCTAssertFalse(r.stderr.contains("sent again"), "a coordinated failover loses nothing: \(r.stderr)")
    }

    func testStreamAcrossALiveMigrationOfTheArchiveSlot() throws {
        let c = try cluster()
        let primaries = try c.primaries()
        let room = try room(c, prefix: "room:migrate-\(UUID().uuidString.prefix(6))", on: primaries[0])
        let slot = try c.keySlot("\(room):archive")
        let asked = { () throws -> Int in
            let stats = try c.server(primaries[1]).run("INFO", "commandstats").string ?? ""
            guard let r = stats.range(of: "cmdstat_asking:calls=") else { return 0 }
            return Int(stats[r.upperBound...].prefix { $0.isNumber }) ?? 0
        }
        let askedBefore = try asked()
        let run = try PacedPublish(["publish", room] + seed(primaries[2]))
        XCTAssertTrue(run.waitForConfirmed(300))
        let migration = try c.beginMigration(slot: slot, from: primaries[0], to: primaries[1])
        XCTAssertTrue(run.waitForConfirmed(run.confirmed + 200), "MIGRATING and IMPORTING, the key still on the source")
        XCTAssertGreaterThan(try migration.moveKeys(), 0)
        XCTAssertTrue(run.waitForConfirmed(run.confirmed + 200), "the key moved, the slot not yet: ASK")
        XCTAssertGreaterThan(try asked(), askedBefore, "transactions went to the importing node with ASKING")
        try migration.finish()
        let r = run.finish(linesAfter: 300)  // then MOVED
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, run.written, "one receivers line per line, none twice")
        XCTAssertEqual(try c.primary(forSlot: slot).id, primaries[1].id)
        XCTAssertEqual(try archived(c, room), run.lines, "each line once, in order")
    }

    /// A list backlog follows the failover too; having no ids, what it
    /// confirmed last cannot be re-checked, and publish says so.
    func testBacklogStreamAcrossAFailoverSaysItCannotBeRechecked() throws {
        let c = try cluster()
        let owner = try c.primaries()[0]
        var room = ""
        for i in 0..<10_000 {
            room = "room:list-\(UUID().uuidString.prefix(4))-\(i)"
            if try c.primary(forKey: "\(room):backlog").id == owner.id { break }
        }
        let key = "\(room):backlog"
        XCTAssertEqual(try c.connect(to: owner).command("LPUSH", key, "before"), .integer(1))
        let run = try PacedPublish(["publish", room] + seed(owner))
        XCTAssertTrue(run.waitForConfirmed(300))
        let promoted = try c.failover(replicaOf: owner)
        let r = run.finish(linesAfter: 300)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, run.written, "one receivers line per line, none twice")
        let list = try c.connect(to: promoted).command("LRANGE", key, "0", "-1").elements?.compactMap(\.string) ?? []
        XCTAssertEqual(list, run.lines.reversed() + ["before"], "every line pushed once, in order")
        XCTAssertTrue(r.stderr.contains("'\(key)' has no ids"), r.stderr)
    }

    /// The owner crashes with writes its replica never got: the replica
    /// is stopped and cut off first, so what the primary confirms then is
    /// lost with it. publish finds the new primary, re-checks what was
    /// confirmed just before, and sends the missing lines again.
    func testStreamAcrossAKill9OfTheOwningPrimaryResendsWhatTheReplicaLacked() throws {
        let c = try cluster()
        let owner = try c.primaries()[2]
        let replica = try XCTUnwrap(try c.replicas(of: owner).first)
        let room = try room(c, prefix: "room:crash-\(UUID().uuidString.prefix(6))", on: owner)
        let run = try PacedPublish(["publish", room] + seed(owner))
        XCTAssertTrue(run.waitForConfirmed(300))
        let direct = try c.connect(to: owner, timeout: .seconds(5))
        let key = "\(room):archive"
        try c.server(replica).pause()
        XCTAssertEqual(try c.server(owner).run("CLIENT", "KILL", "TYPE", "replica"), .integer(1))
        let cutOff = try XCTUnwrap(try direct.command("ZCARD", key).integer)
        // The owner alone confirms 200 lines more.
        let deadline = Date().addingTimeInterval(20)
        while (try direct.command("ZCARD", key).integer ?? 0) < cutOff + 200 && Date() < deadline { usleep(5000) }
        try c.kill9(owner)
        try c.server(replica).resume()
        let r = run.finish(linesAfter: 300, timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, run.written, "one receivers line per line, none twice")
        XCTAssertEqual(try c.primary(forKey: "\(room):archive").id, replica.id)
        XCTAssertEqual(try archived(c, room), run.lines, "each line once, in order, the lost ones sent again")
        let resent = try XCTUnwrap(r.stderr.split(separator: "\n").first { $0.contains("sent again") }, r.stderr)
        XCTAssertTrue(resent.contains("receivers may see them twice"), String(resent))
        let count = Int(resent.split(separator: ";")[1].split(separator: " ")[0]) ?? 0
        XCTAssertGreaterThanOrEqual(count, 200, "at least what the owner confirmed alone: \(resent)")
        try c.restart(owner)
    }
}

/// A publisher fed a line every millisecond or so by a writer thread, so
/// that a fault lands mid-stream: `finish` goes on for a number of lines
/// more, then ends the input and waits for the exit.
final class PacedPublish {
    private let process: CLIProcess
    private let lock = NSLock()
    private var count = 0
    private var stopAt = Int.max
    private let done = DispatchSemaphore(value: 0)
    private let tag = UUID().uuidString.prefix(6)

    init(_ arguments: [String]) throws {
        process = try CLIProcess(arguments)
        signal(SIGPIPE, SIG_IGN)  // a publisher that exits early: write fails, the test goes on
        let input = (process.process.standardInput as? Pipe)?.fileHandleForWriting.fileDescriptor ?? -1
        Thread.detachNewThread { [self] in
            let limit = Date().addingTimeInterval(120)
            var i = 0
            while Date() < limit {
                lock.lock(); let stop = i >= stopAt; lock.unlock()
                if stop { break }
                i += 1
                let line = Array("\(tag) line \(i)\n".utf8)
                if line.withUnsafeBytes({ Glibc.write(input, $0.baseAddress, $0.count) }) != line.count { break }
                lock.lock(); count = i; lock.unlock()
                usleep(1000)
            }
            process.closeInput()
            done.signal()
        }
    }

    /// Lines written so far.
    var written: Int { lock.lock(); defer { lock.unlock() }; return count }

    /// Every line written, in order.
    var lines: [String] { (0..<written).map { "\(tag) line \($0 + 1)" } }

    /// Waits until the publisher printed `n` lines (confirmed messages).
    @discardableResult
    func waitForConfirmed(_ n: Int) -> Bool { process.waitForLines(n, timeout: 60) }

    /// Lines the publisher printed so far (without -q: one per confirmed message).
    var confirmed: Int { process.stdoutSoFar.lazy.filter { $0 == 0x0A }.count }

    /// Writes `linesAfter` more lines, ends the input, waits for the exit.
    func finish(linesAfter: Int, timeout: TimeInterval = 60) -> CLIResult {
        lock.lock(); stopAt = count + linesAfter; lock.unlock()
        _ = done.wait(timeout: .now() + 120)
        return process.wait(timeout: timeout)
    }
}
