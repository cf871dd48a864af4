import Foundation
import Hiredis
import RedisFixture
@testable import RoomWardenKit
import XCTest

/// The cluster layer against a real 6-node cluster (3 primaries, 3
/// replicas, started once for the test process): slots, the map, MOVED,
/// ASK, a killed primary, an unreachable one.
final class ClusterTopologyTests: XCTestCase {
    private var cluster: RedisCluster!

    override func setUpWithError() throws {
        cluster = try RedisCluster.shared()
    }

    /// What the CLI will pass: the connection settings with the endpoint swapped.
    private func connector(password: String? = nil) -> ClusterTopology.Connect {
        let password = password ?? cluster.password
        return { (endpoint: Endpoint) throws(RoomWardenError) -> Connection in
            var settings = ConnectionSettings()
            settings.endpoint = endpoint
            settings.password = password
            settings.connectTimeout = .seconds(2)
            return try settings.connect()
        }
    }

    private func topology(seedPort: Int, retryFor: Duration = .seconds(30)) throws -> ClusterTopology {
        let connect = connector()
        let seed = try connect(.tcp(host: "127.0.0.1", port: seedPort))
        return try ClusterTopology(seed: seed, connect: connect, retryFor: retryFor)
    }

    private func port(_ node: ClusterNode?) -> Int? {
        guard case .tcp(_, let port)? = node?.endpoint else { return nil }
        return port
    }

    /// A key (with a hash tag, so tests do not collide) whose slot is
    /// served by `node`.
    private func key(on node: RedisCluster.Node, _ tag: String) -> String {
        var i = 0
        while true {
            let k = "{\(tag)-\(i)}:archive"
            if node.slots.contains(where: { $0.contains(KeySlot.of(k)) }) { return k }
            i += 1
        }
    }

    /// Runs one command through `perform`, noting where each try went.
    private func traced(_ topology: ClusterTopology, slot: Int, _ args: String...) throws -> (reply: Reply, tries: [(port: Int?, asking: Bool)]) {
        var tries: [(port: Int?, asking: Bool)] = []
        let reply = try topology.perform(slot: slot, doing: args[0]) { (a: ClusterAttempt) throws(RedisError) -> Reply in
            tries.append((self.port(a.node), a.asking))
            return try a.connection.command(args.map { Array($0.utf8) }).check()
        }
        return (reply, tries)
    }

    // MARK: Slots and the map

    func testKeySlotAgreesWithClusterKeyslotOnRandomKeys() throws {
        let conn = try cluster.connect(toPort: cluster.ports[0], timeout: .seconds(10))
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array("ab{}{}{}}{x:".utf8) + [0, 0xFF, 0x7B, 0x7D]
        var keys: [[UInt8]] = [[], Array("{}".utf8), Array("{".utf8), Array("}".utf8), Array("{{}}".utf8),
                               Array("foo{}{bar}".utf8), Array("foo{{bar}}zap".utf8), Array("foo{bar}{zap}".utf8)]
        for _ in 0..<5000 {
            let length = Int.random(in: 0...24, using: &rng)
            if Bool.random(using: &rng) {
                keys.append((0..<length).map { _ in alphabet.randomElement(using: &rng) ?? 0 })
            } else {
                keys.append((0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) })
            }
        }
        for k in keys { try conn.append([Array("CLUSTER".utf8), Array("KEYSLOT".utf8), k]) }
        try conn.flush()
        let replies = try conn.readReplies(keys.count)
        var mismatches: [String] = []
        for (k, reply) in zip(keys, replies) where reply.integer.map(Int.init) != KeySlot.of(k) {
            mismatches.append("\(k): server \(reply), ours \(KeySlot.of(k))")
        }
        XCTAssertEqual(mismatches.count, 0, mismatches.prefix(5).joined(separator: "; "))
    }

    func testMapLearntThroughAReplicaAgreesWithTheServer() throws {
        let replica = try XCTUnwrap(try cluster.replicas().first)
        let topology = try topology(seedPort: replica.port)
        XCTAssertEqual(topology.primaries.count, 3)
        XCTAssertEqual(topology.allNodes.count, 6)
        XCTAssertEqual(Set(topology.allNodes.map(\.id)), Set(cluster.ids))
        XCTAssertEqual(Set(topology.primaries.map(\.id)), Set(try cluster.primaries().map(\.id)))
        XCTAssertTrue(topology.map.unservedSlots.isEmpty)
        for i in 0..<300 {
            let k = "room:\(i):archive"
            XCTAssertEqual(port(topology.owner(ofKey: Array(k.utf8))), try cluster.primary(forKey: k).port, k)
        }
        // CLUSTER SLOTS (the fallback) gives the same owners as CLUSTER SHARDS.
        let slots = try ClusterMap.parse(slots: try cluster.connect(toPort: replica.port).command("CLUSTER", "SLOTS").check(), defaultHost: "127.0.0.1")
        for slot in stride(from: 0, to: KeySlot.count, by: 7) {
            XCTAssertEqual(slots.owner(ofSlot: slot)?.id, topology.map.owner(ofSlot: slot)?.id, "slot \(slot)")
        }
        // The seed (a replica) was pooled under its address in the map.
        let conn = try topology.connection(to: .tcp(host: "127.0.0.1", port: replica.port))
        XCTAssertEqual(try conn.command("CLUSTER", "MYID").string, replica.id)
    }

    func testConnectionForKeyReachesItsOwner() throws {
        let topology = try topology(seedPort: cluster.ports[0])
        for primary in try cluster.primaries() {
            let k = key(on: primary, "owner")
            let conn = try topology.connection(forKey: Array(k.utf8))
            XCTAssertEqual(try conn.command("SET", k, "v"), .status("OK"))
            XCTAssertEqual(try conn.command("CLUSTER", "MYID").string, primary.id)
        }
    }

    func testDiscoverTellsClusterFromSingle() throws {
        guard case .cluster(let c) = try Topology.discover(seed: .tcp(host: "127.0.0.1", port: cluster.ports[1]), connect: connector()) else {
            return XCTFail("a cluster node was not seen as one")
        }
        XCTAssertEqual(c.primaries.count, 3)
        let single = try RedisServer()
        guard case .single = try Topology.discover(seed: .unix(path: single.socketPath), connect: connector()) else {
            return XCTFail("a plain server was seen as a cluster")
        }
        // A user who may not run INFO still works on a single server.
        try single.run("ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "&*", "+@all", "-info").check()
        let restricted = { (endpoint: Endpoint) throws(RoomWardenError) -> Connection in
            var settings = ConnectionSettings()
            settings.endpoint = endpoint
            settings.user = "noinfo"
            settings.password = "pw"
            return try settings.connect()
        }
        guard case .single(let conn) = try Topology.discover(seed: .unix(path: single.socketPath), connect: restricted) else {
            return XCTFail("NOPERM on INFO was not taken as a single server")
        }
        XCTAssertEqual(try conn.command("PING"), .status("PONG"))
    }

    // MARK: Redirections

    func testMovedAfterAMigrationRefreshesTheMapAndRetries() throws {
        let topology = try topology(seedPort: cluster.ports[0])
        let primaries = try cluster.primaries()
        let source = primaries[0], target = primaries[1]
        let k = key(on: source, "moved")
        let slot = KeySlot.of(k)
        XCTAssertEqual(try topology.perform(key: Array(k.utf8), doing: "SET") { c throws(RedisError) in try c.command("SET", k, "1").check() }, .status("OK"))
        try cluster.migrateSlot(slot, to: target)
        XCTAssertEqual(port(topology.map.owner(ofSlot: slot)), source.port, "the map has not been told yet")
        let (reply, tries) = try traced(topology, slot: slot, "GET", k)
        XCTAssertEqual(reply, .bulk(Array("1".utf8)))
        XCTAssertEqual(tries.map(\.port), [source.port, target.port], "one MOVED, then the new owner")
        XCTAssertEqual(tries.map(\.asking), [false, false])
        XCTAssertEqual(port(topology.map.owner(ofSlot: slot)), target.port)
        XCTAssertEqual(port(topology.owner(ofKey: Array(k.utf8))), target.port)
    }

    func testAskDuringAMigrationGoesToTheImportingNodeOnce() throws {
        let topology = try topology(seedPort: cluster.ports[0])
        let primaries = try cluster.primaries()
        let source = primaries[2], target = primaries[0]
        let moved = key(on: source, "ask")
        let slot = KeySlot.of(moved)
        let stays = "{\(moved.dropFirst().prefix { $0 != "}" })}:stays"   // same slot
        XCTAssertEqual(KeySlot.of(stays), slot)
        try cluster.connect(to: source).command("SET", moved, "here").check()
        let migration = try cluster.beginMigration(slot: slot, from: source, to: target)
        defer { try? migration.finish() }
        XCTAssertEqual(try migration.moveKeys(), 1)
        let (value, tries) = try traced(topology, slot: slot, "GET", moved)
        XCTAssertEqual(value, .bulk(Array("here".utf8)))
        XCTAssertEqual(tries.map(\.port), [source.port, target.port])
        XCTAssertEqual(tries.map(\.asking), [false, true])
        // ASK does not change the map: the slot is still the source's.
        XCTAssertEqual(port(topology.map.owner(ofSlot: slot)), source.port)
        // A new key of the slot is created on the importing node through ASK.
        XCTAssertEqual(try topology.perform(slot: slot, doing: "SET", attempt: { (a: ClusterAttempt) throws(RedisError) -> Reply in
            try a.connection.command("SET", stays, "new").check()
        }), .status("OK"))
        try migration.finish()
        XCTAssertEqual(try cluster.connect(to: target).command("GET", stays), .bulk(Array("new".utf8)))
    }

    func testTryAgainIsRetriedUntilTheMigrationEnds() throws {
        let topology = try topology(seedPort: cluster.ports[0], retryFor: .seconds(20))
        let primaries = try cluster.primaries()
        let source = primaries[1], target = primaries[2]
        let a = key(on: source, "tryagain")
        let tag = String(a.dropFirst().prefix { $0 != "}" })
        let b = "{\(tag)}:other"
        let source0 = try cluster.connect(to: source)
        try source0.command("SET", a, "A").check()
        try source0.command("SET", b, "B").check()
        let migration = try cluster.beginMigration(slot: KeySlot.of(a), from: source, to: target)
        XCTAssertEqual(try migration.moveKeys(limit: 1), 1)   // the keys are now split: MGET gets TRYAGAIN
        let finished = expectation(description: "migration finished")
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) {
            try? migration.finish()
            finished.fulfill()
        }
        var answers: [Int?] = []
        let reply = try topology.perform(key: Array(a.utf8), doing: "MGET") { c throws(RedisError) -> Reply in
            answers.append(nil)
            return try c.command("MGET", a, b).check()
        }
        wait(for: [finished], timeout: 30)
        XCTAssertEqual(reply, .array([.bulk(Array("A".utf8)), .bulk(Array("B".utf8))]))
        XCTAssertGreaterThan(answers.count, 2, "TRYAGAIN was retried")
    }

    func testACommandsOwnErrorEndsPerformAtOnce() throws {
        let topology = try topology(seedPort: cluster.ports[0])
        let k = "{wrongtype}:archive"
        _ = try topology.perform(key: Array(k.utf8), doing: "LPUSH") { c throws(RedisError) in try c.command("LPUSH", k, "x").check() }
        var runs = 0
        XCTAssertThrowsError(try topology.perform(key: Array(k.utf8), doing: "reading \(k)") { c throws(RedisError) -> Reply in
            runs += 1
            return try c.command("ZCARD", k).check()
        }) { error in
            XCTAssertEqual((error as? RoomWardenError)?.exitCode, 65)
            XCTAssertTrue((error as? RoomWardenError)?.message.contains("WRONGTYPE") ?? false)
        }
        XCTAssertEqual(runs, 1)
    }

    // MARK: Failures

    func testPerformRidesOutAKill9OfThePrimaryUntilItsReplicaIsPromoted() throws {
        let topology = try topology(seedPort: cluster.ports[0], retryFor: .seconds(30))
        let primary = try cluster.primaries()[1]
        let k = key(on: primary, "kill9")
        _ = try topology.perform(key: Array(k.utf8), doing: "SET") { c throws(RedisError) in try c.command("SET", k, "before").check() }
        var notices: [String] = []
        topology.notice = { notices.append($0) }
        try cluster.kill9(primary)
        let started = Date()
        var nodes: [Int?] = []
        let reply = try topology.perform(slot: KeySlot.of(k), doing: "INCR") { (a: ClusterAttempt) throws(RedisError) -> Reply in
            nodes.append(self.port(a.node))
            return try a.connection.command("SET", k, "after").check()
        }
        let took = Date().timeIntervalSince(started)
        print("timing: perform succeeded \(String(format: "%.2f", took))s after kill -9 of the primary (\(nodes.count) tries; cluster-node-timeout \(cluster.nodeTimeoutMilliseconds) ms)")
        XCTAssertEqual(reply, .status("OK"))
        XCTAssertNotEqual(nodes.last ?? nil, primary.port)
        XCTAssertEqual(port(topology.owner(ofKey: Array(k.utf8))), nodes.last ?? nil)
        XCTAssertTrue(notices.contains { $0.contains("was 127.0.0.1:\(primary.port)") }, "\(notices)")
        XCTAssertLessThan(took, 25)
    }

    func testAFrozenPrimaryIsLeftForItsReplicaWhenRepliesHaveATimeout() throws {
        // As the CLI will connect: the handshake bounded by the connect
        // timeout, then every reply by --timeout.
        let connect = connector()
        func timed(_ endpoint: Endpoint) throws(RoomWardenError) -> Connection {
            let c = try connect(endpoint)
            do {
                try c.setTimeout(.seconds(1))
            } catch let error as RedisError {
                throw RoomWardenError.from(error, doing: "connecting", endpoint: endpoint)
            } catch {
                throw RoomWardenError.failure("\(error)")
            }
            return c
        }
        let topology = try ClusterTopology(seed: try timed(.tcp(host: "127.0.0.1", port: cluster.ports[0])), connect: timed, retryFor: .seconds(30))
        let primary = try cluster.primaries().first { $0.port != cluster.ports[0] }
        let frozen = try XCTUnwrap(primary)
        let k = key(on: frozen, "frozen")
        _ = try topology.perform(key: Array(k.utf8), doing: "SET") { c throws(RedisError) in try c.command("SET", k, "before").check() }
        try cluster.server(frozen).pause()
        let started = Date()
        let reply = try topology.perform(key: Array(k.utf8), doing: "SET") { c throws(RedisError) in try c.command("SET", k, "after").check() }
        let took = Date().timeIntervalSince(started)
        print("timing: perform succeeded \(String(format: "%.2f", took))s after SIGSTOP of the primary (1 s reply timeout)")
        XCTAssertEqual(reply, .status("OK"))
        XCTAssertNotEqual(port(topology.owner(ofKey: Array(k.utf8))), frozen.port)
        XCTAssertLessThan(took, 25)
        _ = try RedisCluster.shared()
    }

    func testAnUnreachablePrimaryIsReportedWithItsSlots() throws {
        let primary = try cluster.primaries()[0]
        let topology = try topology(seedPort: cluster.ports.first { $0 != primary.port } ?? 0, retryFor: .seconds(1))
        // Its replica too, so that nothing can take over.
        for replica in try cluster.replicas(of: primary) { try cluster.kill9(replica) }
        try cluster.kill9(primary)
        let k = key(on: primary, "down")
        let ranges = ClusterShard.describe(primary.slots)
        let started = Date()
        XCTAssertThrowsError(try topology.perform(key: Array(k.utf8), doing: "reading \(k)") { c throws(RedisError) in try c.command("GET", k).check() }) { error in
            let e = error as? RoomWardenError
            XCTAssertEqual(e?.exitCode, 69)
            XCTAssertTrue(e?.message.contains("127.0.0.1:\(primary.port) (slots \(ranges))") ?? false, e?.message ?? "")
            XCTAssertTrue(e?.message.contains("not failed over") ?? false, e?.message ?? "")
            XCTAssertTrue(e?.message.hasPrefix("cannot finish reading \(k): ") ?? false, e?.message ?? "")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertThrowsError(try topology.primaryConnections(doing: "scanning every primary")) { error in
            let e = error as? RoomWardenError
            XCTAssertEqual(e?.exitCode, 69)
            XCTAssertTrue(e?.message.contains("127.0.0.1:\(primary.port) (slots \(ranges))") ?? false, e?.message ?? "")
        }
        var visited = 0
        XCTAssertThrowsError(try topology.forEachPrimary(doing: "SCAN") { _, _ throws(RedisError) in visited += 1 })
        XCTAssertEqual(visited, 0, "no partial answer: nothing runs when a primary is missing")
        // Bring both back for the next tests.
        _ = try RedisCluster.shared()
    }

    func testASubscriberMovesToAnotherNodeAtOnce() throws {
        let topology = try topology(seedPort: cluster.ports[0], retryFor: .seconds(30))
        let first = try topology.openAnyNode()
        XCTAssertEqual(try first.connection.command("PING"), .status("PONG"))
        let victim = try cluster.node(port: try XCTUnwrap(port(first.node)))
        try cluster.kill9(victim)
        let started = Date()
        let next = try topology.openAnyNode(avoiding: [first.node.endpoint.description])
        XCTAssertLessThan(Date().timeIntervalSince(started), 2, "no waiting for a dead node while others live")
        XCTAssertNotEqual(next.node.endpoint, first.node.endpoint)
        XCTAssertEqual(try next.connection.command("PING"), .status("PONG"))
        // Dedicated connections stay out of the pool.
        XCTAssertFalse(try topology.connection(to: next.node) === next.connection)
        _ = try RedisCluster.shared()
    }

    func testForEachPrimarySeesEveryKey() throws {
        let topology = try topology(seedPort: cluster.ports[3])
        var written = Set<String>()
        for i in 0..<60 {
            let k = "each:\(i):\(UUID().uuidString.prefix(6))"
            _ = try topology.perform(key: Array(k.utf8), doing: "SET") { c throws(RedisError) in try c.command("SET", k, "1").check() }
            written.insert(k)
        }
        var found = Set<String>()
        var shards = 0
        try topology.forEachPrimary(doing: "SCAN") { shard, conn throws(RedisError) in
            shards += 1
            var cursor = "0"
            repeat {
                let reply = try conn.command("SCAN", cursor, "MATCH", "each:*", "COUNT", "1000").check()
                cursor = reply.elements?.first?.string ?? "0"
                for k in reply.elements?.last?.elements ?? [] { if let s = k.string { found.insert(s) } }
            } while cursor != "0"
        }
        XCTAssertEqual(shards, 3)
        XCTAssertTrue(written.isSubset(of: found))
        let every = topology.connectEveryNode()
        XCTAssertEqual(every.open.count, 6)
        XCTAssertTrue(every.unreachable.isEmpty)
    }
}
