import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// `roomwarden stats`, every figure against ground truth the test built.
final class StatsTests: XCTestCase {
    static var own: RedisServer!

    override class func setUp() {
        do { own = try RedisServer() } catch { fatalError("\(error)") }
    }

    override class func tearDown() { own = nil }

    override func setUp() {
        _ = try? Self.own.flush()
    }

    private func stats(_ args: [String], env: [String: String] = [:], socket: Bool = true) throws -> CLIResult {
        try roomwarden(["stats"] + args + (socket ? Self.own.socketArguments : []), environment: env)
    }

    private func report(_ args: [String] = []) throws -> [String: Any] {
        let r = try stats(["--json"] + args)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, 1, "one JSON object")
        return try jsonObject(r.lines.first ?? "")
    }

    private func rooms(_ obj: [String: Any]) -> [[String: Any]] { obj["rooms"] as? [[String: Any]] ?? [] }

    private func room(_ obj: [String: Any], _ name: String) -> [String: Any]? {
        rooms(obj).first { $0["channel"] as? String == name }
    }

    /// Archive entries (envelopes) at the given ages, in ms.
    private func archive(_ channel: String, agesMs: [Int64]) throws {
        let c = try Self.own.connect()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (i, age) in agesMs.enumerated() {
            let e = Envelope(id: "\(i)", ts: now - age, channel: Array(channel.utf8), payload: Array("m\(i)".utf8))
            _ = try c.command([Array("ZADD".utf8), Array("\(channel):archive".utf8), Array(String(now - age).utf8), e.json])
        }
    }

    /// Entries stamped past now (beyond a minute of clock skew), or with
    /// a score that is no time, are in no window; one stamped a few
    /// seconds ahead (a publisher's clock) is.
    func testFutureAndTimelessEntriesCountInNoWindow() throws {
        let room = "room:future-\(UUID().uuidString.prefix(6))"
        try archive(room, agesMs: [10_000, -5_000, -86_400_000])
        _ = try Self.own.connect().command("ZADD", "\(room):archive", "1e300", "timeless")
        let obj = try report([room])
        let row = try XCTUnwrap(self.room(obj, room))
        XCTAssertEqual(row["archived"] as? Int, 4)
        XCTAssertEqual(row["messages"] as? [String: Int], ["1m": 2, "1h": 2, "24h": 2])
    }

    func testFiguresMatchGroundTruth() throws {
        // room:busy: 3 subscribers, 4 entries (30s, 30m, 2h, 2d old).
        try archive("room:busy", agesMs: [30_000, 1_800_000, 7_200_000, 172_800_000])
        // room:quiet: an archive, no subscribers.
        try archive("room:quiet", agesMs: [3_600_000 * 30])
        // room:chat: subscribers, no archive. other:x: outside the pattern.
        let subs = try (0..<3).map { _ in try Subscriber(Self.own, channels: ["room:busy"]) }
        let chat = try (0..<2).map { _ in try Subscriber(Self.own, channels: ["room:chat", "other:x"]) }
        let patterns = try Subscriber(Self.own, channels: ["room:*", "news:*"], patterns: true)
        let obj = try report()
        XCTAssertEqual(rooms(obj).map { $0["channel"] as? String }.sorted { ($0 ?? "") < ($1 ?? "") }, ["room:busy", "room:chat", "room:quiet"])
        let busy = try XCTUnwrap(room(obj, "room:busy"))
        XCTAssertEqual(busy["subscribers"] as? Int, 3)
        XCTAssertEqual(busy["archived"] as? Int, 4)
        XCTAssertEqual(busy["messages"] as? [String: Int], ["1m": 1, "1h": 2, "24h": 3])
        let lastTs = (busy["last_ts"] as? NSNumber)?.int64Value ?? 0
        XCTAssertLessThan(abs(Int64(Date().timeIntervalSince1970 * 1000) - 30_000 - lastTs), 5_000)
        let quiet = try XCTUnwrap(room(obj, "room:quiet"))
        XCTAssertEqual(quiet["subscribers"] as? Int, 0)
        XCTAssertEqual(quiet["archived"] as? Int, 1)
        XCTAssertEqual(quiet["messages"] as? [String: Int], ["1m": 0, "1h": 0, "24h": 0])
        let chatRoom = try XCTUnwrap(room(obj, "room:chat"))
        XCTAssertEqual(chatRoom["subscribers"] as? Int, 2)
        XCTAssertTrue(chatRoom["archived"] is NSNull)
        let server = try XCTUnwrap(obj["server"] as? [String: Any])
        XCTAssertEqual(server["pattern_subscriptions"] as? Int, 2)
        XCTAssertEqual(server["pubsub_clients"] as? Int, 6)
        XCTAssertEqual((server["version"] as? String)?.isEmpty, false)
        let limit = try XCTUnwrap(server["pubsub_buffer_limit"] as? [String: Int])
        XCTAssertEqual(limit, ["hard_bytes": 33_554_432, "soft_bytes": 8_388_608, "soft_seconds": 60])
        XCTAssertEqual(obj["windows"] as? [String], ["1m", "1h", "24h"])
        let collected = try XCTUnwrap(obj["collected"] as? [String: Int])
        XCTAssertEqual(collected["round_trips"], 2)
        _ = (subs, chat, patterns)
    }

    /// The highest VmHWM (peak resident memory) /proc shows for a running
    /// process, in MB, polled until it exits.
    static func peakResidentMB(_ p: CLIProcess) -> Double {
        var peak = 0.0
        while p.process.isRunning {
            if let status = try? String(contentsOfFile: "/proc/\(p.process.processIdentifier)/status", encoding: .utf8),
               let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kb = Double(line.split(separator: " ").dropFirst().first ?? "") {
                peak = max(peak, kb / 1024)
            }
            usleep(1000)
        }
        return peak
    }

    /// 10,500 rooms, over five windows of the pipeline: room i has i % 3
    /// subscribers and i % 4 archived entries, every hundredth (no archive)
    /// a list backlog of 2. Every figure exact across the windows' edges,
    /// a handful of round trips, and memory loosely bounded (the rooms in
    /// a compact table, asked in windows: all of them took 3 KB each before).
    func testManyRoomsExactAcrossWindows() throws {
        let n = 10_500
        let name = { (i: Int) in "room:w" + String(100_000 + i).dropFirst() }
        let c = try Self.own.connect()
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var batch = CommandBatch()
        for i in 0..<n {
            let room = name(i)
            for e in 0..<(i % 4) {
                let env = Envelope(id: "\(i)-\(e)", ts: now - Int64(e), channel: Array(room.utf8), payload: Array("m".utf8))
                batch.add([Array("ZADD".utf8), Array("\(room):archive".utf8), Array(String(now - Int64(e)).utf8), env.json])
            }
            if i % 100 == 0 { batch.add("RPUSH", "\(room):backlog", "a", "b") }
        }
        let written = batch.count
        try c.append(batch)
        XCTAssertTrue(try c.readReplies(written).allSatisfy { $0.errorMessage == nil })
        let one = try Subscriber(Self.own, channels: (0..<n).filter { $0 % 3 >= 1 }.map(name))
        let two = try Subscriber(Self.own, channels: (0..<n).filter { $0 % 3 == 2 }.map(name))
        defer { _ = (one, two) }
        XCTAssertEqual(try Self.own.run("PUBSUB", "NUMSUB", name(n - 1)).elements?.last, .integer(Int64((n - 1) % 3)))

        let p = try CLIProcess(["stats", "--json"] + Self.own.socketArguments)
        p.closeInput()
        let peak = Self.peakResidentMB(p)
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try jsonObject(r.text)
        var byName: [String: [String: Any]] = [:]
        for room in rooms(obj) { if let channel = room["channel"] as? String { byName[channel] = room } }
        let listed = (0..<n).filter { $0 % 3 != 0 || $0 % 4 != 0 || $0 % 100 == 0 }
        XCTAssertEqual(byName.count, listed.count)
        var wrong: [String] = []
        for i in listed {
            guard let room = byName[name(i)] else { wrong.append("\(name(i)) missing"); continue }
            let archived = i % 4 > 0 ? i % 4 : i % 100 == 0 ? 2 : nil
            if room["subscribers"] as? Int != i % 3 || room["archived"] as? Int != archived
                || (i % 4 > 0 && (room["messages"] as? [String: Int])?["1m"] != i % 4)
                || (i % 100 == 0 && room["note"] as? String != "list") {
                wrong.append("\(name(i)): \(room)")
            }
        }
        XCTAssertEqual(wrong.count, 0, wrong.prefix(5).joined(separator: "\n"))
        let trips = try XCTUnwrap((obj["collected"] as? [String: Int])?["round_trips"])
        XCTAssertGreaterThan(trips, 2, "more than one window")
        XCTAssertLessThan(trips, 30, "windows of rooms, not a round trip per room")
        // Loose: a debug build takes 17 MB with no rooms; these took 21-28 MB
        // (37 before the windows).
        XCTAssertLessThan(peak, 32, "peak RSS \(peak) MB for \(n) rooms")
        let text = try stats([])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertEqual(text.lines.filter { $0.hasPrefix("room:w") }.count, listed.count)
    }

    func testCustomWindowsAndSecondsScoredArchivesAndLists() throws {
        let now = Int(Date().timeIntervalSince1970)
        try Self.own.run("ZADD", "room:seed:archive", String(now - 10), "raw a", String(now - 100), "raw b", String(now - 1000), "raw c")
        try Self.own.run("LPUSH", "room:backlog:archive", "x", "y")
        let obj = try report(["--window", "30s,5m"])
        let seed = try XCTUnwrap(room(obj, "room:seed"))
        XCTAssertEqual(seed["messages"] as? [String: Int], ["30s": 1, "5m": 2])
        XCTAssertEqual(seed["archived"] as? Int, 3)
        XCTAssertEqual((seed["last_ts"] as? NSNumber)?.int64Value, Int64(now - 10) * 1000)
        let backlog = try XCTUnwrap(room(obj, "room:backlog"))
        XCTAssertEqual(backlog["archived"] as? Int, 2)
        XCTAssertEqual(backlog["note"] as? String, "list")
        XCTAssertTrue(backlog["last_ts"] is NSNull)
        XCTAssertEqual(try stats(["--window", "1m,soon"]).status, 64)
    }

    func testTopAndSort() throws {
        try archive("room:a", agesMs: [1000, 1000, 1000])           // 3 in the last minute
        try archive("room:b", agesMs: [5000, 7_200_000, 7_200_000, 7_200_000, 7_200_000])  // 1 recent, 5 in all
        try archive("room:c", agesMs: [500])                        // newest
        let subs = try (0..<2).map { _ in try Subscriber(Self.own, channels: ["room:b"]) }
        let one = try Subscriber(Self.own, channels: ["room:c"])
        func order(_ args: [String]) throws -> [String] {
            rooms(try report(args)).compactMap { $0["channel"] as? String }
        }
        XCTAssertEqual(try order([]), ["room:a", "room:b", "room:c"], "most messages in the first window")
        XCTAssertEqual(try order(["--sort", "subscribers"]), ["room:b", "room:c", "room:a"])
        XCTAssertEqual(try order(["--sort", "name"]), ["room:a", "room:b", "room:c"])
        XCTAssertEqual(try order(["--sort", "last"]), ["room:c", "room:a", "room:b"])
        XCTAssertEqual(try order(["--sort", "subscribers", "--top", "2"]), ["room:b", "room:c"])
        XCTAssertEqual(try order(["room:[ab]"]), ["room:a", "room:b"], "PATTERN narrows the rooms")
        XCTAssertEqual(try stats(["--sort", "size"]).status, 64)
        XCTAssertEqual(try stats(["--top", "0"]).status, 64)
        _ = (subs, one)
    }

    func testSampleCountsLiveMessages() throws {
        let p = try CLIProcess(["stats", "--json", "--sample", "2s"] + Self.own.socketArguments)
        p.closeInput()
        // Wait for the sampler's subscription, then publish.
        let deadline = Date().addingTimeInterval(5)
        while (try Self.own.run("PUBSUB", "NUMPAT").integer ?? 0) < 1 && Date() < deadline { usleep(10_000) }
        for _ in 0..<6 { try Self.own.run("PUBLISH", "room:nosy", "hi") }
        for _ in 0..<2 { try Self.own.run("PUBLISH", "room:other", "hi") }
        try Self.own.run("PUBLISH", "elsewhere", "not counted")
        let r = p.wait()
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try jsonObject(r.lines.first ?? "")
        XCTAssertEqual(obj["sample_seconds"] as? Double, 2)
        XCTAssertEqual(room(obj, "room:nosy")?["sampled"] as? Int, 6)
        XCTAssertEqual(room(obj, "room:nosy")?["per_second"] as? Double, 3)
        XCTAssertEqual(room(obj, "room:other")?["sampled"] as? Int, 2)
        XCTAssertEqual(rooms(obj).first?["channel"] as? String, "room:nosy", "most live first")
        XCTAssertNil(room(obj, "elsewhere"))
        XCTAssertEqual(obj["server"].flatMap { ($0 as? [String: Any])?["pattern_subscriptions"] as? Int }, 0,
                       "the sampler's own subscription is gone before the figures are read")
    }

    func testRestrictedUserStillGetsAReport() throws {
        try archive("room:a", agesMs: [1000])
        try Self.own.run("ACL", "SETUSER", "viewer", "on", ">viewpass", "~*", "&*", "+@all", "-config", "-client", "-info")
        let r = try stats(["--json", "--user", "viewer", "-a", "viewpass"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try jsonObject(r.lines.first ?? "")
        XCTAssertEqual(room(obj, "room:a")?["archived"] as? Int, 1)
        let server = try XCTUnwrap(obj["server"] as? [String: Any])
        XCTAssertTrue(server["pubsub_buffer_limit"] is NSNull)
        XCTAssertTrue(server["pubsub_clients"] is NSNull)
        XCTAssertTrue(server["version"] is NSNull)
        XCTAssertEqual(server["pattern_subscriptions"] as? Int, 0)
        let text = try stats(["--user", "viewer", "-a", "viewpass"])
        XCTAssertEqual(text.status, 0)
        XCTAssertTrue(text.text.contains("pub/sub clients unknown"), text.text)
        // A user who may not even SCAN gets a clear NOPERM error.
        try Self.own.run("ACL", "SETUSER", "blind", "on", ">blindpass", "~*", "+@all", "-scan")
        let blind = try stats(["--user", "blind", "-a", "blindpass"])
        XCTAssertEqual(blind.status, 77, blind.stderr)
        XCTAssertTrue(blind.stderr.contains("NOPERM"), blind.stderr)
    }

    /// #10: one archive holding +inf, -inf or -1e16 crashed stats over all
    /// rooms. Its room shows no last time; every other room is as always.
    func testScoresThatAreNoTimeSpareTheOtherRooms() throws {
        try archive("room:good", agesMs: [1000])
        try Self.own.run("ZADD", "room:inf:archive", "+inf", "x")
        try Self.own.run("ZADD", "room:ninf:archive", "-inf", "y")
        try Self.own.run("ZADD", "room:neg:archive", "-1e16", "z")
        let obj = try report()
        let good = try XCTUnwrap(room(obj, "room:good"))
        XCTAssertEqual(good["archived"] as? Int, 1)
        XCTAssertEqual(good["messages"] as? [String: Int], ["1m": 1, "1h": 1, "24h": 1])
        XCTAssertLessThan(abs(Int64(Date().timeIntervalSince1970 * 1000) - 1000 - ((good["last_ts"] as? NSNumber)?.int64Value ?? 0)), 5_000)
        for name in ["room:inf", "room:ninf", "room:neg"] {
            let r = try XCTUnwrap(room(obj, name), name)
            XCTAssertEqual(r["archived"] as? Int, 1, name)
            XCTAssertEqual(r["messages"] as? [String: Int], ["1m": 0, "1h": 0, "24h": 0], "\(name): an entry with no time is in no window")
            XCTAssertTrue(r["last_ts"] is NSNull, name)
            XCTAssertTrue(r["last_time"] is NSNull, name)
        }
        XCTAssertEqual(room(obj, "room:neg")?["note"] as? String, "newest score -1e+16 is no time")
        let text = try stats(["--sort", "name"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.text.contains("room:good"), text.text)
    }

    /// #10: a user who may not read the archive keys gets the server's
    /// NOPERM line and exit 77, not a report of unknowns.
    func testAUserWhoMayNotReadTheArchivesExits77() throws {
        try archive("room:a", agesMs: [1000])
        try Self.own.run("ACL", "SETUSER", "nokeys", "on", ">pw", "resetkeys", "&*", "+@all")
        let r = try stats(["--user", "nokeys"], env: ["REDISCLI_AUTH": "pw"])
        XCTAssertEqual(r.status, 77, r.stderr)
        XCTAssertEqual(r.text, "")
        XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("NOPERM"), r.stderr)
    }

    func testTextTableFitsTheTerminal() throws {
        try archive("room:" + String(repeating: "very-long-room-name-", count: 5), agesMs: [1000])
        try archive("room:short", agesMs: [1000, 2000])
        var r = try stats([])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.lines
        XCTAssertTrue(lines[0].hasPrefix("ROOM"), lines[0])
        XCTAssertTrue(lines[0].hasSuffix("LAST"))
        let header = lines[0]
        for row in lines[1...2] {
            XCTAssertEqual(row.count, header.count, "aligned:\n\(r.text)")
        }
        XCTAssertTrue(r.text.contains("very-long-room-name-very-long-room-name-very-long-room-name-very-long-room-name-very-long-room-name-"),
                      "no terminal: nothing is cut")
        // On a 60-column terminal every line fits.
        let cmd = "stty cols 60; \(CLIProcess.binary.path) stats -s \(Self.own.socketPath)"
        let shell = try CLIProcessShell(["/usr/bin/script", "-qec", cmd, "/dev/null"])
        XCTAssertEqual(shell.wait(), 0)
        let screen = Array(shell.output.utf8).split(separator: 0x0A)
            .map { String(decoding: $0.filter { $0 != 0x0D }, as: UTF8.self) }.filter { !$0.isEmpty }
        XCTAssertGreaterThan(screen.count, 3)
        for line in screen { XCTAssertLessThanOrEqual(line.count, 60, "'\(line)'") }
        XCTAssertTrue(shell.output.contains("…"), shell.output)
        r = try stats(["--format", "json", "--json"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(try stats(["--json", "--format", "text"]).status, 64)
    }

    func testWatchRefreshes() throws {
        try archive("room:a", agesMs: [1000])
        let p = try CLIProcess(["stats", "--json", "--watch", "300ms"] + Self.own.socketArguments)
        p.closeInput()
        XCTAssertTrue(p.waitForLines(3, timeout: 10))
        p.signal(SIGINT)
        let r = p.wait()
        XCTAssertEqual(r.status, 130)
        XCTAssertGreaterThanOrEqual(r.lines.count, 3)
        for line in r.lines { XCTAssertNotNil(room(try jsonObject(line), "room:a")) }
        // Not a terminal, text: one report after another, blank line between.
        let t = try CLIProcess(["stats", "--watch", "200ms"] + Self.own.socketArguments)
        t.closeInput()
        let twoReports = Date().addingTimeInterval(10)
        while String(decoding: t.stdoutSoFar, as: UTF8.self).components(separatedBy: "ROOM").count - 1 < 2 && Date() < twoReports {
            usleep(50_000)
        }
        t.signal(SIGTERM)
        let tr = t.wait()
        XCTAssertEqual(tr.status, 143)
        XCTAssertGreaterThanOrEqual(tr.text.components(separatedBy: "ROOM").count - 1, 2)
        XCTAssertFalse(tr.text.contains("\u{1B}"), "no screen control into a pipe")
        XCTAssertEqual(try stats(["--watch", "never"]).status, 64)
        XCTAssertEqual(try stats(["--sample", "0s"]).status, 64)
    }
}
