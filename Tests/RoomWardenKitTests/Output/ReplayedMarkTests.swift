import Foundation
import RoomWardenKit
import XCTest

/// Lines watch replays from an archive are marked (SPEC §4, §5).
final class ReplayedMarkTests: XCTestCase {
    private func render(_ format: String, replayed: Bool) throws -> String {
        var f = MessageFormatter(format: try OutputFormat(parsing: format))
        f.marksReplayed = replayed
        var out: [UInt8] = []
        Array("room:lobby".utf8).withUnsafeBytes { c in
            Array("room:*".utf8).withUnsafeBytes { p in
                Array("hi".utf8).withUnsafeBytes { m in
                    f.append(MessageView(ts: 1_795_300_045_123, channel: c, pattern: p, payload: m), to: &out)
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func testReplayedLinesAreMarkedInEveryFormat() throws {
        XCTAssertEqual(try render("json", replayed: true),
                       #"{"ts":1795300045123,"time":"2026-11-21T22:27:25.123Z","channel":"room:lobby","pattern":"room:*","replayed":true,"message":"hi"}"# + "\n")
        XCTAssertFalse(try render("json", replayed: false).contains("replayed"))
        XCTAssertEqual(try render("text", replayed: true), "2026-11-21T22:27:25.123Z (replayed) room:lobby hi\n")
        XCTAssertEqual(try render("text", replayed: false), "2026-11-21T22:27:25.123Z room:lobby hi\n")
        XCTAssertEqual(try render("{message}:{replayed}", replayed: true), "hi:true\n")
        XCTAssertEqual(try render("{message}:{replayed}", replayed: false), "hi:\n")
        XCTAssertEqual(try render("raw", replayed: true), "hi\n")
    }
}
