import Foundation
import RedisFixture
import XCTest

/// Help, version and the errors a person sees before anything reaches Redis.
final class HelpTests: XCTestCase {
    func testVersionNamesHiredisAndTheBuild() throws {
        let r = try roomwarden(["--version"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.lines.count, 1, r.text)
        let line = r.lines.first ?? ""
        XCTAssertTrue(line.hasPrefix("roomwarden 0.1.0 (hiredis 0.14.1; Swift 6."), line)
        XCTAssertTrue(line.contains(" runtime; ") && line.contains(" build for "), line)
        XCTAssertEqual(r.stderr, "")
    }

    func testBareCommandPrintsUsageOnStderrAndExits64() throws {
        let r = try roomwarden([])
        XCTAssertEqual(r.status, 64)
        XCTAssertEqual(r.stdout, [], "nothing on stdout: a pipe expected results")
        XCTAssertTrue(r.stderr.contains("USAGE: roomwarden <subcommand>"), r.stderr)
        for sub in ["watch", "publish", "history", "stats"] { XCTAssertTrue(r.stderr.contains(sub), r.stderr) }
    }

    func testMisspelledCommandSuggestsTheNearestOne() throws {
        let cases = [("histroy", "history"), ("wacth", "watch"), ("stat", "stats"), ("pub", "publish"), ("publsh", "publish")]
        for (typed, meant) in cases {
            let r = try roomwarden([typed, "--since", "1h"])
            XCTAssertEqual(r.status, 64, typed)
            XCTAssertEqual(r.stderr, "roomwarden: unknown command '\(typed)'; did you mean '\(meant)'?\n")
            XCTAssertEqual(r.stdout, [])
        }
        let far = try roomwarden(["room:lobby"])
        XCTAssertEqual(far.status, 64)
        XCTAssertEqual(far.stderr, "roomwarden: unknown command 'room:lobby'; the commands are watch, publish, history, stats (see 'roomwarden --help')\n")
    }

    /// The README is not installed with the binary: errors point to the
    /// manual.
    func testErrorsPointToTheManualNotTheReadme() throws {
        let r = try roomwarden(["publish", "room:x", "hi", "-u", "rediss://example:6380"])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("see TLS in 'man roomwarden'"), r.stderr)
        for (file, code) in try swiftSources() {
            for line in code.split(separator: "\n") where line.contains("README") && !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                XCTFail("\(file.lastPathComponent): a message names the README, which is not installed: \(line)")
            }
        }
    }

    /// Every option's help names its default at most once: the parser adds
    /// "(default: X)" for options with a default value.
    func testDefaultsArePrintedOnce() throws {
        for sub in ["watch", "publish", "history", "stats"] {
            let r = try roomwarden([sub, "--help"])
            XCTAssertEqual(r.status, 0)
            for entry in helpEntries(r.text) {
                let mentions = entry.components(separatedBy: "(default").count - 1
                XCTAssertLessThanOrEqual(mentions, 1, "\(sub): \(entry)")
            }
        }
    }
}

/// The option entries of a --help text: each starts on a line indented by
/// two spaces and a dash, and runs until the next one or a blank line.
func helpEntries(_ help: String) -> [String] {
    var entries: [String] = []
    var current: String?
    for line in help.split(separator: "\n", omittingEmptySubsequences: false) {
        if line.hasPrefix("  -") || (line.hasPrefix("  <") && line.contains(">")) {
            if let current { entries.append(current) }
            current = String(line)
        } else if line.hasPrefix("        "), let c = current {
            current = c + " " + line.trimmingCharacters(in: .whitespaces)
        } else {
            if let c = current { entries.append(c) }
            current = nil
        }
    }
    if let current { entries.append(current) }
    return entries
}
