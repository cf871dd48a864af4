import Foundation
import Hiredis
import RedisFixture
import XCTest

/// Started with stdin, stdout or stderr closed (`<&-`, `>&-`, `2>&-`), no
/// command may open its Redis connection on that number: its output would
/// be sent to Redis as commands (a chat message `SET pwned yes` run by the
/// moderator's export) or its own connection read as input.
final class ClosedDescriptorTests: XCTestCase {
    /// A server of this suite's own, so that its error count is ours alone.
    static let own: RedisServer = {
        do { return try RedisServer() } catch { fatalError("\(error)") }
    }()

    var own: RedisServer { Self.own }

    /// Error replies the server has sent so far.
    func errorReplies() throws -> Int {
        let info = try own.run("INFO", "stats").string ?? ""
        let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("total_error_replies:") }
        return Int(line?.dropFirst("total_error_replies:".count) ?? "") ?? -1
    }

    /// Runs `roomwarden <args>` through bash with `redirection`, a publisher
    /// of `SET pwned yes` to `room` looping beside it when `publishing`;
    /// returns its exit status and the server's new error replies.
    func run(_ args: String, _ redirection: String, room: String, publishing: Bool) throws -> (status: String, errors: Int) {
        let bin = "'\(CLIProcess.binary.path)'"
        let sock = "'\(own.socketPath)'"
        var script = ""
        if publishing {
            script += "( for i in $(seq 100); do sleep 0.1; \(bin) publish '\(room)' 'SET pwned yes' --no-archive -q -s \(sock); done ) & loop=$!\n"
        }
        script += "timeout 20 \(bin) \(args) -s \(sock) \(redirection)\nstatus=$?\n"
        if publishing { script += "kill $loop 2>/dev/null; wait $loop 2>/dev/null\n" }
        script += "echo $status\n"
        let before = try errorReplies()
        let r = try bash(script)
        XCTAssertTrue(r.finished, args)
        let status = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return (status, try errorReplies() - before)
    }

    /// Each command, with each of fds 0, 1, 2 closed, exits as it does with
    /// all three open and sends Redis nothing else: no extra error reply,
    /// no key written.
    func testEveryCommandWithEachStandardDescriptorClosed() throws {
        let room = freshRoom()
        XCTAssertEqual(try roomwarden(["publish", room, "SET pwned yes"] + own.socketArguments).status, 0)
        // -a with a server that has no password: a warning on stderr after
        // connecting, which a connection on fd 2 would send to Redis.
        let cases: [(name: String, args: String, publishing: Bool)] = [
            ("publish", "publish '\(room)' 'SET pwned yes' -a nopass", false),
            ("publish stdin", "publish '\(room)' -a nopass", false),
            ("history", "history '\(room)' '\(room)-none' -f '{message}' -a nopass", false),
            ("watch", "watch '\(room)' -n 1 -f '{message}' -a nopass", true),
            ("stats", "stats '\(room)*' -a nopass", false),
        ]
        for c in cases {
            let open = try run(c.args, "</dev/null", room: room, publishing: c.publishing)
            XCTAssertEqual(open.status, "0", "\(c.name) with every fd open")
            for redirection in ["<&-", ">&-", "2>&-"] {
                let closed = try run(c.args, redirection, room: room, publishing: c.publishing)
                XCTAssertEqual(closed.status, open.status, "\(c.name) \(redirection)")
                XCTAssertEqual(closed.errors, open.errors, "\(c.name) \(redirection): Redis got commands it did not get with the fds open")
            }
        }
        XCTAssertEqual(try own.run("EXISTS", "pwned"), .integer(0), "a chat message was run as a command")
    }

    /// The reproduction from the report: an export with stdout closed.
    func testAnExportWithStdoutClosedRunsNoMessageAsACommand() throws {
        let room = freshRoom()
        XCTAssertEqual(try roomwarden(["publish", room, "SET pwned2 yes"] + own.socketArguments).status, 0)
        let r = try run("history '\(room)' -f '{message}'", ">&-", room: room, publishing: false)
        XCTAssertEqual(r.status, "0")
        XCTAssertEqual(try own.run("EXISTS", "pwned2"), .integer(0), "Redis ran SET pwned2 yes")
    }
}
