import Foundation
import Hiredis
import RedisFixture
import XCTest

/// `watch` fills every gap from the rooms' archives (SPEC §5, #13).
final class WatchReplayTests: XCTestCase {
    /// The issue's test (a): 200,000 lines into ten rooms with
    /// `roomwarden publish` (archived) while the watcher's connection is
    /// killed ten times (`CLIENT KILL TYPE pubsub`): every message printed
    /// exactly once, each room in time order, nothing reported lost.
    func testEveryMessageOnceThroughTenConnectionKills() throws {
        let own = try RedisServer()
        let p = try startWatch(["room:*", "--format", "{channel} {message}"], on: own, subscriptions: 2)
        let rooms = 10, perRoom = 20_000, chunks = 20
        let publishers = try (0..<rooms).map { r in try CLIProcess(["publish", "room:r\(r)", "-q"] + own.socketArguments) }
        let admin = try own.connect()
        var killed = 0
        let perChunk = perRoom / chunks
        for chunk in 0..<chunks {
            for (r, pub) in publishers.enumerated() {
                let lines = (chunk * perChunk..<(chunk + 1) * perChunk).map { WatchReplayTests.line(r, $0) + "\n" }.joined()
                pub.write(Array(lines.utf8))
            }
            usleep(100_000)
            // Every other chunk, kill the watcher's link: the first try
            // may meet it while it resubscribes after the last kill.
            guard chunk % 2 == 1 else { continue }
            let trying = Date().addingTimeInterval(5)
            while Date() < trying {
                let n = Int(try admin.command("CLIENT", "KILL", "TYPE", "pubsub").integer ?? 0)
                if n > 0 { killed += 1; break }
                usleep(20_000)
            }
        }
        for pub in publishers {
            pub.closeInput()
            XCTAssertEqual(pub.wait(timeout: 60).status, 0)
        }
        XCTAssertTrue(p.waitForLines(rooms * perRoom, timeout: 60), "printed \(p.stdoutSoFar.filter { $0 == 0x0A }.count): \(p.stderrSoFar)")
        XCTAssertTrue(settled(p), p.stderrSoFar)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertEqual(killed, 10, "every kill landed on a live link")
        XCTAssertEqual(r.lines.count, rooms * perRoom, "each message once")
        assertEachRoomInOrder(r, rooms: rooms, perRoom: perRoom)
        XCTAssertEqual(WatchReplayTests.lossReports(r.stderr), [], r.stderr)
        // A kill that lands while it resubscribes costs one more try, not
        // one more notice.
        let regained = r.stderr.components(separatedBy: "reconnected").count - 1
        XCTAssertEqual(r.stderr.components(separatedBy: "lost the connection").count - 1, regained, r.stderr)
        XCTAssertEqual(regained, killed, r.stderr)
        XCTAssertTrue(r.stderr.contains("replayed"), r.stderr)
        print("replay through \(killed) connection kills: \(r.lines.count) lines, each once")
    }

    /// Each of `rooms` rooms printed its `perRoom` lines (`room:r3 r3-000042`),
    /// all of them, once, in order.
    private func assertEachRoomInOrder(_ r: CLIResult, rooms: Int, perRoom: Int, file: StaticString = #filePath, line: UInt = #line) {
        var byRoom = [String: [Substring]]()
        for text in r.lines {
            let parts = text.split(separator: " ")
            byRoom[String(parts[0]), default: []].append(parts.count > 1 ? parts[1] : "")
        }
        for room in 0..<rooms {
            let mine = byRoom["room:r\(room)"] ?? []
            let want = (0..<perRoom).map { Substring(WatchReplayTests.line(room, $0)) }
            let bad = zip(mine, want).enumerated().first { $0.element.0 != $0.element.1 }.map { max(0, $0.offset - 3) }
            XCTAssertTrue(mine.elementsEqual(want), "room:r\(room) complete and in order: \(mine.count) lines; from \(bad ?? -1): \(bad.map { Array(mine[$0..<min(mine.count, $0 + 8)]) } ?? [])\n\(r.stderr)",
                          file: file, line: line)
        }
    }

    /// Waits until every loss on `p`'s stderr is followed by its
    /// reconnection, for half a second in a row (the last kill's
    /// replay may still be going on).
    private func settled(_ p: CLIProcess, within seconds: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var since: Date?
        while Date() < deadline {
            let text = p.stderrSoFar
            if text.components(separatedBy: "lost the connection").count == text.components(separatedBy: "reconnected").count {
                since = since ?? Date()
                if Date().timeIntervalSince(since ?? Date()) >= 0.5 { return true }
            } else {
                since = nil
            }
            usleep(20_000)
        }
        return false
    }

    /// The stderr lines that report messages lost: not received, dropped
    /// and not replayed, or not replayable.
    static func lossReports(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").map(String.init).filter {
            $0.contains("were not received") || $0.contains("stdout was not read fast enough") || $0.contains("could not be replayed")
        }
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

    /// The issue's test (b): a stream like (a)'s (here 60,000 lines of 500
    /// bytes into ten rooms: the debug build's publishers are slow) with a
    /// 1MB `--buffer` and a reader that stops reading mid-stream until the
    /// publishers are done: what the full buffer dropped is replayed from
    /// the archives once there is room, nothing is lost or printed twice,
    /// each room stays in order, and the watcher's memory stays far below
    /// what holding the backlog would take (its peak resident size, VmHWM,
    /// read from /proc while it runs).
    func testAFullBufferIsRefilledFromTheArchiveInBoundedMemory() throws {
        let own = try RedisServer()
        let p = try startWatch(["room:*", "--format", "{channel} {message}", "--buffer", "1MB"], on: own, subscriptions: 2, readOutput: false)
        let rooms = 10, perRoom = 6_000, chunks = 12, total = rooms * perRoom
        let filler = String(repeating: "x", count: 490)
        let perChunk = perRoom / chunks
        let input = (0..<chunks).map { chunk in
            (0..<rooms).map { r in Array((chunk * perChunk..<(chunk + 1) * perChunk).map { WatchReplayTests.line(r, $0) + " " + filler + "\n" }.joined().utf8) }
        }
        let publishers = try (0..<rooms).map { r in try CLIProcess(["publish", "room:r\(r)", "-q"] + own.socketArguments) }
        let pid = p.process.processIdentifier
        let idleKB = try XCTUnwrap(WatchReplayTests.status(pid, "VmRSS"))
        let began = Date()
        let feeding = DispatchGroup()
        DispatchQueue.global().async(group: feeding) {
            for chunk in input {
                for (pub, bytes) in zip(publishers, chunk) { pub.write(bytes) }
                usleep(20_000)
            }
            for pub in publishers { pub.closeInput() }
        }
        var seen: [UInt8] = []
        var newlines = 0
        var paused = false
        let handle = p.stdoutHandle
        let reading = Date().addingTimeInterval(90)
        while newlines < total && Date() < reading {
            if !paused && newlines >= total / 10 {
                // The reader stops while the rest is published: the queue
                // fills and drops.
                paused = true
                feeding.wait()
                for pub in publishers { XCTAssertEqual(pub.wait(timeout: 60).status, 0) }
            }
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            chunk.withUnsafeBytes { raw in
                seen.append(contentsOf: raw.bindMemory(to: UInt8.self))
                guard var at = raw.baseAddress else { return }
                let end = at + raw.count
                while let nl = memchr(at, 0x0A, end - at) {
                    newlines += 1
                    at = UnsafeRawPointer(nl) + 1
                }
            }
        }
        let peakKB = try XCTUnwrap(WatchReplayTests.status(pid, "VmHWM"))
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertTrue(r.stderr.contains("buffer full"), "the buffer did overflow: \(r.stderr)")
        XCTAssertTrue(r.stderr.contains("replayed"), r.stderr)
        XCTAssertEqual(WatchReplayTests.lossReports(r.stderr), [], r.stderr)
        var byRoom = [Substring: [Substring]]()
        var count = 0
        for line in String(decoding: seen, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ")
            byRoom[parts[0], default: []].append(parts.count > 1 ? parts[1] : "")
            count += 1
        }
        XCTAssertEqual(count, total, "each once")
        for room in 0..<rooms {
            let mine = byRoom[Substring("room:r\(room)")] ?? []
            XCTAssertTrue(mine.elementsEqual((0..<perRoom).map { Substring(WatchReplayTests.line(room, $0)) }),
                          "room:r\(room) complete and in order: \(mine.count) lines")
        }
        // Holding what the paused reader had not taken would cost the
        // stream's own size (28MB of payloads, more as batches; the build
        // before this test grew by more than the stream); the queue is
        // 1MB, a replay pages the archives and keeps 8-byte keys per entry.
        let streamMB = (total * (filler.count + 10)) >> 20
        let grownMB = (peakKB - idleKB) >> 10
        print("full buffer refilled: \(count) lines in \(Int(Date().timeIntervalSince(began)))s, peak RSS \(peakKB >> 10)MB, \(grownMB)MB over the idle watcher's \(idleKB >> 10)MB; the stream held \(streamMB)MB")
        XCTAssertLessThan(grownMB, streamMB / 2, "memory bounded: \(r.stderr)")
    }

    /// Cuts that land while replays run (#13): the watcher reads through a
    /// proxy that drops every connection it carries (the live link and
    /// the replay's own) every 100 to 300 ms while 40,000 archived lines
    /// are published, so some replays are cut off mid-read. A cut-off
    /// replay is not a loss: its span is replayed again (alone, or with
    /// the next gap), and the live messages behind it wait in the queue.
    /// Every message once, each room in order, no loss reported, and the
    /// watcher's peak resident size (VmHWM) stays within a generous bound
    /// of its 4MB `--buffer`.
    func testEveryMessageOnceWhenCutsLandDuringReplays() throws {
        let own = try RedisServer()
        let proxy = try FaultProxy(to: own)
        let p = try startWatch(["room:*", "--format", "{channel} {message}", "--buffer", "4MB", "--heartbeat", "1s"],
                               on: own, address: ["-h", "127.0.0.1", "-p", String(proxy.port)], subscriptions: 2)
        let pid = p.process.processIdentifier
        let idleKB = try XCTUnwrap(WatchReplayTests.status(pid, "VmRSS"))
        let rooms = 10, perRoom = 4_000, chunks = 40
        let publishers = try (0..<rooms).map { r in try CLIProcess(["publish", "room:r\(r)", "-q"] + own.socketArguments) }
        var cuts = 0
        let perChunk = perRoom / chunks
        for chunk in 0..<chunks {
            for (r, pub) in publishers.enumerated() {
                let lines = (chunk * perChunk..<(chunk + 1) * perChunk).map { WatchReplayTests.line(r, $0) + "\n" }.joined()
                pub.write(Array(lines.utf8))
            }
            usleep(UInt32.random(in: 100_000...300_000))
            if chunk < chunks - 2 {
                proxy.cut()
                cuts += 1
            }
        }
        for pub in publishers {
            pub.closeInput()
            XCTAssertEqual(pub.wait(timeout: 60).status, 0)
        }
        XCTAssertTrue(p.waitForLines(rooms * perRoom, timeout: 40), "printed \(p.stdoutSoFar.filter { $0 == 0x0A }.count): \(p.stderrSoFar)")
        XCTAssertTrue(settled(p), p.stderrSoFar)
        usleep(300_000)
        let peakKB = try XCTUnwrap(WatchReplayTests.status(pid, "VmHWM"))
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        XCTAssertEqual(WatchReplayTests.lossReports(r.stderr), [], r.stderr)
        XCTAssertEqual(r.lines.count, rooms * perRoom, "each message once: \(r.stderr)")
        assertEachRoomInOrder(r, rooms: rooms, perRoom: perRoom)
        let cutOff = r.stderr.components(separatedBy: "was cut off").count - 1
        let grownMB = (peakKB - idleKB) >> 10
        print("\(cuts) cuts, \(cutOff) replays cut off: \(r.lines.count) lines, each once; peak RSS \(peakKB >> 10)MB, \(grownMB)MB over idle")
        XCTAssertLessThan(grownMB, 48, "memory bounded by --buffer 4MB (and bookkeeping)")
    }

    /// `r3-000042`: room 3's message 42 (String(format:) is slow in a debug build).
    static func line(_ room: Int, _ n: Int) -> String {
        let digits = String(n)
        return "r\(room)-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
    }

    /// A field of /proc/PID/status, in kB.
    static func status(_ pid: Int32, _ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
        }
        return nil
    }
}
