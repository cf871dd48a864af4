import Foundation
import Hiredis
import RedisFixture
import XCTest

/// `--timeout` (SPEC §2): a server that accepts the connection but stops
/// answering (here SIGSTOPped) never hangs history, stats or publish: each
/// exits 69 within the timeout (plus slack for a loaded machine) with one
/// line naming the server.
final class TimeoutTests: XCTestCase {
    static var own: RedisServer!

    override class func setUp() {
        do { own = try RedisServer() } catch { fatalError("\(error)") }
    }

    override class func tearDown() { own = nil }

    private var address: [String] { ["-h", "127.0.0.1", "-p", String(Self.own.port)] }

    /// Stops the server (SIGSTOP) for the length of `body`.
    private func whileStopped<T>(_ body: () throws -> T) throws -> T {
        try Self.own.pause()
        defer { try? Self.own.resume() }
        return try body()
    }

    /// Checks a give-up: exit 69, one stderr line naming the server and the
    /// timeout, `elapsed` (from the fault) within the timeout plus 2 s.
    private func assertGaveUp(_ r: CLIResult, after elapsed: TimeInterval, timeout: TimeInterval, _ what: String, port: Int? = nil,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 69, "\(what): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "\(what): one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("roomwarden: Redis at 127.0.0.1:\(port ?? Self.own.port) did not answer for \(Int(timeout))s"),
                      "\(what): \(r.stderr)", file: file, line: line)
        XCTAssertGreaterThanOrEqual(elapsed, timeout - 0.05, what, file: file, line: line)
        XCTAssertLessThan(elapsed, timeout + 2, what, file: file, line: line)
        print("fault to exit, \(what): \(String(format: "%.2f", elapsed))s (--timeout \(Int(timeout))s)")
    }

    /// publish takes a timeout as a lost link and retries for --retry-for
    /// (PublishResumeTests); `--retry-for 0` here makes it give up at the
    /// timeout like the others.
    func testHistoryStatsAndPublishGiveUpOnAServerThatStoppedAnswering() throws {
        try Self.own.run("ZADD", "room:t:archive", "1795300000000", "kept")
        let commands: [(String, [String])] = [
            ("history of a channel", ["history", "room:t"]),
            ("history of all rooms", ["history"]),
            ("stats", ["stats"]),
            ("publish one message", ["publish", "room:t", "hello", "--retry-for", "0"]),
        ]
        try whileStopped {
            for (what, args) in commands {
                let start = Date()
                let r = try roomwarden(args + address + ["--timeout", "1s"], timeout: 20)
                assertGaveUp(r, after: Date().timeIntervalSince(start), timeout: 1, what)
            }
        }
    }

    /// The same through a link that stays open and forwards nothing.
    func testAFrozenLinkIsNoHangEither() throws {
        try Self.own.run("ZADD", "room:f:archive", "1795300000000", "kept")
        let proxy = try FaultProxy(to: Self.own)
        let via = ["-h", "127.0.0.1", "-p", String(proxy.port), "--timeout", "1s"]
        XCTAssertEqual(try roomwarden(["history", "room:f", "--format", "{message}"] + via).lines, ["kept"])
        proxy.freeze()
        defer { proxy.thaw() }
        for (what, args) in [("history", ["history", "room:f"]), ("stats", ["stats"]), ("publish", ["publish", "room:f", "hi", "--retry-for", "0"])] {
            let start = Date()
            let r = try roomwarden(args + via, timeout: 20)
            assertGaveUp(r, after: Date().timeIntervalSince(start), timeout: 1, "\(what) through a frozen link", port: proxy.port)
        }
    }

    func testPublishFromStdinGivesUpMidStream() throws {
        let p = try CLIProcess(["publish", "room:t", "--timeout", "2s", "--retry-for", "0"] + address)
        p.write(Array("one\ntwo\n".utf8))
        guard p.waitForLines(2) else {
            p.signal(SIGKILL)
            return XCTFail("the first lines were not published: \(p.wait().stderr)")
        }
        let r: CLIResult = try whileStopped {
            let start = Date()
            p.write(Array("three\n".utf8))
            let r = p.wait(timeout: 20)
            assertGaveUp(r, after: Date().timeIntervalSince(start), timeout: 2, "publish from stdin")
            return r
        }
        XCTAssertEqual(r.lines, ["0", "0"])
    }

    /// The archive link of history --follow has the timeout too (its
    /// subscribed link relies on the heartbeat).
    func testFollowGivesUpWhenTheArchiveStopsAnswering() throws {
        let c = try Self.own.connect()
        var batch = CommandBatch()
        for i in 0..<100_000 { batch.add(.zadd(key: Array("room:big:archive".utf8), score: Score(1_795_300_000_000 + Int64(i)), member: Array("entry \(i)".utf8))) }
        _ = try c.replies(to: c.append(batch))
        let p = try CLIProcess(["history", "room:big", "--follow", "--format", "{message}", "--timeout", "1s"] + address)
        p.closeInput()
        XCTAssertTrue(p.waitForLines(5_000, timeout: 20), "the archive started printing: \(p.stderrSoFar)")
        let r: CLIResult = try whileStopped {
            let start = Date()
            let r = p.wait(timeout: 20)
            if r.lines.count < 100_000 {  // stopped in the middle of the archive, as meant
                assertGaveUp(r, after: Date().timeIntervalSince(start), timeout: 1, "history --follow's archive link")
            }
            return r
        }
        XCTAssertLessThan(r.lines.count, 100_000, "the archive was read before the server stopped: make it bigger")
        _ = try Self.own.run("DEL", "room:big:archive")
    }

    func testZeroWaitsForEverAndWatchDoesNotTimeOutWhenIdle() throws {
        try Self.own.run("ZADD", "room:patient:archive", "1795300000000", "kept")
        let waiting: CLIProcess = try whileStopped {
            let p = try CLIProcess(["history", "room:patient", "--timeout", "0"] + address)
            p.closeInput()
            usleep(2_500_000)
            XCTAssertTrue(p.process.isRunning, "--timeout 0 waits: \(p.stderrSoFar)")
            return p
        }
        // Once the server runs again, the waiting command goes on.
        let done = waiting.wait(timeout: 10)
        XCTAssertEqual(done.status, 0, done.stderr)
        XCTAssertEqual(done.lines.count, 1)

        let watch = try startWatch(["-c", "room:quiet", "-n", "1", "--timeout", "1s", "--format", "{message}"], on: Self.own)
        usleep(2_500_000)
        try Self.own.run("PUBLISH", "room:quiet", "late")
        let r = watch.wait(timeout: 10)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["late"])
    }

    func testBadTimeoutIsAUsageError() throws {
        let r = try roomwarden(["history", "--timeout", "soon"] + address)
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("--timeout"), r.stderr)
    }
}
