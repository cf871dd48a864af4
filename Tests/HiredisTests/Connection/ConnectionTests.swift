import Hiredis
import RedisFixture
import XCTest

/// The hiredis layer against a real server.
final class ConnectionTests: XCTestCase {
    static var server: RedisServer!

    override class func setUp() {
        do { server = try RedisServer() } catch { fatalError("\(error)") }
    }

    override class func tearDown() { server = nil }

    func testBinarySafeRoundTripOverTCPAndUnix() throws {
        let value: [UInt8] = [0x00, 0xFF, 0x0D, 0x0A, 0x24, 0x2A] + Array(repeating: 0x41, count: 70_000)
        let tcp = try Connection(endpoint: .tcp(host: "127.0.0.1", port: Self.server.port), connectTimeout: .seconds(2))
        XCTAssertEqual(try tcp.command([Array("SET".utf8), [0x6B, 0x00], value]), .status("OK"))
        let unix = try Self.server.connect()
        XCTAssertEqual(try unix.command([Array("GET".utf8), [0x6B, 0x00]]), .bulk(value))
    }

    func testPipelineRepliesComeInOrder() throws {
        let c = try Self.server.connect()
        var batch = CommandBatch()
        for i in 0..<1000 { batch.add("RPUSH", "pipe", String(i)) }
        batch.add("LLEN", "pipe")
        batch.add("GET", "pipe")
        try c.append(batch)
        let replies = try c.readReplies(1002)
        XCTAssertEqual(replies[0], .integer(1))
        XCTAssertEqual(replies[999], .integer(1000))
        XCTAssertEqual(replies[1000], .integer(1000))
        XCTAssertEqual(replies[1001].errorMessage?.hasPrefix("WRONGTYPE"), true)
        XCTAssertEqual(try c.command("DEL", "pipe"), .integer(1))
    }

    func testServerErrorIsAReplyNotAThrow() throws {
        let c = try Self.server.connect()
        let reply = try c.command("NOSUCHCOMMAND")
        XCTAssertEqual(reply.errorMessage?.hasPrefix("ERR"), true)
        XCTAssertThrowsError(try reply.check())
    }

    func testRefusedConnectIsAConnectError() throws {
        let port = try RedisServer.freePort()
        XCTAssertThrowsError(try Connection(endpoint: .tcp(host: "127.0.0.1", port: port), connectTimeout: .seconds(1))) { error in
            guard case RedisError.connect(let endpoint, let reason) = error else { return XCTFail("got \(error)") }
            XCTAssertEqual(endpoint, "127.0.0.1:\(port)")
            XCTAssertTrue(reason.contains("refused"), reason)
        }
    }

    func testReadTimeoutIsATimeout() throws {
        let c = try Self.server.connect()
        try c.setTimeout(.milliseconds(200))
        XCTAssertThrowsError(try c.command("BLPOP", "nothing-here", "5")) { error in
            guard case RedisError.timeout = error else { return XCTFail("got \(error)") }
        }
    }

    func testClosedByServer() throws {
        let c = try Self.server.connect()
        _ = try c.command("CLIENT", "SETNAME", "doomed")
        let killer = try Self.server.connect()
        _ = try killer.command("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
        XCTAssertThrowsError(try c.command("PING")) { error in
            XCTAssertTrue((error as? RedisError)?.isConnectionFailure ?? false, "\(error)")
        }
    }

    func testReceiveDeliversPublishedMessages() throws {
        let sub = try Subscriber(Self.server, channels: ["room:*"], patterns: true)
        let pub = try Self.server.connect()
        XCTAssertEqual(try pub.command([Array("PUBLISH".utf8), Array("room:a".utf8), [0x00, 0xFF]]), .integer(1))
        let m = try XCTUnwrap(try sub.next())
        XCTAssertEqual(m.pattern, Array("room:*".utf8))
        XCTAssertEqual(m.channel, Array("room:a".utf8))
        XCTAssertEqual(m.payload, [0x00, 0xFF])
    }
}
