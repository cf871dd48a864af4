import Foundation
import RedisFixture
import XCTest

/// What a person at a terminal sees beside the results: progress of long
/// runs on stderr, only when stderr is a terminal; how to end typed input.
final class TerminalTests: XCTestCase {
    private var bin: String { CLIProcess.binary.path }

    /// Runs a bash command line under script(1), so that it has a
    /// pseudo-terminal; returns everything written to the terminal.
    private func onTerminal(_ commandLine: String, timeout: TimeInterval = 30) throws -> (status: Int32, screen: String) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("script(1) missing") }
        let shell = try CLIProcessShell(["/usr/bin/script", "-qec", commandLine, "/dev/null"])
        let status = shell.wait(timeout: timeout)
        return (status, shell.output)
    }

    func testHistoryExportShowsProgressOnlyWhenStderrIsATerminal() throws {
        let room = freshRoom()
        let padding = String(repeating: "long enough to fill a pipe ", count: 8)
        let lines = (0..<4_000).map { "message \($0), \(padding)\n" }.joined()
        XCTAssertEqual(try rw(["publish", room, "-q"], stdin: Array(lines.utf8), timeout: 120).status, 0)
        let out = NSTemporaryDirectory() + "roomwarden-export-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        // The reader starts late, so the export blocks on a full pipe and
        // runs past the progress line's delay.
        let export = "'\(bin)' history '\(room)' -s '\(server.socketPath)' | (sleep 1.5; cat > '\(out)')"
        let tty = try onTerminal(export)
        XCTAssertEqual(tty.status, 0, tty.screen)
        XCTAssertTrue(tty.screen.contains("roomwarden: "), tty.screen)
        XCTAssertTrue(tty.screen.contains(" of 4,000 messages ("), "count and share done from ZCOUNT: \(tty.screen)")
        XCTAssertTrue(tty.screen.contains("%), "), tty.screen)
        XCTAssertTrue(tty.screen.contains("/s"), "a rate: \(tty.screen)")
        XCTAssertTrue(tty.screen.hasSuffix("\r\u{1B}[K"), "the line is erased at the end: \(tty.screen.debugDescription)")
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").count, 4_000)

        let piped = try bash(export)
        XCTAssertEqual(piped.stderr, "", "stderr not a terminal: no progress")
        let toTerminal = try onTerminal("'\(bin)' history '\(room)' -s '\(server.socketPath)' --last 3")
        XCTAssertFalse(toTerminal.screen.contains("messages ("), "results on the same terminal: no progress line among them")
    }

    func testStdinPublishShowsProgressOnlyWhenStderrIsATerminal() throws {
        let room = freshRoom()
        let slowFeed = "(for i in $(seq 12); do echo line $i; sleep 0.1; done) | '\(bin)' publish '\(room)' -q -s '\(server.socketPath)'"
        let tty = try onTerminal(slowFeed)
        XCTAssertEqual(tty.status, 0, tty.screen)
        XCTAssertTrue(tty.screen.contains(" messages, "), "count and rate: \(tty.screen)")
        XCTAssertTrue(tty.screen.contains("/s"), tty.screen)
        XCTAssertTrue(tty.screen.hasSuffix("\r\u{1B}[K"), tty.screen.debugDescription)
        XCTAssertEqual(try server.run("ZCARD", "\(room):archive"), .integer(12))

        let piped = try bash(slowFeed)
        XCTAssertEqual(piped.stderr, "")
        XCTAssertEqual(try server.run("ZCARD", "\(room):archive"), .integer(24))
        let printing = try onTerminal("(for i in $(seq 8); do echo line $i; sleep 0.1; done) | '\(bin)' publish '\(room)' -s '\(server.socketPath)'")
        XCTAssertFalse(printing.screen.contains("messages,"), "receivers printed on the terminal: no progress line among them: \(printing.screen)")
    }

    func testPublishReadingATerminalSaysHowToEndInput() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("script(1) missing") }
        let room = freshRoom()
        let shell = try CLIProcessShell(["/usr/bin/script", "-qec", "'\(bin)' publish '\(room)' -s '\(server.socketPath)'", "/dev/null"])
        XCTAssertTrue(shell.waitFor("Ctrl-D"), shell.output)
        XCTAssertTrue(shell.output.contains("roomwarden: reading messages from the terminal, one a line: press Ctrl-D on an empty line to finish"), shell.output)
        shell.type("typed by hand\n")
        XCTAssertTrue(shell.waitFor("0\r\n"), "the receivers of the typed line: \(shell.output)")
        shell.type("\u{04}")
        XCTAssertEqual(shell.wait(), 0, shell.output)
        XCTAssertEqual(try server.run("ZCARD", "\(room):archive"), .integer(1))

        let piped = try rw(["publish", room], stdin: Array("from a pipe\n".utf8))
        XCTAssertEqual(piped.stderr, "", "no hint when stdin is not a terminal")
    }
}
