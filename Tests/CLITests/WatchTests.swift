import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// `roomwarden watch`, end to end against a real server.
final class WatchTests: XCTestCase {
    /// Payloads chosen to break framing or drive a terminal.
    static let hostile: [[UInt8]] = [
        Array("two\nlines".utf8),
        Array("\u{1B}[2J\u{1B}[31mred alert\u{1B}]0;title\u{07}".utf8),
        [0xFF, 0xFE, 0x41],
        Array("bidi \u{202E}gnp.exe".utf8),
        Array(#"quotes " and \ backslashes \n"#.utf8),
        [0x61, 0x00, 0x62],
        Array("tab\tcr\rdel\u{7F}c1\u{9B}".utf8),
        [UInt8](repeating: 0x6D, count: 1 << 20),
        Array("plain é 😀".utf8),
    ]

    func testHostilePayloadsAreOneSafeLineEachInText() throws {
        let room = freshRoom()
        let p = try startWatch(["\(room)*", "-n", String(Self.hostile.count)])
        for payload in Self.hostile { try server.publish(room, payload) }
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast()
        XCTAssertEqual(lines.count, Self.hostile.count)
        for line in lines {
            XCTAssertFalse(line.contains(0x1B), "ESC reached the terminal")
            XCTAssertFalse(line.contains(0x00) || line.contains(0x0D) || line.contains(0x7F) || line.contains(0x07))
            XCTAssertTrue(UTF8Check.valid(Array(line)), "text output is always UTF-8")
            XCTAssertFalse(String(decoding: line, as: UTF8.self).contains("\u{202E}"))
            XCTAssertFalse(String(decoding: line, as: UTF8.self).unicodeScalars.contains { (0x80...0x9F).contains($0.value) })
        }
        let text = lines.map { String(decoding: $0, as: UTF8.self) }
        XCTAssertTrue(text[0].hasSuffix(" \(room) two\\nlines"), text[0])
        XCTAssertTrue(text[1].hasSuffix(#"\x1b[2J\x1b[31mred alert\x1b]0;title\x07"#), text[1])
        XCTAssertTrue(text[2].hasSuffix(#" \xff\xfeA"#), text[2])
        XCTAssertTrue(text[3].hasSuffix(#"bidi \u{202e}gnp.exe"#), text[3])
        XCTAssertTrue(text[4].hasSuffix(#"quotes " and \\ backslashes \\n"#), text[4])
        XCTAssertTrue(text[5].hasSuffix(#"a\x00b"#), text[5])
        XCTAssertTrue(text[6].hasSuffix(#"tab\tcr\rdel\x7fc1\u{9b}"#), text[6])
        XCTAssertEqual(text[7].count, 24 + 1 + room.count + 1 + (1 << 20))
        XCTAssertTrue(text[8].hasSuffix("plain é 😀"))
        XCTAssertNotNil(text[0].range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#, options: .regularExpression), text[0])
    }

    func testHostilePayloadsRoundTripInJSON() throws {
        let room = freshRoom()
        let p = try startWatch(["\(room)*", "-n", String(Self.hostile.count), "--json"])
        let before = nowMilliseconds()
        for payload in Self.hostile { try server.publish(room, payload) }
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, Self.hostile.count)
        for (line, payload) in zip(r.lines, Self.hostile) {
            let obj = try jsonObject(line)  // strict parser
            XCTAssertEqual(obj["channel"] as? String, room)
            XCTAssertEqual(obj["pattern"] as? String, "\(room)*")
            let ts = (obj["ts"] as? NSNumber)?.int64Value ?? 0
            XCTAssertTrue(ts >= before - 1000 && ts <= nowMilliseconds() + 1000)
            XCTAssertNotNil(obj["time"] as? String)
            if let b64 = obj["message_base64"] as? String {
                XCTAssertEqual(Data(base64Encoded: b64).map { [UInt8]($0) }, payload)
                XCTAssertFalse(UTF8Check.valid(payload))
            } else {
                XCTAssertEqual((obj["message"] as? String).map { Array($0.utf8) }, payload)
            }
            XCTAssertEqual(Array(obj.keys).sorted(), (obj["message_base64"] == nil ? ["channel", "message", "pattern", "time", "ts"] : ["channel", "message", "message_base64", "pattern", "time", "ts"]))
        }
        // Key order is the contract's.
        XCTAssertTrue(r.lines[0].hasPrefix(#"{"ts":"#) && r.lines[0].contains(#","time":""#))
        // python3's json, as a second strict parser.
        let py = Process()
        py.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        py.arguments = ["python3", "-c", "import sys,json\nfor l in sys.stdin: json.loads(l)"]
        let input = Pipe()
        py.standardInput = input
        try py.run()
        input.fileHandleForWriting.write(Data(r.stdout))
        try input.fileHandleForWriting.close()
        py.waitUntilExit()
        XCTAssertEqual(py.terminationStatus, 0)
    }

    func testRawAndTemplateFormats() throws {
        let room = freshRoom()
        var p = try startWatch(["\(room)*", "-n", "2", "--format", "raw", "-0"])
        try server.publish(room, [0x61, 0x0A, 0x62])
        try server.publish(room, [0xFF])
        var r = p.wait()
        XCTAssertEqual(r.stdout, [0x61, 0x0A, 0x62, 0x00, 0xFF, 0x00])
        p = try startWatch(["\(room)*", "-n", "1", "--format", "{channel} said {message} {{via {pattern}}}"])
        try server.publish(room, Array("hi\u{1B}".utf8))
        r = p.wait()
        XCTAssertEqual(r.text, "\(room) said hi\\x1b {via \(room)*}\n")
        let bad = try rw(["watch", "--format", "{nope}"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("unknown field {nope}"), bad.stderr)
    }

    func testOverlappingSubscriptionsPrintOnce() throws {
        let room = freshRoom()
        let p = try startWatch(["\(room)*", "\(room[...room.index(room.startIndex, offsetBy: 6)])*", "-c", room, "-n", "3", "--json"], subscriptions: 3)
        XCTAssertEqual(try server.publish(room, Array("one".utf8)), 3, "Redis sends three copies")
        try server.publish(room, Array("one".utf8))  // the same text again is a new message
        try server.publish(room, Array("two".utf8))
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try r.lines.map { try jsonObject($0)["message"] as? String }, ["one", "one", "two"])
    }

    func testIgnoreAndGrep() throws {
        let room = freshRoom()
        let p = try startWatch(["\(room)*", "--ignore", "\(room):noisy*", "--grep", "^keep", "-n", "2"])
        try server.publish("\(room):noisy", Array("keep but ignored".utf8))
        try server.publish("\(room):a", Array("drop: no match".utf8))
        try server.publish("\(room):a", Array("keep 1".utf8))
        try server.publish("\(room):b", Array("keep 2".utf8))
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.map { line -> String in String(line.split(separator: " ", maxSplits: 2).last ?? "") }, ["keep 1", "keep 2"])
    }

    func testGrepSpeaksGrepE() throws {
        let room = freshRoom()
        let p = try startWatch(["\(room)*", "--grep", #"\<(deploy|rollback)\>|^[[:digit:]]{4}$"#, "-i", "-n", "3", "--format", "{message}"])
        for m in ["redeployed quietly", "We DEPLOY at 5", "12345", "rollback done", "1432"] {
            try server.publish(room, Array(m.utf8))
        }
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, ["We DEPLOY at 5", "rollback done", "1432"])
        let bad = try rw(["watch", "--grep", "a{1"])
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.stderr.contains("grep -E"), bad.stderr)
        XCTAssertEqual(try rw(["watch", "-i"]).status, 64, "-i without --grep")
    }

    func testCountExitsAfterExactlyN() throws {
        let room = freshRoom()
        let p = try startWatch(["\(room)*", "--count", "3"])
        for i in 0..<10 { try server.publish(room, Array("m\(i)".utf8)) }
        let r = p.wait(timeout: 10)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, 3)
        XCTAssertEqual(r.stderr, "")
    }

    func testWaitWithoutReachingCountExits1() throws {
        let room = freshRoom()
        let p = try startWatch(["\(room)*", "--count", "5", "--wait", "1s"])
        try server.publish(room, Array("a".utf8))
        try server.publish(room, Array("b".utf8))
        let r = p.wait(timeout: 10)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.lines.count, 2)
        XCTAssertTrue(r.stderr.contains("got 2 of --count 5"), r.stderr)
        // --wait alone is a normal end; --duration too.
        let quiet = try startWatch(["\(room)*", "--wait", "300ms"])
        XCTAssertEqual(quiet.wait(timeout: 10).status, 0)
        let timed = try startWatch(["\(room)*", "--duration", "300ms"])
        XCTAssertEqual(timed.wait(timeout: 10).status, 0)
    }

    func testClosedStdoutEndsQuietlyWithZero() throws {
        let room = freshRoom()
        let before = try server.subscriptionCount()
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/bash")
        let cmd = "'\(CLIProcess.binary.path)' watch '\(room)*' -s '\(server.socketPath)' | head -n 1 >/dev/null; echo \"${PIPESTATUS[0]}\""
        shell.arguments = ["-c", cmd]
        let out = Pipe(), err = Pipe()
        shell.standardOutput = out
        shell.standardError = err
        try shell.run()
        while try server.subscriptionCount() <= before { usleep(10_000) }
        try server.publish(room, Array("only one".utf8))
        let deadline = Date().addingTimeInterval(10)
        while shell.isRunning && Date() < deadline { usleep(10_000) }
        XCTAssertFalse(shell.isRunning, "watch kept running after head closed")
        if shell.isRunning { shell.terminate() }
        shell.waitUntilExit()
        XCTAssertEqual(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "0\n")
        XCTAssertEqual(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "")
    }

    func testSigtermAndSigintFlushAndExit() throws {
        for (sig, code) in [(SIGTERM, Int32(143)), (SIGINT, Int32(130))] {
            let room = freshRoom()
            let p = try startWatch(["\(room)*"])
            for i in 0..<50 { try server.publish(room, Array("m\(i)".utf8)) }
            p.waitForLines(50, timeout: 5)
            p.signal(sig)
            let r = p.wait(timeout: 10)
            XCTAssertEqual(r.status, code, r.stderr)
            XCTAssertEqual(r.lines.count, 50)
        }
    }

    func testArchiveFillsTheArchive() throws {
        let room = freshRoom()
        let p = try startWatch(["\(room)*", "--archive", "-n", "3"])
        for m in ["a", "b", "a"] { try server.publish("\(room):x", Array(m.utf8)) }
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        let members = try server.run("ZRANGE", "\(room):x:archive", "0", "-1").elements ?? []
        XCTAssertEqual(try members.map { try jsonObject($0.string ?? "")["message"] as? String ?? "" }.sorted(), ["a", "a", "b"])
    }

    func testArchiveIntoAKeyOfTheWrongTypeIsCountedAndWatchingGoesOn() throws {
        let room = freshRoom()
        try server.run("SET", "\(room):archive", "a string")
        let p = try startWatch(["\(room)*", "--archive", "-n", "3"])
        for m in ["a", "b", "c"] {
            try server.publish(room, Array(m.utf8))
            usleep(50_000)  // separate batches: the first at once, the others summed up
        }
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, 3)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, r.stderr)
        XCTAssertTrue(lines.allSatisfy { $0.contains("not archived: Redis refused the archive write: WRONGTYPE") }, r.stderr)
        XCTAssertEqual(lostCounts(r.stderr, after: "--archive: "), 3, "every refused message is counted: \(r.stderr)")
    }

    func testUnreachableAndNoReconnect() throws {
        let port = try RedisServer.freePort()
        let r = try roomwarden(["watch", "-p", String(port)])
        XCTAssertEqual(r.status, 69)
        XCTAssertTrue(r.stderr.contains("could not connect"), r.stderr)

        let own = try RedisServer()
        let p = try startWatch(["--no-reconnect"], on: own)
        own.stop()
        let lost = p.wait(timeout: 10)
        XCTAssertEqual(lost.status, 69)
        XCTAssertTrue(lost.stderr.contains("--no-reconnect"), lost.stderr)
    }

    func testRestartedServerIsReconnected() throws {
        let own = try RedisServer()
        let p = try startWatch(["room:*", "--json"], on: own)
        try own.publish("room:a", Array("before".utf8))
        XCTAssertTrue(p.waitForLines(1))
        own.stop()
        XCTAssertTrue(p.waitForStderr("lost the connection"), p.stderrSoFar)
        try own.start()
        // Wait for the resubscription, then publish.
        let deadline = Date().addingTimeInterval(15)
        while try own.subscriptionCount() < 1 && Date() < deadline { usleep(20_000) }
        try own.publish("room:a", Array("after".utf8))
        XCTAssertTrue(p.waitForLines(2), p.stderrSoFar)
        XCTAssertTrue(p.waitForStderr("reconnected to Redis"), p.stderrSoFar)
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(try r.lines.map { try jsonObject($0)["message"] as? String }, ["before", "after"])
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 2, r.stderr)
    }

    func testSilentDeadConnectionIsNoticedByHeartbeat() throws {
        let own = try RedisServer()
        let p = try startWatch(["--heartbeat", "300ms"], on: own)
        // Freeze the server: no FIN, no data, just silence.
        let pid = try XCTUnwrap(Int32(own.run("INFO", "server").string?
            .split(separator: "\r\n").first { $0.hasPrefix("process_id:") }?.dropFirst(11) ?? ""))
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        XCTAssertTrue(p.waitForStderr("no answer to PING", timeout: 10), p.stderrSoFar)
        kill(pid, SIGCONT)
        p.signal(SIGTERM)
        XCTAssertEqual(p.wait().status, 143)
    }

    func testPausedReaderLosesNothing() throws {
        // A small pub/sub output-buffer limit (1MB): a watcher that stopped
        // reading its socket while its stdout is blocked would be cut off by
        // the server long before the 4MB sent here got through.
        let own = try RedisServer(extraArguments: ["--client-output-buffer-limit", "pubsub 1mb 512kb 1"])
        let p = try startWatch(["room:*", "--format", "{message}"], on: own, readOutput: false)
        let total = 30_000
        let pub = try own.connect()
        for start in stride(from: 0, to: total, by: 500) {
            var batch = CommandBatch()
            for i in start..<(start + 500) {
                batch.add("PUBLISH", "room:p\(i % 7)", String(format: "%06d ", i) + String(repeating: "x", count: 100))
            }
            try pub.append(batch)
            let receivers = try pub.readReplies(500)
            XCTAssertTrue(receivers.allSatisfy { $0 == .integer(1) }, "the watcher was dropped by the server")
            usleep(5_000)
        }
        sleep(1)  // stdout still unread: the pipe is full, the queue holds the rest
        var seen: [UInt8] = []
        var lines = 0
        let handle = p.stdoutHandle
        while lines < total {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            seen += chunk
            lines += chunk.lazy.filter { $0 == 0x0A }.count
        }
        p.signal(SIGTERM)
        let r = p.wait()
        XCTAssertEqual(r.status, 143, r.stderr)
        let numbers = String(decoding: seen, as: UTF8.self).split(separator: "\n").map { Int($0.prefix(6)) ?? -1 }
        XCTAssertEqual(numbers.count, total)
        XCTAssertTrue(numbers == Array(0..<total), "every message once, in order")
        XCTAssertEqual(r.stderr, "", "no loss, no reconnect")
    }

    func testFullBufferReportsTheLoss() throws {
        // The same with a queue too small to hold it: the loss is counted.
        let own = try RedisServer()
        let p = try startWatch(["room:*", "--format", "{message}", "--buffer", "1MB"], on: own, readOutput: false)
        let total = 30_000
        let pub = try own.connect()
        var batch = CommandBatch()
        for i in 0..<total { batch.add("PUBLISH", "room:p", String(format: "%06d ", i) + String(repeating: "x", count: 100)) }
        try pub.append(batch)
        _ = try pub.readReplies(total)
        sleep(1)  // still unread
        // Now read: what was queued comes out, then the count of what was not.
        let counter = LineCounter(p.stdoutHandle)
        XCTAssertTrue(p.waitForStderr("buffer full"), p.stderrSoFar)
        p.signal(SIGTERM)
        let r = p.wait()
        let printed = counter.finish()
        let dropped = lostCounts(r.stderr, after: "dropped ")
        XCTAssertGreaterThan(dropped, 0)
        XCTAssertEqual(printed + dropped, total, "printed plus reported lost is everything: \(r.stderr)")
    }

    func testLocalTimesAndColourOnlyOnATerminal() throws {
        let room = freshRoom()
        var p = try startWatch(["\(room)*", "-n", "1", "--local"], env: ["TZ": "Asia/Kolkata"])
        try server.publish(room, Array("x".utf8))
        let r = p.wait()
        XCTAssertNotNil(r.text.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+05:30 "#, options: .regularExpression), r.text)
        XCTAssertFalse(r.text.contains("\u{1B}"), "no colour into a pipe")

        // On a terminal (script(1) gives one): colour, unless NO_COLOR.
        for noColor in [false, true] {
            let before = try server.subscriptionCount()
            let env = noColor ? "env TERM=xterm NO_COLOR=1 " : "env -u NO_COLOR TERM=xterm "
            let cmd = "\(env)\(CLIProcess.binary.path) watch '\(room)*' -n 1 -s \(server.socketPath)"
            let shell = try CLIProcessShell(["/usr/bin/script", "-qec", cmd, "/dev/null"])
            while try server.subscriptionCount() <= before { usleep(10_000) }
            try server.publish(room, Array("hello".utf8))
            XCTAssertEqual(shell.wait(), 0)
            XCTAssertTrue(shell.output.contains("hello"), shell.output)
            XCTAssertEqual(shell.output.contains("\u{1B}["), !noColor, shell.output)
        }
        _ = p
        p = try startWatch(["\(room)*", "-n", "1"])
        p.signal(SIGTERM)
        XCTAssertEqual(p.wait().status, 143)
    }

    func testArchiveKeyTemplateWithArchive() throws {
        let room = freshRoom()
        let p = try startWatch(["\(room)*", "--archive", "--archive-key", "log:*", "-n", "1"])
        try server.publish(room, Array("kept".utf8))
        XCTAssertEqual(p.wait().status, 0)
        XCTAssertEqual(try server.run("ZCARD", "log:\(room)"), .integer(1))
    }

    func testUsageErrors() throws {
        for args in [["-n", "0"], ["--wait", "soon"], ["--buffer", "12"], ["-0"], ["--json", "--format", "raw"]] {
            let r = try rw(["watch"] + args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
        }
        let r = try rw(["watch", "--grep", "("])
        XCTAssertEqual(r.status, 64, r.stderr)
    }
}

/// The sum of the counts that follow `marker` on the lines of `stderr`
/// (`--archive: 2 messages not archived`, `dropped 1200 messages`).
func lostCounts(_ stderr: String, after marker: String) -> Int {
    stderr.split(separator: "\n").compactMap { line -> Int? in
        guard let range = line.range(of: marker) else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }.reduce(0, +)
}

/// Counts the lines arriving on a handle, on its own thread.
final class LineCounter {
    private let lock = NSLock()
    private var count = 0
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let d = handle.availableData
                if d.isEmpty { break }
                let n = d.lazy.filter { $0 == 0x0A }.count
                lock.lock(); count += n; lock.unlock()
            }
            done.signal()
        }
    }

    /// Waits for the end of the stream and returns the lines seen.
    func finish() -> Int {
        _ = done.wait(timeout: .now() + 10)
        lock.lock(); defer { lock.unlock() }
        return count
    }
}

extension UTF8Check {
    static func valid(_ bytes: [UInt8]) -> Bool { isValid(bytes) }
}
