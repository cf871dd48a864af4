import Foundation
import Hiredis
import RedisFixture
import XCTest

/// Values as the built binary reads them: bytes of arguments, URL forms,
/// times users type, and what a refused value says.
final class ValueTests: XCTestCase {
    var bin: String { "'\(CLIProcess.binary.path)'" }
    var sock: String { "'\(server.socketPath)'" }

    func testRefusedValuesAreOneLineUsageErrorsThatSayWhy() throws {
        for (args, says) in [(["publish", "room:x", "m", "--max-len", "9223372036854775807"], "at most"),
                             (["watch", "--buffer", "99999999999999999999G"], "at most 1TB"),
                             (["history", "--since", "@-9.3e15"], "not Unix seconds")] {
            let r = try rw(args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.filter { $0 == "\n" }.count, 1, r.stderr)
            XCTAssertTrue(r.stderr.hasPrefix("roomwarden: "), r.stderr)
            XCTAssertTrue(r.stderr.contains(says), r.stderr)
        }
    }

    func testGrepSaysWhatIsWrongWithTheExpression() throws {
        let r = try rw(["watch", "--grep", "("])
        XCTAssertEqual(r.status, 64)
        XCTAssertTrue(r.stderr.contains("unmatched ( at character 1"), r.stderr)
    }

    func testAChannelThatIsNotUTF8IsPublishedAsItsBytes() throws {
        let tag = UUID().uuidString.prefix(6)
        let channel: [UInt8] = Array("room:bin-\(tag)-".utf8) + [0xFF, 0xFE]
        let c = try server.connect()
        let r = try bash("\(bin) publish $'room:bin-\(tag)-\\xff\\xfe' hi --json -s \(sock)")
        let obj = try jsonObject(r.stdout.trimmingCharacters(in: .newlines))
        XCTAssertEqual(obj["channel"] as? String, "room:bin-\(tag)-\u{FFFD}\u{FFFD}")
        XCTAssertEqual(obj["channel_base64"] as? String, Data(channel).base64EncodedString())
        XCTAssertEqual(try c.command([Array("EXISTS".utf8), channel + Array(":archive".utf8)]), .integer(1), r.stderr)
        // history and stats JSON carry the bytes too.
        let h = try rw(["history", "room:bin-\(tag)-*", "--json"])
        let line = try jsonObject(h.lines.first ?? "")
        XCTAssertEqual(line["channel_base64"] as? String, Data(channel).base64EncodedString(), h.text)
        let keys = h.lines.first?.split(separator: ",").map { $0.split(separator: ":").first ?? "" } ?? []
        XCTAssertEqual(keys.prefix(4).map(String.init), [#"{"ts""#, #""time""#, #""channel""#, #""channel_base64""#], "after channel")
        let s = try rw(["stats", "room:bin-\(tag)-*", "--json"])
        let rooms = try jsonObject(s.text)["rooms"] as? [[String: Any]] ?? []
        XCTAssertEqual(rooms.first?["channel_base64"] as? String, Data(channel).base64EncodedString(), s.text)
        // Where an argument is used as text, bytes that are not UTF-8 are refused, not changed.
        let w = try bash("\(bin) watch $'room:\\xff' -s \(sock) --wait 1s; echo $?")
        XCTAssertTrue(w.stderr.contains("argument 'room:\u{FFFD}' is not valid UTF-8"), w.stderr)
        XCTAssertEqual(w.stdout, "64\n")
        // The same bytes as CHANNEL and as --from's text: --from still refuses them.
        let f = try bash("\(bin) publish --from $'room:\\xff' $'room:\\xff' hi -s \(sock); echo $?")
        XCTAssertTrue(f.stderr.contains("argument 'room:\u{FFFD}' is not valid UTF-8"), f.stderr)
        XCTAssertEqual(f.stdout, "64\n")
    }

    func testURLForms() throws {
        let room = freshRoom()
        // ?db= on a redis:// URL (it said "port must be 1 to 65535").
        var r = try roomwarden(["publish", room, "in db 2", "-u", "redis://127.0.0.1:\(server.port)?db=2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let c = try server.connect()
        _ = try c.command("SELECT", "2")
        XCTAssertEqual(try c.command("ZCARD", "\(room):archive"), .integer(1))
        r = try roomwarden(["publish", room, "x", "-u", "redis://[::1]x"])
        XCTAssertEqual(r.status, 64, r.stderr)
        XCTAssertTrue(r.stderr.contains("after [::1]"), r.stderr)
    }

    func testEnvelopeWithAFractionalTsIsAnEnvelope() throws {
        let room = freshRoom()
        try server.run("ZADD", "\(room):archive", "1795300045123",
                       #"{"ts":1795300045.123,"channel":"\#(room)","from":"py","message":"from python"}"#)
        let r = try rw(["history", room, "--json"])
        let obj = try jsonObject(r.lines.first ?? "")
        XCTAssertEqual(obj["message"] as? String, "from python")
        XCTAssertEqual(obj["from"] as? String, "py")
        XCTAssertEqual(obj["ts"] as? Int, 1_795_300_045_123)
    }

    /// The README's one-liner, run as written on a machine in New York:
    /// yesterday's messages, local midnight to local midnight.
    func testTheREADMEYesterdayExportOnANonUTCMachine() throws {
        let room = freshRoom()
        let readme = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../README.md").standardized, encoding: .utf8)
        guard let line = readme.split(separator: "\n").first(where: { $0.hasPrefix("roomwarden history room:lobby") && $0.contains("date -d yesterday") }) else {
            return XCTFail("the README's yesterday example is gone")
        }
        // As written, with the room, the binary and the server put in, and the file in a temp dir.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("yesterday-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let command = line.replacingOccurrences(of: "roomwarden history room:lobby", with: "\(bin) history '\(room)' -s \(sock)")
        let script = """
            export TZ=America/New_York
            y=$(date -d yesterday +%F); t=$(date +%F)
            ms() { date -d "$1" +%s%3N; }
            add() { redis-cli -s \(sock) zadd '\(room):archive' "$1" "{\\"ts\\":$1,\\"message\\":\\"$2\\"}" >/dev/null; }
            add "$(( $(ms "$y 00:00:00") - 1 ))" "day before"
            add "$(ms "$y 00:00:00")" "first of yesterday"
            add "$(( $(ms "$t 00:00:00") - 1 ))" "last of yesterday"
            add "$(ms "$t 00:00:00")" "first of today"
            cd '\(dir.path)'
            \(command)
            cat lobby-$(date -d yesterday +%F).log
            """
        let r = try bash(script)
        XCTAssertEqual(r.stderr, "")
        let messages = r.stdout.split(separator: "\n").map { $0.split(separator: " ", maxSplits: 2).last.map(String.init) ?? "" }
        XCTAssertEqual(messages, ["first of yesterday", "last of yesterday"], r.stdout)
        // Printed in New York time, the day the file is named for.
        let day = try bash("TZ=America/New_York date -d yesterday +%F").stdout.trimmingCharacters(in: .newlines)
        XCTAssertTrue(r.stdout.split(separator: "\n").allSatisfy { $0.hasPrefix(day) && ($0.contains("-05:00") || $0.contains("-04:00")) }, r.stdout)
    }
}
