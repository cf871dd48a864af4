import Foundation
import Hiredis
import RedisFixture
import XCTest

/// Connecting as SPEC §2 says: flags, URLs, the environment, auth and ACLs.
final class ConnectTests: XCTestCase {
    static let secret = "s3cr3t-Pa55"
    static var locked: RedisServer!

    override class func setUp() {
        do {
            locked = try RedisServer(password: secret)
            try locked.run("ACL", "SETUSER", "auditor", "on", ">auditpass", "~*", "&*", "+@all", "-publish")
            try locked.run("ACL", "SETUSER", "lobbyist", "on", ">lobbypass", "~*", "resetchannels", "&room:lobby", "+@all")
        } catch { fatalError("\(error)") }
    }

    override class func tearDown() { locked = nil }

    private var lockedSocket: [String] { ["-s", Self.locked.socketPath] }

    private func assertNoSecret(_ r: CLIResult, _ secret: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(r.text.contains(secret), "stdout leaks the password", file: file, line: line)
        XCTAssertFalse(r.stderr.contains(secret), "stderr leaks the password: \(r.stderr)", file: file, line: line)
    }

    func testUnreachableExits69WithinConnectTimeout() throws {
        let port = try RedisServer.freePort()
        let start = Date()
        let r = try roomwarden(["publish", "room:x", "hi", "-p", String(port), "--connect-timeout", "2s"])
        XCTAssertEqual(r.status, 69)
        XCTAssertLessThan(Date().timeIntervalSince(start), 10)
        XCTAssertTrue(r.stderr.hasPrefix("roomwarden: could not connect to Redis at 127.0.0.1:\(port)"), r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1)
        let gone = try roomwarden(["publish", "room:x", "hi", "-s", "/nonexistent/redis.sock"])
        XCTAssertEqual(gone.status, 69)
        XCTAssertTrue(gone.stderr.contains("/nonexistent/redis.sock"), gone.stderr)
    }

    func testWrongPasswordExits77AndNeverShowsIt() throws {
        let wrong = "not-the-Pa55word"
        for (args, env) in [(["-a", wrong], [String: String]()),
                            ([], ["REDISCLI_AUTH": wrong]),
                            (["-u", "redis://:\(wrong)@127.0.0.1:\(Self.locked.port)"], [:]),
                            (["--user", "auditor", "-a", wrong], [:])] {
            let r = try roomwarden(["publish", "room:x", "hi"] + (args.first == "-u" ? [] : lockedSocket) + args, environment: env)
            XCTAssertEqual(r.status, 77, "\(args) \(env.keys): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("authentication failed"), r.stderr)
            assertNoSecret(r, wrong)
        }
    }

    func testPasswordForAServerWithoutOneOnlyWarns() throws {
        let room = freshRoom()
        let r = try rw(["publish", room, "hi"], env: ["REDISCLI_AUTH": "unneeded"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("has none configured"), r.stderr)
        XCTAssertFalse(r.stderr.contains("unneeded"))
    }

    func testNoPasswordExits77() throws {
        let r = try roomwarden(["publish", "room:x", "hi"] + lockedSocket)
        XCTAssertEqual(r.status, 77, r.stderr)
        XCTAssertTrue(r.stderr.contains("requires a password"), r.stderr)
    }

    func testRightPasswordEveryWay() throws {
        let s = Self.secret
        let cases: [([String], [String: String])] = [
            (lockedSocket + ["-a", s], [:]),
            (lockedSocket, ["REDISCLI_AUTH": s]),
            (["-u", "redis://:\(s)@127.0.0.1:\(Self.locked.port)/0"], [:]),
            ([], ["REDIS_URL": "unix://\(Self.locked.socketPath)?password=\(s)"]),
            (lockedSocket + ["--user", "default"], ["REDISCLI_AUTH": s]),
            (lockedSocket + ["--user", "lobbyist", "-a", "lobbypass"], [:]),
        ]
        for (args, env) in cases {
            let r = try roomwarden(["publish", "room:lobby", "hi", "--no-archive"] + args, environment: env)
            XCTAssertEqual(r.status, 0, "\(args.filter { !$0.contains(s) }): \(r.stderr)")
            assertNoSecret(r, s)
            XCTAssertEqual(r.stderr.contains("warning"), args.contains("-a") || args.contains { $0.hasPrefix("redis://") },
                           "argv passwords warn, the environment does not: \(r.stderr)")
        }
    }

    func testACLUserWhoMayNotPublishExits77() throws {
        var r = try roomwarden(["publish", "room:lobby", "hi"] + lockedSocket + ["--user", "auditor", "-a", "auditpass"])
        XCTAssertEqual(r.status, 77, r.stderr)
        XCTAssertTrue(r.stderr.contains("NOPERM"), r.stderr)
        XCTAssertTrue(r.stderr.contains("not published"), r.stderr)
        r = try roomwarden(["publish", "room:elsewhere", "hi", "--no-archive"] + lockedSocket + ["--user", "lobbyist", "-a", "lobbypass"])
        XCTAssertEqual(r.status, 77, r.stderr)
        XCTAssertTrue(r.stderr.contains("NOPERM"), r.stderr)
    }

    func testDbSelectionByFlagURLAndEnv() throws {
        let room = freshRoom()
        var r = try rw(["publish", room, "in db 3", "--db", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let c3 = try server.connect()
        _ = try c3.command("SELECT", "3")
        XCTAssertEqual(try c3.command("ZCARD", "\(room):archive"), .integer(1))
        r = try roomwarden(["publish", room, "in db 4", "-u", "redis://127.0.0.1:\(server.port)/4"])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try roomwarden(["publish", room, "in db 4"], environment: ["REDIS_URL": "unix://\(server.socketPath)?db=4"])
        XCTAssertEqual(r.status, 0, r.stderr)
        _ = try c3.command("SELECT", "4")
        XCTAssertEqual(try c3.command("ZCARD", "\(room):archive"), .integer(2))
        r = try rw(["publish", room, "x", "--db", "999"])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("--db 999"), r.stderr)
    }

    func testFlagsBeatTheEnvironment() throws {
        let room = freshRoom()
        let dead = try RedisServer.freePort()
        let r = try roomwarden(["publish", room, "x", "-p", String(server.port)],
                               environment: ["REDIS_URL": "redis://127.0.0.1:\(dead)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try server.run("ZCARD", "\(room):archive"), .integer(1))
    }

    func testBadURLsAreUsageErrors() throws {
        var r = try roomwarden(["publish", "room:x", "hi", "-u", "rediss://:hunter2@example:6380"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("stunnel"), r.stderr)
        XCTAssertFalse(r.stderr.contains("hunter2"), r.stderr)
        r = try roomwarden(["publish", "room:x", "hi", "-u", "redis://:hunter2@host:notaport"])
        XCTAssertEqual(r.status, 64)
        XCTAssertFalse(r.stderr.contains("hunter2"), r.stderr)
        r = try roomwarden(["publish", "room:x", "hi", "-u", "http://localhost"])
        XCTAssertEqual(r.status, 64)
        r = try roomwarden(["publish", "room:x", "hi", "--connect-timeout", "soon"])
        XCTAssertEqual(r.status, 64)
        r = try roomwarden(["publish", "room:x", "hi", "--user", "someone"] + server.socketArguments)
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("needs a password"), r.stderr)
    }

    func testAskpassReadsTheTerminal() throws {
        // A real pseudo-terminal through script(1): the password is typed, not echoed.
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("script(1) missing") }
        let room = freshRoom()
        let cmd = "\(CLIProcess.binary.path) publish \(room) hi --no-archive --askpass -s \(Self.locked.socketPath)"
        let p = try RedisFixture.CLIProcessShell(["/usr/bin/script", "-qec", cmd, "/dev/null"])
        XCTAssertTrue(p.waitFor("Password: "), p.output)
        p.type("\(Self.secret)\n")
        let status = p.wait()
        XCTAssertEqual(status, 0, p.output)
        XCTAssertFalse(p.output.contains(Self.secret), "echoed: \(p.output)")
    }
}
