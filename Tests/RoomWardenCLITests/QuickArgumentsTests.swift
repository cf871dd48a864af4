import ArgumentParser
import Foundation
import RedisFixture
@testable import RoomWardenCLI
import XCTest

/// The quick path (QuickParsable) reads plain command lines without
/// ArgumentParser. It may decline any line, but a line it takes must come
/// out exactly as ArgumentParser would have parsed it, and it must take
/// every option each command declares.
final class QuickArgumentsTests: XCTestCase {
    /// Lines the quick path must take, covering every option of every command.
    static let plain: [[String]] = [
        ["publish", "room:x", "hi"],
        ["publish", "room:x"],
        ["publish", "room:x", "-"],
        ["publish", "-p", "6380", "room:x", "hi", "-q"],
        ["publish", "-u", "redis://127.0.0.1:6380/2", "--json", "room:x", "hi"],
        ["publish", "-uredis://127.0.0.1:6380", "room:x", "hi"],
        ["publish", "--url=redis://127.0.0.1:6380", "room:x", "hi"],
        ["publish", "-h", "127.0.0.2", "-p6380", "--db", "3", "--user", "bob", "-a", "s3cret", "room:x", "hi"],
        ["publish", "-h127.0.0.2", "--port=6380", "--pass", "s3cret", "room:x", "hi"],
        ["publish", "-s", "/tmp/r.sock", "--connect-timeout", "2s", "--timeout", "0", "room:x", "hi"],
        ["publish", "-s/tmp/r.sock", "room:x", "hi"],
        ["publish", "--socket", "/tmp/r.sock", "room:x", "hi"],
        ["publish", "--askpass", "room:x", "hi"],
        ["publish", "--sentinel", "127.0.0.1:26379", "--sentinel", "127.0.0.1:26380", "--master", "mymaster", "room:x", "hi"],
        ["publish", "--archive-key", "arch:*", "--backlog-key", "*:log", "room:x", "hi"],
        ["publish", "-0", "room:x"],
        ["publish", "--null", "room:x", "-"],
        ["publish", "--whole", "room:x"],
        ["publish", "--retain", "7d", "--max-len", "1000", "room:x", "hi"],
        ["publish", "--retry-for", "0", "--no-archive", "--from", "mod", "room:x", "hi"],
        ["publish", "-f", "json", "room:x", "hi"],
        ["publish", "-fjson", "--quiet", "room:x", "hi"],
        ["publish", "--format=text", "room:x", "hi"],
        ["publish", "room:x", "--", "-starts with a dash"],
        ["publish", "--", "room:x", "--json"],
        ["watch"],
        ["watch", "room:*", "news:*", "-c", "alerts", "--channel", "ops", "-cmore"],
        ["watch", "-p", "6380", "--ignore", "room:bots*", "--ignore", "room:test*"],
        ["watch", "--grep", "spam|scam", "-i", "--count", "10", "--wait", "5s", "--duration", "1m"],
        ["watch", "--grep=x", "--ignore-case", "-n5"],
        ["watch", "-n", "5", "--buffer", "64MB", "--heartbeat", "2s", "--no-reconnect"],
        ["watch", "--archive", "--sharded", "--since", "1h"],
        ["watch", "--since=-1h", "--archive-key", "*:arch", "--backlog-key", "*:bl"],
        ["watch", "-f", "json", "--local"],
        ["watch", "--json"],
        ["watch", "--format", "raw", "-0"],
        ["watch", "-fraw", "--null"],
        ["watch", "--format", "{time} {channel}: {message}"],
        ["watch", "-u", "redis://127.0.0.1:6390/1", "--db", "2", "-a", "pw", "--user", "u"],
        ["watch", "-h", "127.0.0.3", "-p", "6381"],
        ["watch", "-s", "/tmp/x.sock", "--connect-timeout", "1s", "--timeout", "9s", "--askpass"],
        ["watch", "--sentinel", "127.0.0.1", "--master", "m"],
        ["history"],
        ["history", "room:lobby", "room:a*", "--since", "2h", "--until", "1h"],
        ["history", "--since", "2026-11-21T10:00:00Z", "--last", "5", "--reverse"],
        ["history", "--limit", "10", "--grep", "hello", "-i", "--from", "alice", "--from", "bob"],
        ["history", "--follow", "--ignore", "room:bots*", "--score-unit", "s"],
        ["history", "--delete", "--all", "--yes"],
        ["history", "--delete", "--yes", "--last", "1", "room:x"],
        ["history", "-f", "json", "--local", "--archive-key", "*:a", "--backlog-key", "*:b"],
        ["history", "--json", "--format", "json"],
        ["history", "--format", "raw", "--null"],
        ["history", "-fraw", "-0"],
        ["history", "-h", "127.0.0.2", "-p", "6380", "-s", "/tmp/s", "--db", "1", "--user", "u", "--pass", "p"],
        ["history", "-u", "redis://x:6379", "--connect-timeout", "3s", "--timeout", "4s", "--askpass"],
        ["history", "--sentinel", "127.0.0.1:26379", "--master", "m"],
        ["stats"],
        ["stats", "room:*"],
        ["stats", "news:*", "--window", "1m,1h", "--top", "5", "--sort", "name", "-f", "json"],
        ["stats", "--json", "--watch", "2s", "--sample", "1s", "-fjson"],
        ["stats", "--format", "text", "--sort", "last"],
        ["stats", "-p6380", "-h", "h", "-s", "/s", "--db", "1", "--user", "u", "-a", "p"],
        ["stats", "--askpass"],
        ["stats", "-u", "redis://x", "--connect-timeout", "1s", "--timeout", "1s", "--archive-key", "a:*", "--backlog-key", "b:*"],
        ["stats", "--sentinel", "h:1", "--master", "m"],
    ]

    func testTheQuickPathReadsPlainLinesAsArgumentParserDoes() throws {
        for line in Self.plain {
            guard let quick = QuickParse.command(line) else {
                XCTFail("the quick path declined \(line)")
                continue
            }
            let parsed: ParsableCommand
            do { parsed = try RoomWarden.parseAsRoot(line) } catch {
                XCTFail("\(line): ArgumentParser refused what the quick path took: \(RoomWarden.message(for: error))")
                continue
            }
            Self.assertSame(quick, parsed, line)
        }
    }

    /// Every option in each command's help is read by its quick builder: a
    /// new option missing there would send every line using it down the
    /// slow path (or worse, be left unset).
    func testThePlainLinesUseEveryOptionOfEveryCommand() throws {
        for command in ["publish", "watch", "history", "stats"] {
            let lines = Self.plain.filter { $0.first == command }
            let used = Set(lines.flatMap { $0.dropFirst() })
            for names in try Self.options(of: command) {
                let found = names.contains { name in
                    used.contains { $0 == name || $0.hasPrefix(name + "=") || (name.count == 2 && $0.hasPrefix(name)) }
                }
                XCTAssertTrue(found, "\(command): no plain line uses \(names)")
            }
        }
    }

    /// Lines the quick path must leave to ArgumentParser.
    func testItLeavesHelpErrorsAndUnusualLinesToArgumentParser() {
        let declined: [[String]] = [
            [], ["help"], ["publish", "--help"], ["--version"], ["publish", "--version"], ["histroy"],
            ["publish"], ["publish", "a", "b", "c"], ["publish", "--bogus", "room:x", "hi"],
            ["publish", "-q0", "room:x"], ["publish", "-p", "x", "room:x", "hi"], ["publish", "-p", "-1", "room:x", "hi"],
            ["publish", "--port", "1", "--port", "2", "room:x", "hi"], ["publish", "-q", "-q", "room:x", "hi"],
            ["publish", "--quiet=yes", "room:x", "hi"], ["publish", "--from", "-bob", "room:x", "hi"],
            ["publish", "room:x", "-5"], ["publish", "--from"], ["publish", "room:x", "hi", "--from", "--", "x"],
            ["publish", "-asecret", "room:x", "hi"], ["publish", "--from=", "room:x", "hi"], ["history", "--from=", "a", "b"],
            ["watch", "-c="], ["watch", "-c=news"], ["publish", "-p=6380", "room:x", "hi"], ["publish", "--retain", "0", "room:x", "hi"],
            ["publish", "--retain", "1d", "--no-archive", "room:x", "hi"], 
            ["watch", "--buffer", "10KB"], ["watch", "-i"], ["watch", "-0"], ["watch", "--grep", "("],
            ["history", "--follow", "--reverse"], ["history", "--all"], ["history", "--since", "tomorrow-ish"],
            ["stats", "a", "b"], ["stats", "--json", "--format", "text"], ["stats", "--sort", "size"],
            ["stats", "--sentinel", "h:1"], ["stats", "--master", "m"], ["stats", "-h", ""],
            ["history", "--from=", "h:1"], ["watch", "--user="], ["publish", "--pass=", "room:x", "hi"],
            ["watch", "-h=x"], ["history", "-s="],
        ]
        for line in declined {
            XCTAssertNil(QuickParse.command(line), "\(line)")
        }
    }

    /// Random lines from a pool of tokens: whatever the quick path takes,
    /// ArgumentParser takes too, with the same values.
    func testRandomLinesTakenByTheQuickPathAreTakenAlikeByArgumentParser() throws {
        let pool = ["room:x", "hi", "-", "--", "-p", "6380", "-p6380", "--port", "--port=7000", "-q", "--quiet", "-0", "--null",
                    "--json", "-f", "json", "raw", "-fjson", "--format", "--format=raw", "--from", "alice", "--retain", "7d",
                    "--since", "1h", "--since=-1h", "-n", "5", "-n5", "--count", "-c", "news", "--ignore", "room:b*", "--grep",
                    "x|y", "-i", "--window", "1m,1h", "--top", "3", "--sort", "name", "--delete", "--yes", "--all", "--last",
                    "2", "--whole", "--no-archive", "--sentinel", "127.0.0.1", "--master", "m", "-h", "127.0.0.2", "--db", "2",
                    "-a", "pw", "--askpass", "--timeout", "0", "--buffer", "2MB", "-x", "--bogus", "", "--from=", "--sentinel=127.0.0.1:1",
                    "-cx", "--channel=y", "-s/tmp/t", "-uredis://h", "--url=redis://h:1", "--archive-key=x:*", "--until=now", "-c=",
                    "-p=1"]
        var generator = SeededRandom(seed: 0x5EED_0003)
        var taken = 0
        for round in 0..<1200 {
            let command = ["publish", "watch", "history", "stats"][round % 4]
            let length = Int.random(in: 0...6, using: &generator)
            let line = [command] + (0..<length).map { _ in pool.randomElement(using: &generator) ?? "" }
            guard let quick = QuickParse.command(line) else { continue }
            taken += 1
            let parsed: ParsableCommand
            do { parsed = try RoomWarden.parseAsRoot(line) } catch {
                XCTFail("\(line): ArgumentParser refused what the quick path took: \(RoomWarden.message(for: error))")
                continue
            }
            Self.assertSame(quick, parsed, line)
        }
        XCTAssertGreaterThan(taken, 150, "too few random lines taken to compare")
    }

    /// The two commands hold the same values; else names the lines that differ.
    static func assertSame(_ quick: ParsableCommand, _ parsed: ParsableCommand, _ line: [String],
                           file: StaticString = #filePath, lineNumber: UInt = #line) {
        let a = described(quick).split(separator: "\n"), b = described(parsed).split(separator: "\n")
        guard a != b else { return }
        let differing = zip(a, b).filter { $0 != $1 }.prefix(3).map { "quick \($0) / parser \($1)" }
        XCTFail("\(line): \(differing.joined(separator: "; "))", file: file, line: lineNumber)
    }

    /// Every value a command holds, as `dump` shows it, without the option
    /// groups' titles (how help shows them, not a value; the parser's
    /// decoded groups have none).
    static func described(_ command: ParsableCommand) -> String {
        var text = ""
        dump(command, to: &text)
        return text.split(separator: "\n").filter { !$0.drop(while: { $0 == " " }).hasPrefix("- title: ") }.joined(separator: "\n")
    }

    /// Each option's names (`--long`, `-s`) from ArgumentParser's own
    /// description of the command, without --help and --version.
    static func options(of command: String) throws -> [[String]] {
        let json: String
        do {
            _ = try RoomWarden.parseAsRoot([command, "--experimental-dump-help"])
            throw XCTSkip("no help dump")
        } catch let error as XCTSkip { throw error } catch {
            json = RoomWarden.fullMessage(for: error)
        }
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let info = try XCTUnwrap(root["command"] as? [String: Any])
        let arguments = try XCTUnwrap(info["arguments"] as? [[String: Any]])
        return arguments.compactMap { argument in
            let names = (argument["names"] as? [[String: Any]] ?? []).compactMap { name -> String? in
                guard let text = name["name"] as? String else { return nil }
                return (name["kind"] as? String) == "long" ? "--" + text : "-" + text
            }
            return names.isEmpty || names.contains("--help") || names.contains("--version") ? nil : names
        }
    }
}
