import Foundation
import Hiredis
import RedisFixture
@testable import RoomWardenKit
import XCTest

/// Resolving and following a master through real sentinels (a master, a
/// replica and three sentinels, started once for this class).
final class SentinelTopologyTests: XCTestCase {
    private static var shared: SentinelSet?
    private static let lock = NSLock()

    private var set: SentinelSet!

    override func setUpWithError() throws {
        SentinelTopologyTests.lock.lock(); defer { SentinelTopologyTests.lock.unlock() }
        if SentinelTopologyTests.shared == nil { SentinelTopologyTests.shared = try SentinelSet(password: "data-pw") }
        set = SentinelTopologyTests.shared
        try set.waitSettled()
    }

    private func connector(password: String? = "data-pw") -> ClusterTopology.Connect {
        { (endpoint: Endpoint) throws(RoomWardenError) -> Connection in
            var settings = ConnectionSettings()
            settings.endpoint = endpoint
            settings.password = password
            settings.connectTimeout = .seconds(2)
            return try settings.connect()
        }
    }

    private func settings(_ sentinels: [Endpoint]? = nil, password: String? = nil) -> SentinelSettings {
        SentinelSettings(sentinels: sentinels ?? set.sentinels.map(\.endpoint), masterName: set.masterName,
                         password: password, connectTimeout: .seconds(2))
    }

    private func port(_ e: Endpoint) -> Int? {
        guard case .tcp(_, let p) = e else { return nil }
        return p
    }

    func testResolvesWithTheFirstSentinelDown() throws {
        let nobody = try RedisServer.freePort()
        let resolver = SentinelResolver(settings: settings([.tcp(host: "127.0.0.1", port: nobody)] + set.sentinels.map(\.endpoint)))
        XCTAssertEqual(port(try resolver.askMaster()), try set.masterPort())
        // The sentinel that answered is asked first next time.
        XCTAssertEqual(resolver.settings.sentinels.first, set.sentinels[0].endpoint)
        let topology = try SentinelTopology(resolver: SentinelResolver(settings: settings([.tcp(host: "127.0.0.1", port: nobody)] + set.sentinels.map(\.endpoint))),
                                            connect: connector())
        XCTAssertEqual(port(topology.master), try set.masterPort())
        XCTAssertEqual(try SentinelResolver.checkRole(try topology.connection()), .master)
        XCTAssertEqual(try topology.perform(doing: "SET") { c throws(RedisError) in try c.command("SET", "sentinel:k", "v").check() }, .status("OK"))
    }

    func testNoSentinelReachableIs69NamingEachOne() throws {
        let ports = try RedisServer.freePorts(count: 2)
        let resolver = SentinelResolver(settings: settings(ports.map { .tcp(host: "127.0.0.1", port: $0) }))
        XCTAssertThrowsError(try resolver.askMaster()) { error in
            let e = error as? RoomWardenError
            XCTAssertEqual(e?.exitCode, 69)
            for p in ports { XCTAssertTrue(e?.message.contains("127.0.0.1:\(p)") ?? false, e?.message ?? "") }
            XCTAssertTrue(e?.message.contains("Connection refused") ?? false, e?.message ?? "")
        }
        XCTAssertThrowsError(try Topology.discover(sentinels: resolver.settings, connect: connector())) { error in
            XCTAssertEqual((error as? RoomWardenError)?.exitCode, 69)
        }
    }

    func testASentinelNamedAsADataNodeIsAUsageError() throws {
        let sentinel = set.sentinels[2].endpoint
        let plain = { (endpoint: Endpoint) throws(RoomWardenError) -> Connection in
            var settings = ConnectionSettings()
            settings.endpoint = endpoint
            return try settings.connect()
        }
        XCTAssertThrowsError(try Topology.discover(seed: sentinel, connect: plain)) { error in
            let e = error as? RoomWardenError
            XCTAssertEqual(e?.exitCode, 64)
            XCTAssertTrue(e?.message.contains("is a Redis Sentinel") ?? false, e?.message ?? "")
            XCTAssertTrue(e?.message.contains("--sentinel \(sentinel) --master NAME") ?? false, e?.message ?? "")
        }
        XCTAssertEqual(try Topology.mode(of: try set.master().connectTCP()), .standalone)
    }

    func testAnUnknownMasterNameIs69() throws {
        var s = settings()
        s.masterName = "nosuchmaster"
        XCTAssertThrowsError(try SentinelResolver(settings: s).askMaster()) { error in
            let e = error as? RoomWardenError
            XCTAssertEqual(e?.exitCode, 69)
            XCTAssertTrue(e?.message.contains("no sentinel knows a master named 'nosuchmaster'") ?? false, e?.message ?? "")
        }
    }

    func testAWrongSentinelPasswordIs77WithoutThePassword() throws {
        let guarded = try SentinelSet(masterName: "guarded", sentinelPassword: "sentinel-right")
        var s = SentinelSettings(sentinels: guarded.sentinels.map(\.endpoint), masterName: "guarded", password: "sentinel-WRONG")
        XCTAssertThrowsError(try SentinelResolver(settings: s).askMaster()) { error in
            let e = error as? RoomWardenError
            XCTAssertEqual(e?.exitCode, 77)
            XCTAssertFalse(e?.message.contains("sentinel-WRONG") ?? true)
            XCTAssertTrue(e?.message.contains("sentinel_password") ?? false, e?.message ?? "")
        }
        // No password at all: the sentinel says NOAUTH: 77 too.
        s.password = nil
        XCTAssertThrowsError(try SentinelResolver(settings: s).askMaster()) { error in
            XCTAssertEqual((error as? RoomWardenError)?.exitCode, 77, "\(error)")
        }
        s.password = "sentinel-right"
        XCTAssertEqual(port(try SentinelResolver(settings: s).askMaster()), try guarded.masterPort())
        // A URL's sentinel_password reaches the sentinels.
        let url = try SentinelURL(parsing: "redis-sentinel://\(guarded.sentinelAddresses.joined(separator: ","))?sentinel_password=sentinel-right#guarded")
        XCTAssertEqual(port(try SentinelResolver(settings: url.settings()).askMaster()), try guarded.masterPort())
    }

    func testAfterSentinelFailoverTheNewMasterIsFollowed() throws {
        let topology = try SentinelTopology(resolver: SentinelResolver(settings: settings()), connect: connector(), retryFor: .seconds(30))
        let old = try XCTUnwrap(port(topology.master))
        var notices: [String] = []
        topology.notice = { notices.append($0) }
        let listener = try SentinelSwitchListener(resolver: SentinelResolver(settings: settings()), master: topology.master)
        let started = Date()
        let new = try set.failover()
        let failoverTook = Date().timeIntervalSince(started)
        XCTAssertNotEqual(new, old)
        // The listener hears +switch-master.
        var heard: Endpoint?
        let deadline = Date().addingTimeInterval(10)
        while heard == nil, Date() < deadline { heard = try listener.next(timeoutMilliseconds: 200) }
        XCTAssertEqual(heard.flatMap(port), new)
        // The old connection now goes to a replica: READONLY (or a closed
        // link) makes perform ask the sentinels again.
        var ran: [Int?] = []
        let reply = try topology.perform(doing: "SET") { c throws(RedisError) in
            ran.append(self.port(topology.master))
            return try c.command("SET", "sentinel:after", "1").check()
        }
        XCTAssertEqual(reply, .status("OK"))
        XCTAssertEqual(port(topology.master), new)
        XCTAssertEqual(ran.first ?? nil, old, "the first try went to the demoted master")
        XCTAssertEqual(ran.last ?? nil, new)
        XCTAssertEqual(try SentinelResolver.checkRole(try topology.connection()), .master)
        XCTAssertTrue(notices.contains { $0.contains("now 127.0.0.1:\(new)") }, "\(notices)")
        print("timing: SENTINEL FAILOVER settled in \(String(format: "%.2f", failoverTook))s")
    }

    func testTheSwitchListenerMovesToAnotherSentinel() throws {
        let listener = try SentinelSwitchListener(resolver: SentinelResolver(settings: settings()), master: .tcp(host: "127.0.0.1", port: try set.masterPort()))
        XCTAssertEqual(listener.sentinel, set.sentinels[0].endpoint)
        set.stopSentinel(0)
        defer { try? set.startSentinel(0) }
        var moved = false
        let deadline = Date().addingTimeInterval(5)
        while !moved, Date() < deadline {
            XCTAssertNil(try listener.next(timeoutMilliseconds: 100), "no switch happened")
            moved = listener.sentinel != set.sentinels[0].endpoint
        }
        XCTAssertTrue(moved)
        XCTAssertEqual(listener.sentinel, set.sentinels[1].endpoint)
    }

    func testPerformRidesOutAKill9OfTheMaster() throws {
        let topology = try SentinelTopology(resolver: SentinelResolver(settings: settings()), connect: connector(), retryFor: .seconds(30))
        let old = try XCTUnwrap(port(topology.master))
        _ = try topology.perform(doing: "SET") { c throws(RedisError) in try c.command("SET", "sentinel:k9", "0").check() }
        try set.master().kill9()
        let started = Date()
        let reply = try topology.perform(doing: "SET") { c throws(RedisError) in try c.command("SET", "sentinel:k9", "1").check() }
        let took = Date().timeIntervalSince(started)
        print("timing: perform through sentinels succeeded \(String(format: "%.2f", took))s after kill -9 of the master")
        XCTAssertEqual(reply, .status("OK"))
        XCTAssertNotEqual(port(topology.master), old)
        XCTAssertEqual(try SentinelResolver.checkRole(try topology.connection()), .master)
        XCTAssertLessThan(took, 25)
        try set.restart(try XCTUnwrap(set.dataNodes.first { $0.port == old }))
    }
}
