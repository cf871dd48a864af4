import ArgumentParser
@testable import RoomWardenCLI
import RoomWardenKit
import XCTest

/// Command lines parsed in process, as the binary parses them: each value
/// is read and range-checked once, and a bad one is a one-line usage error
/// (exit 64) that says what is wrong.
final class ValueArgumentTests: XCTestCase {
    /// The parsed command, or a failure.
    func parse(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> ParsableCommand? {
        do { return try RoomWarden.parseAsRoot(args) } catch {
            XCTFail("\(args): \(RoomWarden.message(for: error))", file: file, line: line)
            return nil
        }
    }

    /// The usage error's line for `args`, checking it is exit 64 and one line.
    func usage(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try RoomWarden.parseAsRoot(args)
            XCTFail("\(args) parsed", file: file, line: line)
            return ""
        } catch {
            XCTAssertEqual(RoomWarden.exitCode(for: error).rawValue, 64, "\(args)", file: file, line: line)
            let message = ArgumentRejection.explained(RoomWarden.message(for: error))
            XCTAssertFalse(message.contains("\n"), message, file: file, line: line)
            return message
        }
    }

    func testShortOptionsTakeAGluedValueAsGetoptDoes() throws {
        let w = try XCTUnwrap(parse(["watch", "-n5", "-h127.0.0.2", "-p6380", "-cnews", "-fjson"]) as? RoomWarden.Watch)
        XCTAssertEqual(w.count?.value, 5)
        XCTAssertEqual(w.connection.host, "127.0.0.2")
        XCTAssertEqual(w.connection.port, 6380)
        XCTAssertEqual(w.channels, ["news"])
        XCTAssertEqual(w.output.format, "json")
        let s = try XCTUnwrap(parse(["stats", "-s/tmp/r.sock", "-fjson"]) as? RoomWarden.Stats)
        XCTAssertEqual(s.connection.socket, "/tmp/r.sock")
        XCTAssertTrue(usage(["watch", "-n0"]).contains("-n"))
    }

    func testValuesArriveTyped() throws {
        let w = try XCTUnwrap(parse(["watch", "--wait", "2s", "--heartbeat", "1m", "--buffer", "64MB", "-n", "5", "--duration", "1h30m"]) as? RoomWarden.Watch)
        XCTAssertEqual(w.wait?.milliseconds, 2000)
        XCTAssertEqual(w.heartbeat.milliseconds, 60_000)
        XCTAssertEqual(w.buffer.bytes, 64 << 20)
        XCTAssertEqual(w.count?.value, 5)
        XCTAssertEqual(w.duration?.milliseconds, 5_400_000)
        let defaults = try XCTUnwrap(parse(["watch"]) as? RoomWarden.Watch)
        XCTAssertEqual(defaults.heartbeat, .seconds(15))
        XCTAssertEqual(defaults.buffer, .megabytes(256))
        XCTAssertEqual(defaults.connection.connectTimeout, .seconds(5))
        XCTAssertEqual(defaults.connection.timeout, .seconds(30))
        XCTAssertEqual((parse(["stats", "--timeout", "0"]) as? RoomWarden.Stats)?.connection.timeout, .zero, "0 waits for ever")

        let p = try XCTUnwrap(parse(["publish", "room:x", "m", "--retain", "7d", "--max-len", "1000"]) as? RoomWarden.Publish)
        XCTAssertEqual(p.retain?.milliseconds, 604_800_000)
        XCTAssertEqual(p.maxLen?.value, 1000)

        let h = try XCTUnwrap(parse(["history", "--since=-1h", "--until", "now", "--last", "3", "--limit", "2"]) as? RoomWarden.History)
        XCTAssertEqual(h.since?.milliseconds(now: 10_000_000), 10_000_000 - 3_600_000)
        XCTAssertEqual(h.until?.milliseconds(now: 10_000_000), 10_000_000)
        XCTAssertEqual(h.last?.value, 3)
        XCTAssertEqual(h.limit?.value, 2)

        let s = try XCTUnwrap(parse(["stats", "--window", "5m,1h", "--top", "3", "--watch", "2s", "--sample", "10s"]) as? RoomWarden.Stats)
        XCTAssertEqual(s.window.windows.map(\.label), ["5m", "1h"])
        XCTAssertEqual(s.top?.value, 3)
        XCTAssertEqual(s.watch?.milliseconds, 2000)
        XCTAssertEqual(s.sample?.milliseconds, 10_000)
        XCTAssertEqual((parse(["stats"]) as? RoomWarden.Stats)?.window, .standard)
    }

    /// The command lines that used to crash (SIGILL, exit 132): each is now
    /// a usage error that says what is wrong.
    func testFormerCrashersAreUsageErrors() {
        let cases: [([String], String)] = [
            (["publish", "room:x", "m", "--max-len", "9223372036854775807"], "at most"),
            (["history", "--since", "999999999999d"], "100 years"),
            (["history", "--since", "1e18"], "not a time"),
            (["history", "--since", "@1e300"], "not Unix seconds"),
            (["history", "--since", "@-9.3e15"], "not Unix seconds"),
            (["history", "--since", "@-9300000000000000"], "out of range"),
            (["publish", "room:x", "m", "--retain", "1e300"], "not a duration"),
            (["watch", "--heartbeat", "1e300"], "not a duration"),
            (["watch", "--wait", "1e300"], "not a duration"),
            (["watch", "--wait", "99999999999999999999s"], "100 years"),
            (["stats", "--connect-timeout", "1e300"], "not a duration"),
            (["history", "--timeout", "1e300"], "not a duration"),
            (["publish", "room:x", "m", "--timeout", "99999999999999999999s"], "100 years"),
            (["stats", "--window", "1e300"], "not a duration"),
            (["stats", "--window", "99999999999999d"], "100 years"),
            (["watch", "--buffer", "99999999999999999999G"], "at most 1TB"),
        ]
        for (args, says) in cases {
            let message = usage(args)
            XCTAssertTrue(message.contains(says), "\(args): \(message)")
            XCTAssertTrue(message.contains("'\(args.last ?? "")'"), "names the value: \(message)")
        }
    }

    func testFlagRulesAreUsageErrors() {
        XCTAssertTrue(usage(["publish", "room:x", "m", "--retain", "0"]).contains("--retain 0 would empty the archive"))
        XCTAssertTrue(usage(["stats", "--window", "1m,1m"]).contains("listed twice"))
        XCTAssertTrue(usage(["watch", "--buffer", "12"]).contains("at least 1MB"))
        XCTAssertTrue(usage(["watch", "--wait", "0"]).contains("--wait must be longer than 0"))
        XCTAssertTrue(usage(["watch", "-n", "0"]).contains("at least 1"))
        XCTAssertTrue(usage(["history", "--since", "@1795300001", "--until", "@1795300000"]).contains("ends"))
        XCTAssertTrue(usage(["stats", "--connect-timeout", "0"]).contains("longer than 0"))
        XCTAssertTrue(usage(["stats", "--top", "0"]).contains("at least 1"))
    }

    func testTimesUsersType() {
        XCTAssertNotNil(parse(["history", "--since", "2026-11-22 02:00:00"]))
        XCTAssertNotNil(parse(["history", "--since=-1h"]))
        XCTAssertNotNil(parse(["history", "--since", "2026-11-21", "--until", "2026-11-22"]))
        XCTAssertTrue(usage(["history", "--since", "5"]).contains("bare number"))
    }
}
