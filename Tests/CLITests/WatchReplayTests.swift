import Foundation
import Hiredis
import RedisFixture
import XCTest

/// `watch` fills every gap from the rooms' archives (SPEC §5, #13).
final class WatchReplayTests: XCTestCase {
    /// Ten rooms published with `roomwarden publish` (archived) while the
    /// watcher's connection is killed ten times: every message printed
    /// exactly once, each room in order, nothing reported lost.
    func testEveryMessageOnceThroughTenConnectionKills() throws {
        let own = try RedisServer()
        let p = try startWatch(["room:*", "--format", "{channel} {message}"], on: own, subscriptions: 2)
        let perRoom = 1500
        let publishers = try (0..<10).map { r -> CLIProcess in
            let pub = try CLIProcess(["publish", "room:r\(r)", "-q"] + own.socketArguments)
            return pub
        }
        let admin = try own.connect()
        var killed = 0
        for chunk in 0..<15 {
            for (r, pub) in publishers.enumerated() {
                let lines = (chunk * 100..<(chunk + 1) * 100).map { String(format: "r%d-%05d\n", r, $0) }.joined()
                pub.write(Array(lines.utf8))
            }
            usleep(120_000)
            if chunk % 3 != 2 { killed += Int(try admin.command("CLIENT", "KILL", "TYPE", "pubsub").integer ?? 0) }
        }
        for pub in publishers {
            pub.closeInput()
            XCTAssertEqual(pub.wait().status, 0)
        }
        XCTAssertTrue(p.waitForLines(10 * perRoom, timeout: 30), "printed \(p.stdoutSoFar.filter { $0 == 0x0A }.count): \(p.stderrSoFar)")
        // The last kill's reconnection (and its replay) may still be going
        // on: wait until every loss is followed by its reconnection, for
        // half a second in a row.
        let settling = Date().addingTimeInterval(10)
        var settledSince: Date?
        while Date() < settling {
            let text = p.stderrSoFar
            if text.components(separatedBy: "lost the connection").count == text.components(separatedBy: "reconnected").count {
                settledSince = settledSince ?? Date()
                if Date().timeIntervalSince(settledSince ?? Date()) >= 0.5 { break }
            } else {
                settledSince = nil
            }
            usleep(20_000)
        }
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertGreaterThanOrEqual(killed, 8, "most kills land on a live link")
        XCTAssertEqual(r.lines.count, 10 * perRoom, "each message once")
        for room in 0..<10 {
            let mine = r.lines.filter { $0.hasPrefix("room:r\(room) ") }.map { String($0.split(separator: " ")[1]) }
            XCTAssertEqual(mine, (0..<perRoom).map { String(format: "r%d-%05d", room, $0) }, "room:r\(room) complete and in order")
        }
        XCTAssertFalse(r.stderr.contains("were not received"), r.stderr)
        // A kill that lands while it resubscribes costs one more try, not
        // one more notice.
        let regained = r.stderr.components(separatedBy: "reconnected").count - 1
        XCTAssertEqual(r.stderr.components(separatedBy: "lost the connection").count - 1, regained, r.stderr)
        XCTAssertTrue((killed / 2...killed).contains(regained), "\(regained) of \(killed): \(r.stderr)")
        print("replay through \(killed) connection kills: \(r.lines.count) lines, each once")
    }

    /// A gap while the link is frozen: the archived room's message is
    /// replayed (marked), the other room's loss is reported with its span.
    func testARoomWithoutAnArchiveHasItsLossReported() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        let p = try startWatch(["room:*", "--heartbeat", "500ms", "--format", "{channel} {message} {replayed}"],
                               on: own, address: ["-h", "127.0.0.1", "-p", String(proxy.port)], subscriptions: 2)
        XCTAssertEqual(try roomwarden(["publish", "room:kept", "before", "-q"] + own.socketArguments).status, 0)
        try own.publish("room:bare", Array("before".utf8))
        XCTAssertTrue(p.waitForLines(2))
        proxy.freeze()
        usleep(200_000)
        XCTAssertEqual(try roomwarden(["publish", "room:kept", "during", "-q"] + own.socketArguments).status, 0)
        let sentBare = Date()
        try own.publish("room:bare", Array("during".utf8))
        XCTAssertTrue(p.waitForStderr("lost the connection", timeout: 5), p.stderrSoFar)
        proxy.thaw()
        XCTAssertTrue(p.waitForStderr("reconnected", timeout: 10), p.stderrSoFar)
        XCTAssertEqual(try roomwarden(["publish", "room:kept", "after", "-q"] + own.socketArguments).status, 0)
        XCTAssertTrue(p.waitForLines(4))
        p.signal(SIGINT)
        let r = p.wait()
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertEqual(r.lines.sorted(), ["room:bare before ", "room:kept after ", "room:kept before ", "room:kept during true"])
        XCTAssertTrue(r.stderr.contains("replayed 1 message from the archives of 1 room"), r.stderr)
        XCTAssertTrue(r.stderr.contains("to room:bare (no archive) were not received"), r.stderr)
        let span = try XCTUnwrap(WatchFaultTests.reportedSpan(r.stderr), r.stderr)
        XCTAssertLessThanOrEqual(span.from, sentBare)
        XCTAssertGreaterThanOrEqual(span.to, sentBare)
    }

    /// `--since`: the archives from then, marked, then live, each once.
    func testSinceReplaysTheArchivesThenGoesOnLive() throws {
        let room = freshRoom()
        for m in ["one", "two", "three"] { XCTAssertEqual(try rw(["publish", room, m, "-q"]).status, 0) }
        let p = try startWatch([room, "--since", "5m", "--json"], subscriptions: 2)
        XCTAssertTrue(p.waitForLines(3))
        for m in ["four", "five"] { XCTAssertEqual(try rw(["publish", room, m, "-q"]).status, 0) }
        XCTAssertTrue(p.waitForLines(5))
        usleep(200_000)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        let objects = try r.lines.map(jsonObject)
        XCTAssertEqual(objects.map { $0["message"] as? String }, ["one", "two", "three", "four", "five"])
        XCTAssertEqual(objects.map { $0["replayed"] as? Bool }, [true, true, true, nil, nil])
        XCTAssertTrue(r.lines[0].contains(#""channel":"\#(room)","replayed":true,"id":"#), r.lines[0])
        XCTAssertEqual(r.stderr, "")
    }

    /// A 1MB `--buffer` and a reader that pauses: what the full buffer
    /// dropped is replayed from the archive once there is room; nothing
    /// is lost, nothing printed twice.
    func testAFullBufferIsRefilledFromTheArchive() throws {
        let own = try RedisServer()
        let p = try startWatch(["room:*", "--format", "{message}", "--buffer", "1MB"], on: own, subscriptions: 2, readOutput: false)
        let total = 12_000
        let lines = (0..<total).map { String(format: "%06d ", $0) + String(repeating: "x", count: 100) + "\n" }.joined()
        XCTAssertEqual(try roomwarden(["publish", "room:p", "-q"] + own.socketArguments, stdin: Array(lines.utf8)).status, 0)
        sleep(1)  // stdout still unread: the queue fills and drops
        var seen: [UInt8] = []
        var newlines = 0
        let handle = p.stdoutHandle
        let reading = Date().addingTimeInterval(30)
        while newlines < total && Date() < reading {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            seen += chunk
            for byte in chunk where byte == 0x0A { newlines += 1 }
        }
        XCTAssertTrue(p.waitForStderr("replayed"), p.stderrSoFar)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertTrue(r.stderr.contains("buffer full"), "the buffer did overflow: \(r.stderr)")
        XCTAssertFalse(r.stderr.contains("not received"), r.stderr)
        let numbers = String(decoding: seen, as: UTF8.self).split(separator: "\n").map { Int($0.prefix(6)) ?? -1 }
        XCTAssertEqual(numbers.count, total, "each once")
        XCTAssertTrue(numbers == Array(0..<total), "every message once, in order: \(r.stderr)")
    }
}
