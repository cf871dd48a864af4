import Foundation
import Hiredis
import RedisFixture
import XCTest

/// `roomwarden publish`, end to end against a real server.
final class PublishTests: XCTestCase {
    func testOneMessageReachesSubscriberAndArchive() throws {
        let room = freshRoom()
        let sub = try Subscriber(server, channels: [room])
        let before = nowMilliseconds()
        let r = try rw(["publish", room, "Hello there!"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.text, "1\n")
        XCTAssertEqual(r.stderr, "")
        XCTAssertEqual(try sub.next()?.payload, Array("Hello there!".utf8))
        let entries = try server.run("ZRANGE", "\(room):archive", "0", "-1", "WITHSCORES").elements ?? []
        XCTAssertEqual(entries.count, 2)
        let envelope = try jsonObject(entries[0].string ?? "")
        let score = Int64(entries[1].string ?? "") ?? 0
        XCTAssertEqual(envelope["message"] as? String, "Hello there!")
        XCTAssertEqual(envelope["channel"] as? String, room)
        XCTAssertEqual((envelope["ts"] as? NSNumber)?.int64Value, score)
        XCTAssertNotNil(envelope["id"] as? String)
        XCTAssertNil(envelope["from"])
        XCTAssertTrue(abs(score - before) < 1000, "score \(score) is not ms near \(before)")
    }

    func testPayloadsAreBinarySafe() throws {
        let room = freshRoom()
        let sub = try Subscriber(server, channels: [room])
        // Lines from stdin: a NUL byte and invalid UTF-8 inside lines.
        let lines: [[UInt8]] = [[0x61, 0x00, 0x62], [0xFF, 0xFE, 0x41], Array("plain".utf8)]
        let stdin: [UInt8] = lines.flatMap { (line: [UInt8]) -> [UInt8] in line + [0x0A] }
        var r = try rw(["publish", room, "-q"], stdin: stdin)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, [])
        for expected in lines { XCTAssertEqual(try sub.next()?.payload, expected) }
        // --whole keeps newlines inside; -0 splits on NUL.
        let whole: [UInt8] = Array("line one\nline two\n".utf8) + [0xC3, 0x28]
        r = try rw(["publish", room, "--whole"], stdin: whole)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try sub.next()?.payload, whole)
        r = try rw(["publish", room, "-", "-0"], stdin: Array("a\nb".utf8) + [0] + Array("c".utf8) + [0])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try sub.next()?.payload, Array("a\nb".utf8))
        XCTAssertEqual(try sub.next()?.payload, Array("c".utf8))
        // The invalid UTF-8 payload is archived as message_base64, exactly.
        let members = try server.run("ZRANGE", "\(room):archive", "0", "-1").elements ?? []
        let envelopes = try members.map { try jsonObject($0.string ?? "") }
        let b64 = envelopes.compactMap { $0["message_base64"] as? String }
        XCTAssertEqual(b64.map { [UInt8](Data(base64Encoded: $0) ?? Data()) }.sorted { $0.count < $1.count },
                       [[0xFF, 0xFE, 0x41], whole])
        XCTAssertEqual(envelopes.count, 6)
    }

    func testSameTextTwiceIsTwoEntries() throws {
        let room = freshRoom()
        XCTAssertEqual(try rw(["publish", room, "same"]).status, 0)
        XCTAssertEqual(try rw(["publish", room, "same"]).status, 0)
        let r = try rw(["publish", room, "--from", "mod"], stdin: Array("same\nsame\n".utf8))
        XCTAssertEqual(r.text, "0\n0\n")
        XCTAssertEqual(try server.run("ZCARD", "\(room):archive"), .integer(4))
        let members = try server.run("ZRANGE", "\(room):archive", "0", "-1").elements ?? []
        let froms = try members.map { try jsonObject($0.string ?? "")["from"] as? String }
        XCTAssertEqual(froms.compactMap { $0 }, ["mod", "mod"])
    }

    func testMaxLenAndRetainTrim() throws {
        let room = freshRoom()
        let many = (1...10).map { "m\($0)\n" }.joined()
        var r = try rw(["publish", room, "--max-len", "3", "-q"], stdin: Array(many.utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        let kept = try server.run("ZRANGE", "\(room):archive", "0", "-1").elements ?? []
        XCTAssertEqual(try kept.map { try jsonObject($0.string ?? "")["message"] as? String }, ["m8", "m9", "m10"])

        let old = freshRoom()
        let stale = nowMilliseconds() - 5000
        try server.run("ZADD", "\(old):archive", String(stale), "stale entry")
        r = try rw(["publish", old, "fresh", "--retain", "1s"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let left = try server.run("ZRANGE", "\(old):archive", "0", "-1").elements ?? []
        XCTAssertEqual(left.count, 1)
        XCTAssertEqual(try jsonObject(left[0].string ?? "")["message"] as? String, "fresh")
    }

    func testNoArchiveWritesNothing() throws {
        let room = freshRoom()
        let sub = try Subscriber(server, channels: [room])
        let r = try rw(["publish", room, "ephemeral", "--no-archive", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try jsonObject(r.lines.first ?? "")
        XCTAssertEqual(obj["receivers"] as? Int, 1)
        XCTAssertNil(obj["id"])
        XCTAssertEqual(try sub.next()?.payload, Array("ephemeral".utf8))
        XCTAssertEqual(try server.run("EXISTS", "\(room):archive"), .integer(0))
    }

    func testJSONOutputPerMessage() throws {
        let room = freshRoom()
        let r = try rw(["publish", room, "--format", "json"], stdin: Array("a\nb\n".utf8))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, 2)
        let ids = try r.lines.map { line -> String in
            let o = try jsonObject(line)
            XCTAssertEqual(o["channel"] as? String, room)
            XCTAssertEqual(o["receivers"] as? Int, 0)
            XCTAssertNotNil(o["ts"] as? Int)
            return o["id"] as? String ?? ""
        }
        XCTAssertEqual(Set(ids).count, 2)
    }

    func testArchiveKeyTemplate() throws {
        let room = freshRoom()
        var r = try rw(["publish", room, "x", "--archive-key", "chat:*:log"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try server.run("ZCARD", "chat:\(room):log"), .integer(1))
        r = try rw(["publish", room, "y"], env: ["ROOMWARDEN_ARCHIVE_KEY": "env:*"])
        XCTAssertEqual(try server.run("ZCARD", "env:\(room)"), .integer(1))
        r = try rw(["publish", room, "z", "--archive-key", "no-star"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("exactly one '*'"), r.stderr)
    }

    func testWrongTypeArchiveKeyExits65BeforePublishing() throws {
        let room = freshRoom()
        try server.run("SET", "\(room):archive", "not a zset")
        let sub = try Subscriber(server, channels: [room])
        let r = try rw(["publish", room, "hi"])
        XCTAssertEqual(r.status, 65)
        XCTAssertTrue(r.stderr.contains("'\(room):archive' holds a string"), r.stderr)
        XCTAssertTrue(r.stderr.contains("nothing was published"), r.stderr)
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, "one line: \(r.stderr)")
        XCTAssertNil(try sub.next(timeout: 0.5), "nothing is published without its archive entry")
    }

    func testUsageErrorsExit64() throws {
        for args in [["publish", "room:x", "m", "--whole"], ["publish", "room:x", "--no-archive", "--max-len", "3"],
                     ["publish", "room:x", "m", "--retain", "soon"], ["publish", "room:x", "m", "--max-len", "0"],
                     ["publish"], ["publish", "room:x", "m", "--format", "yaml"]] {
            let r = try rw(args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertFalse(r.stderr.isEmpty)
        }
    }

    func testHugeMessageRoundTrips() throws {
        let room = freshRoom()
        let sub = try Subscriber(server, channels: [room])
        let huge = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let r = try rw(["publish", room, "--whole"], stdin: huge, timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try sub.next(timeout: 20)?.payload, huge)
        let h = try rw(["history", room, "--format", "raw"], timeout: 120)
        XCTAssertEqual(h.stdout, huge + [0x0A], "archived as message_base64 and read back exactly")
    }

    func testClosedStdoutStopsPrintingNotPublishing() throws {
        let room = freshRoom()
        let r = try bash("seq 1 50000 | '\(CLIProcess.binary.path)' publish '\(room)' -s '\(server.socketPath)' | head -n 1 >/dev/null; echo \"${PIPESTATUS[1]}\"")
        XCTAssertEqual(r.stdout, "0\n")
        XCTAssertEqual(r.stderr, "")
        XCTAssertEqual(try server.run("ZCARD", "\(room):archive"), .integer(50_000), "every line was published")
    }

    func testLargeStdinIsPipelinedCompletely() throws {
        let room = freshRoom()
        let count = 20_000
        let input = (0..<count).map { "message number \($0)\n" }.joined()
        let r = try rw(["publish", room, "-q"], stdin: Array(input.utf8), timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try server.run("ZCARD", "\(room):archive"), .integer(Int64(count)))
    }
}
