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
        func proxyThreads() -> Int {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
            return tasks.filter { task in
                let name = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
                return name.hasPrefix("FaultProxy")
            }.count
        }
        // Warm up whatever the process opens once.
        do { let p = try FaultProxy(to: Self.server); _ = try ping(try p.connect()); p.stop() }
        let before = openDescriptors()
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
