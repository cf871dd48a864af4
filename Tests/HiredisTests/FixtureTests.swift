import Foundation
import Hiredis
import RedisFixture
import XCTest

/// The fault-injecting proxy and the server's process controls, for real.
final class FixtureTests: XCTestCase {
    static var server: RedisServer!

    override class func setUp() {
        do { server = try RedisServer() } catch { fatalError("\(error)") }
    }

    override class func tearDown() { server = nil }

    private func ping(_ c: Connection) throws -> Reply { try c.command("PING") }

    func testProxyForwardsBothWaysAndCounts() throws {
        let proxy = try FaultProxy(to: Self.server)
        let c = try proxy.connect()
        XCTAssertEqual(try ping(c), .status("PONG"))
        let expected = FaultProxy.Counters(
            linksAccepted: 1, openLinks: 1, linksCut: 0,
            bytesToServer: 14,  // *1\r\n$4\r\nPING\r\n
            bytesToClient: 7)   // +PONG\r\n
        XCTAssertTrue(proxy.wait { $0 == expected }, "\(proxy.counters)")
        // Megabytes each way: partial writes and back-pressure.
        var big = [UInt8](repeating: 0x5A, count: 3_000_000)
        big[0] = 0x00; big[1_500_000] = 0xFF; big[2_999_999] = 0x0A
        XCTAssertEqual(try c.command([Array("SET".utf8), Array("fixture:big".utf8), big]), .status("OK"))
        XCTAssertEqual(try c.command([Array("GET".utf8), Array("fixture:big".utf8)]), .bulk(big))
        XCTAssertEqual(try c.command("DEL", "fixture:big"), .integer(1))
    }

    func testFreezeIsSilenceAndThawDeliversWhatWasHeld() throws {
        let proxy = try FaultProxy(to: Self.server)
        let early = try proxy.connect(timeout: .milliseconds(300))
        XCTAssertEqual(try ping(early), .status("PONG"))
        proxy.freeze()
        XCTAssertThrowsError(try ping(early)) { error in
            guard case RedisError.timeout = error else { return XCTFail("got \(error)") }
        }
        // A client arriving while frozen connects, and its command waits.
        let late = try proxy.connect(timeout: .seconds(5))
        try late.append([Array("ECHO".utf8), Array("held".utf8)])
        try late.flush()
        usleep(200_000)
        XCTAssertEqual(proxy.counters.openLinks, 2, "frozen links stay open")
        let before = proxy.counters.bytesToServer
        proxy.thaw()
        XCTAssertEqual(try late.readReply(), .bulk(Array("held".utf8)))
        XCTAssertGreaterThan(proxy.counters.bytesToServer, before)
    }

    func testFreezingRepliesOnlyLetsTheCommandRunUnacknowledged() throws {
        let proxy = try FaultProxy(to: Self.server)
        let c = try proxy.connect(timeout: .milliseconds(300))
        XCTAssertEqual(try ping(c), .status("PONG"))
        proxy.freeze(.toClient)
        XCTAssertTrue(proxy.isFrozen)
        XCTAssertThrowsError(try c.command("SET", "fixture:unacknowledged", "done"))
        proxy.cut()
        proxy.thaw()
        XCTAssertFalse(proxy.isFrozen)
        XCTAssertEqual(try Self.server.run("GET", "fixture:unacknowledged"), .bulk(Array("done".utf8)), "the server did it")
        XCTAssertEqual(try ping(try proxy.connect(timeout: .seconds(2))), .status("PONG"))
        try Self.server.run("DEL", "fixture:unacknowledged")
    }

    func testCutEndsEveryLinkAndNewOnesWork() throws {
        let proxy = try FaultProxy(to: Self.server)
        let a = try proxy.connect(timeout: .seconds(2)), b = try proxy.connect(timeout: .seconds(2))
        XCTAssertEqual(try ping(a), .status("PONG"))
        XCTAssertEqual(try ping(b), .status("PONG"))
        proxy.cut()
        XCTAssertEqual(proxy.counters.openLinks, 0)
        XCTAssertEqual(proxy.counters.linksCut, 2)
        XCTAssertThrowsError(try ping(a)) { XCTAssertTrue(($0 as? RedisError)?.isConnectionFailure ?? false, "\($0)") }
        let c = try proxy.connect(timeout: .seconds(2))
        XCTAssertEqual(try ping(c), .status("PONG"))
        proxy.cut(reset: true)
        XCTAssertThrowsError(try ping(c)) { XCTAssertTrue(($0 as? RedisError)?.isConnectionFailure ?? false, "\($0)") }
    }

    func testCutEveryCutsEachLinkAfterItsBytes() throws {
        let proxy = try FaultProxy(to: Self.server)
        proxy.cutEvery(bytes: 30)  // two PINGs (14 bytes each) pass, the third is cut after 2 bytes
        for _ in 0..<2 {
            let c = try proxy.connect(timeout: .seconds(2))
            XCTAssertEqual(try ping(c), .status("PONG"))
            XCTAssertEqual(try ping(c), .status("PONG"))
            XCTAssertThrowsError(try ping(c))
        }
        XCTAssertTrue(proxy.wait { $0.linksCut == 2 && $0.bytesToServer == 60 }, "\(proxy.counters)")
        proxy.cutEvery(bytes: nil)
        let c = try proxy.connect(timeout: .seconds(2))
        for _ in 0..<5 { XCTAssertEqual(try ping(c), .status("PONG")) }
    }

    func testSetTargetMovesNewLinksOnly() throws {
        let other = try RedisServer()
        let proxy = try FaultProxy(to: Self.server)
        let old = try proxy.connect(timeout: .seconds(2))
        XCTAssertEqual(try ping(old), .status("PONG"))  // accepted before the switch
        try proxy.setTarget(port: other.port)
        let new = try proxy.connect(timeout: .seconds(2))
        XCTAssertEqual(try old.command("CONFIG", "GET", "port").elements?.last, .bulk(Array(String(Self.server.port).utf8)))
        XCTAssertEqual(try new.command("CONFIG", "GET", "port").elements?.last, .bulk(Array(String(other.port).utf8)))
        other.stop()
        // The proxy accepts, finds nobody behind it and resets the client.
        XCTAssertThrowsError(try ping(try proxy.connect(timeout: .seconds(2))))
    }

    func testPeerClosingFirstClosesTheLink() throws {
        let proxy = try FaultProxy(to: Self.server)
        var c: Connection? = try proxy.connect(timeout: .seconds(2))
        XCTAssertEqual(try c.map(ping), .status("PONG"))
        c = nil  // the client closes
        XCTAssertTrue(proxy.wait { $0.openLinks == 0 }, "\(proxy.counters)")
        var quitter: Connection? = try proxy.connect(timeout: .seconds(2))
        XCTAssertEqual(try quitter?.command("QUIT"), .status("OK"))  // the server closes
        XCTAssertThrowsError(try quitter.map(ping), "the client sees the end")
        quitter = nil
        XCTAssertTrue(proxy.wait { $0.openLinks == 0 }, "\(proxy.counters)")
        XCTAssertEqual(proxy.counters.linksCut, 0)
    }

    func testStopLeavesNoDescriptorOrThreadBehind() throws {
        func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1 }
        func proxyThreadIDs() -> Set<String> {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return Set(tasks.filter { task in
                let name = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
                return name.hasPrefix("FaultProxy")
            })
        }
        // Warm up whatever the process opens once.
        do { let p = try FaultProxy(to: Self.server); _ = try ping(try p.connect()); p.stop() }
        let before = openDescriptors()
        // Proxies other suites keep for the whole run (a proxied cluster) are not this test's.
        let others = proxyThreadIDs()
        func proxyThreads() -> Int { proxyThreadIDs().subtracting(others).count }
        do {
            let proxy = try FaultProxy(to: Self.server)
            let deadline = Date().addingTimeInterval(2)
            while proxyThreads() != 1 && Date() < deadline { usleep(10_000) }
            XCTAssertEqual(proxyThreads(), 1)
            let clients = try (0..<3).map { _ in try proxy.connect(timeout: .seconds(2)) }
            for c in clients { XCTAssertEqual(try ping(c), .status("PONG")) }
            proxy.freeze()
            proxy.stop()
            proxy.stop()
            XCTAssertThrowsError(try Connection(endpoint: proxy.endpoint, connectTimeout: .seconds(1)))
            for c in clients { XCTAssertThrowsError(try ping(c)) }
        }
        let deadline = Date().addingTimeInterval(2)
        while (openDescriptors() > before || proxyThreads() > 0) && Date() < deadline { usleep(20_000) }
        XCTAssertLessThanOrEqual(openDescriptors(), before)
        XCTAssertEqual(proxyThreads(), 0)
    }

    func testServerPauseResumeKill9AndStart() throws {
        let own = try RedisServer()
        let pid = try XCTUnwrap(own.processID)
        let c = try own.connectTCP(timeout: .milliseconds(300))
        try own.pause()
        XCTAssertTrue(own.isPaused)
        XCTAssertThrowsError(try ping(c)) { error in
            guard case RedisError.timeout = error else { return XCTFail("got \(error)") }
        }
        try own.resume()
        XCTAssertEqual(try ping(try own.connectTCP(timeout: .seconds(2))), .status("PONG"))
        let victim = try own.connectTCP(timeout: .seconds(2))
        own.kill9()
        XCTAssertNil(own.processID)
        XCTAssertEqual(kill(pid, 0), -1, "the process is gone")
        XCTAssertThrowsError(try ping(victim))
        try own.start()
        XCTAssertNotEqual(own.processID, pid)
        XCTAssertEqual(try own.run("PING"), .status("PONG"))
        try own.pause()
        own.stop()  // resumes, then shuts down
        XCTAssertNil(own.processID)
    }
}

/// The Redis Cluster fixture: up, addressable, failing over, migrating.
final class ClusterFixtureTests: XCTestCase {
    static var cluster: RedisCluster?
    static var startError: Error?

    override class func setUp() {
        let start = Date()
        do { cluster = try RedisCluster.shared() } catch { startError = error }
        print("RedisCluster.shared() ready in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }

    private func fixture() throws -> RedisCluster {
        if let error = Self.startError { throw error }
        return try XCTUnwrap(Self.cluster)
    }

    func testComesUpWithThreePrimariesAndTheirReplicas() throws {
        let cluster = try fixture()
        let nodes = try cluster.nodes()
        XCTAssertEqual(nodes.count, 6)
        XCTAssertEqual(nodes.filter(\.isPrimary).count, 3)
        XCTAssertEqual(nodes.filter(\.isPrimary).reduce(0) { $0 + $1.slots.reduce(0) { $0 + $1.count } }, 16384)
        for replica in nodes where !replica.isPrimary {
            XCTAssertTrue(nodes.contains { $0.id == replica.primaryID && $0.isPrimary }, "\(replica)")
        }
        XCTAssertEqual(Set(nodes.compactMap(\.processID)).count, 6)
    }

    func testKeySetThroughItsOwnerReadsBack() throws {
        let cluster = try fixture()
        let key = "fixture:{owner}"
        let slot = try cluster.keySlot(key)
        let owner = try cluster.primary(forKey: key)
        XCTAssertTrue(owner.slots.contains { $0.contains(slot) })
        let c = try cluster.connect(to: owner, timeout: .seconds(2))
        XCTAssertEqual(try c.command("SET", key, "v"), .status("OK"))
        XCTAssertEqual(try c.command("GET", key), .bulk(Array("v".utf8)))
        let other = try XCTUnwrap(try cluster.primaries().first { $0.id != owner.id })
        let moved = try cluster.connect(to: other, timeout: .seconds(2)).command("GET", key)
        XCTAssertEqual(moved.errorMessage, "MOVED \(slot) 127.0.0.1:\(owner.announcedPort)")
    }

    func testFailoverSwapsRoles() throws {
        let cluster = try fixture()
        let key = "fixture:{failover}"
        let old = try cluster.primary(forKey: key)
        try cluster.connect(to: old, timeout: .seconds(2)).command("SET", key, "kept").check()
        let replica = try XCTUnwrap(try cluster.replicas(of: old).first)
        let start = Date()
        let new = try cluster.failover(replicaOf: old)
        print("cluster failover took \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        XCTAssertEqual(new.id, replica.id)
        XCTAssertTrue(new.isPrimary)
        XCTAssertEqual(new.slots, old.slots)
        XCTAssertEqual(try cluster.node(port: old.port).primaryID, new.id)
        XCTAssertEqual(try cluster.primary(forKey: key).port, new.port)
        XCTAssertEqual(try cluster.connect(to: new, timeout: .seconds(2)).command("GET", key), .bulk(Array("kept".utf8)))
    }

    func testMigrateSlotMovesTheSlotAndTheKey() throws {
        let cluster = try fixture()
        let key = "fixture:{migrate}"
        let slot = try cluster.keySlot(key)
        let source = try cluster.primary(forSlot: slot)
        let target = try XCTUnwrap(try cluster.primaries().first { $0.id != source.id })
        try cluster.connect(to: source, timeout: .seconds(2)).command("SET", key, "moving").check()
        try cluster.migrateSlot(slot, from: source, to: target)
        XCTAssertEqual(try cluster.primary(forSlot: slot).id, target.id)
        XCTAssertEqual(try cluster.connect(to: target, timeout: .seconds(2)).command("GET", key), .bulk(Array("moving".utf8)))
        XCTAssertEqual(try cluster.connect(to: source, timeout: .seconds(2)).command("GET", key).errorMessage,
                       "MOVED \(slot) 127.0.0.1:\(target.announcedPort)")
    }

    func testMigrationInStepsAnswersAskInTheMiddle() throws {
        let cluster = try fixture()
        let key = "fixture:{steps}"
        let slot = try cluster.keySlot(key)
        let source = try cluster.primary(forSlot: slot)
        let target = try XCTUnwrap(try cluster.primaries().first { $0.id != source.id })
        let onSource = try cluster.connect(to: source, timeout: .seconds(2))
        try onSource.command("SET", key, "one").check()
        let migration = try cluster.beginMigration(slot: slot, from: source, to: target)
        XCTAssertEqual(try onSource.command("GET", key), .bulk(Array("one".utf8)), "not moved yet: the source answers")
        XCTAssertEqual(try migration.moveKeys(), 1)
        XCTAssertEqual(try onSource.command("GET", key).errorMessage, "ASK \(slot) 127.0.0.1:\(target.announcedPort)")
        let onTarget = try cluster.connect(to: target, timeout: .seconds(2))
        try onTarget.command("ASKING").check()
        XCTAssertEqual(try onTarget.command("GET", key), .bulk(Array("one".utf8)))
        try migration.finish()
        XCTAssertEqual(try cluster.primary(forSlot: slot).id, target.id)
        XCTAssertEqual(try onTarget.command("GET", key), .bulk(Array("one".utf8)))
    }

    func testKill9PromotesTheReplicaAndRestartRejoinsAsReplica() throws {
        let cluster = try fixture()
        let victim = try XCTUnwrap(try cluster.primaries().last)
        let replica = try XCTUnwrap(try cluster.replicas(of: victim).first)
        let start = Date()
        try cluster.kill9(victim)
        try cluster.waitHealthy()
        print("cluster promotion after kill -9 took \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        XCTAssertTrue(try cluster.node(port: replica.port).isPrimary)
        XCTAssertFalse(try cluster.node(port: victim.port).isAlive)
        try cluster.restart(victim)
        let back = try cluster.node(port: victim.port)
        XCTAssertTrue(back.isAlive)
        XCTAssertEqual(back.primaryID, replica.id)
    }
}

/// A cluster whose nodes are reached through fault proxies.
final class ProxiedClusterFixtureTests: XCTestCase {
    static var cluster: RedisCluster?
    static var startError: Error?

    override class func setUp() {
        let start = Date()
        do { cluster = try RedisCluster(password: "cluster-secret", proxied: true) } catch { startError = error }
        print("proxied RedisCluster started in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }

    override class func tearDown() {
        for server in cluster?.servers ?? [] { server.stop() }
        cluster = nil
    }

    func testTopologyNamesTheProxiesAndAFrozenProxyIsAnUnreachableNode() throws {
        if let error = Self.startError { throw error }
        let cluster = try XCTUnwrap(Self.cluster)
        let key = "fixture:{proxied}"
        let owner = try cluster.primary(forKey: key)
        let proxy = try cluster.proxy(owner)
        XCTAssertEqual(owner.announcedPort, proxy.port)
        XCTAssertNotEqual(owner.announcedPort, owner.port)
        let slots = try cluster.connect(toPort: owner.port, timeout: .seconds(2)).command("CLUSTER", "SLOTS")
        let announced = Set((slots.elements ?? []).compactMap { $0.elements?[2].elements?[1].integer }.map(Int.init))
        XCTAssertEqual(announced, Set(try cluster.primaries().map(\.announcedPort)))
        let c = try cluster.connect(to: owner, timeout: .milliseconds(500))
        XCTAssertEqual(try c.command("SET", key, "v"), .status("OK"))
        proxy.freeze()
        XCTAssertThrowsError(try c.command("GET", key)) { error in
            guard case RedisError.timeout = error else { return XCTFail("got \(error)") }
        }
        try cluster.waitHealthy(timeout: 5)  // the bus is direct: nobody fails the node over
        XCTAssertTrue(try cluster.node(port: owner.port).isPrimary)
        proxy.thaw()
        XCTAssertEqual(try cluster.connect(to: owner, timeout: .seconds(2)).command("GET", key), .bulk(Array("v".utf8)))
    }
}

/// The Sentinel fixture, with passwords on the data nodes and sentinels.
final class SentinelFixtureTests: XCTestCase {
    static var set: SentinelSet?
    static var startError: Error?

    override class func setUp() {
        let start = Date()
        do { set = try SentinelSet(password: "data-secret", sentinelPassword: "sentinel-secret") } catch { startError = error }
        print("SentinelSet started in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }

    override class func tearDown() {
        for server in (set?.sentinels ?? []) + (set?.dataNodes ?? []) { server.stop() }
        set = nil
    }

    private func fixture() throws -> SentinelSet {
        if let error = Self.startError { throw error }
        return try XCTUnwrap(Self.set)
    }

    func testSentinelsReportTheMasterAndItReplicates() throws {
        let set = try fixture()
        let port = try set.masterPort()
        for i in set.sentinels.indices {
            XCTAssertEqual(try set.masterPort(askingSentinel: i), port)
            let peers = try set.connectSentinel(i).command("SENTINEL", "SENTINELS", set.masterName)
            XCTAssertEqual(peers.elements?.count, 2, "sentinel \(i) knows the other two")
        }
        let master = try set.master()
        let c = try master.connectTCP(timeout: .seconds(2))
        XCTAssertEqual(try c.command("ROLE").elements?.first, .bulk(Array("master".utf8)))
        try c.command("SET", "fixture:sentinel", "seen").check()
        XCTAssertEqual(try c.command("WAIT", "1", "2000"), .integer(1))
        let replica = try XCTUnwrap(try set.replicas().first)
        XCTAssertEqual(try replica.run(timeout: .seconds(2), ["GET", "fixture:sentinel"]), .bulk(Array("seen".utf8)))
        // The sentinels want their own password.
        let bare = try Connection(endpoint: .tcp(host: "127.0.0.1", port: set.sentinelPorts[0]), connectTimeout: .seconds(2))
        XCTAssertEqual(try bare.command("SENTINEL", "MASTERS").errorMessage?.hasPrefix("NOAUTH"), true)
    }

    func testFailoverChangesTheMaster() throws {
        let set = try fixture()
        let old = try set.masterPort()
        let start = Date()
        let new = try set.failover()
        print("sentinel failover took \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        XCTAssertNotEqual(new, old)
        XCTAssertEqual(try set.masterPort(), new)
        let former = try XCTUnwrap(set.dataNodes.first { $0.port == old })
        XCTAssertEqual(try former.run(timeout: .seconds(2), ["ROLE"]).elements?.first, .bulk(Array("slave".utf8)))
    }

    func testFirstSentinelDownTheOthersStillAnswer() throws {
        let set = try fixture()
        set.stopSentinel(0)
        XCTAssertThrowsError(try Connection(endpoint: .tcp(host: "127.0.0.1", port: set.sentinelPorts[0]), connectTimeout: .seconds(1)))
        XCTAssertEqual(try set.masterPort(askingSentinel: 1), try set.master().port)
        try set.startSentinel(0)
        XCTAssertEqual(try set.masterPort(askingSentinel: 0), try set.masterPort(askingSentinel: 1))
    }

    func testKill9MasterPromotesTheReplica() throws {
        let set = try fixture()
        let old = try set.master()
        let start = Date()
        let new = try set.kill9Master()
        print("sentinel promotion after kill -9 took \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
        XCTAssertNotEqual(new, old.port)
        XCTAssertFalse(old.isRunning)
        try set.restart(old)
        XCTAssertEqual(try set.masterPort(), new)
        XCTAssertEqual(try set.replicas().map(\.port), [old.port])
    }
}
