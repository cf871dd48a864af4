import Foundation
import RoomWardenKit
import XCTest

/// The output formats shared by watch and history.
final class FormatTests: XCTestCase {
    private func render(_ format: OutputFormat, ts: Int64 = 1_795_300_045_123, channel: String = "room:lobby",
                        pattern: String? = nil, id: String? = nil, from: String? = nil, payload: [UInt8],
                        local: Bool = false, colour: Bool = false) -> String {
        var f = MessageFormatter(format: format, colour: colour, localTime: local)
        var out: [UInt8] = []
        Array(channel.utf8).withUnsafeBytes { c in
            payload.withUnsafeBytes { p in
                let pat = pattern.map { Array($0.utf8) } ?? []
                pat.withUnsafeBytes { pp in
                    Array((id ?? "").utf8).withUnsafeBytes { ib in
                        Array((from ?? "").utf8).withUnsafeBytes { fb in
                            f.append(MessageView(ts: ts, channel: c, pattern: pattern == nil ? nil : pp, id: id == nil ? nil : ib,
                                                 from: from == nil ? nil : fb, payload: p), to: &out)
                        }
                    }
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func testTextLine() {
        XCTAssertEqual(render(.text, payload: Array("Hello there!".utf8)), "2026-11-21T22:27:25.123Z room:lobby Hello there!\n")
    }

    func testTextShowsWhoSaidItWhenTheEnvelopeKnows() {
        XCTAssertEqual(render(.text, from: "mod", payload: Array("be nice".utf8)),
                       "2026-11-21T22:27:25.123Z room:lobby <mod> be nice\n")
        XCTAssertEqual(render(.text, from: "ev\u{1B}[2Jil", payload: Array("x".utf8)),
                       "2026-11-21T22:27:25.123Z room:lobby <ev\\x1b[2Jil> x\n", "the name is escaped like the message")
        XCTAssertEqual(render(.text, payload: Array("live".utf8)), "2026-11-21T22:27:25.123Z room:lobby live\n",
                       "no from (a live message): no brackets")
    }

    func testTimesAcrossDatesAndZones() {
        XCTAssertEqual(render(.text, ts: 0, payload: []), "1970-01-01T00:00:00.000Z room:lobby \n")
        XCTAssertEqual(render(.text, ts: 951_782_400_007, payload: []), "2000-02-29T00:00:00.007Z room:lobby \n")
        XCTAssertEqual(render(.text, ts: -1, payload: []), "1969-12-31T23:59:59.999Z room:lobby \n")
        setenv("TZ", "Asia/Kolkata", 1); tzset()
        defer { unsetenv("TZ"); tzset() }
        XCTAssertEqual(render(.text, ts: 0, payload: [], local: true), "1970-01-01T05:30:00.000+05:30 room:lobby \n")
        XCTAssertTrue(render(.json, ts: 0, payload: [], local: true).contains(#""time":"1970-01-01T00:00:00.000Z""#))
    }

    func testEscapingKeepsOneSafeLine() {
        let hostile: [UInt8] = Array("a\nb\tc\r\u{1B}[0m\\".utf8) + [0x00, 0x7F, 0xFF] + Array("\u{202E}\u{2028}\u{9B}é".utf8)
        XCTAssertEqual(render(.template([.field(.message)]), payload: hostile),
                       #"a\nb\tc\r\x1b[0m\\\x00\x7f\xff\u{202e}\u{2028}\u{9b}é"# + "\n")
        // Truncated and overlong sequences are bytes, shown one by one.
        XCTAssertEqual(render(.template([.field(.message)]), payload: [0xE2, 0x82, 0x41, 0xC0, 0xAF]), #"\xe2\x82A\xc0\xaf"# + "\n")
    }

    func testJSONKeysAndOrder() throws {
        let line = render(.json, pattern: "room:*", id: "i1", from: "bob", payload: [0x68, 0xFF])
        XCTAssertEqual(line, #"{"ts":1795300045123,"time":"2026-11-21T22:27:25.123Z","channel":"room:lobby","pattern":"room:*","id":"i1","from":"bob","message":"h\#u{FFFD}","message_base64":"aP8="}"# + "\n")
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)))
        let controls = render(.json, payload: Array("\u{0}\u{1F}\"\\\u{7F}".utf8))
        XCTAssertTrue(controls.contains(#""message":"\u0000\u001f\"\\\u007f"}"#), controls)
    }

    func testTemplates() throws {
        let t = try OutputFormat(parsing: "{time} {channel} <{from}> {message} {{literal}}")
        XCTAssertEqual(render(t, from: "al\u{1B}", payload: Array("hi".utf8)), "2026-11-21T22:27:25.123Z room:lobby <al\\x1b> hi {literal}\n")
        XCTAssertEqual(render(try OutputFormat(parsing: "{ts}|{id}|{pattern}|{message_base64}"), payload: [0xFF]), "1795300045123|||/w==\n")
        for bad in ["{nope}", "{time", "no fields", ""] {
            XCTAssertThrowsError(try OutputFormat(parsing: bad), bad)
        }
        XCTAssertEqual(try OutputFormat(parsing: "json"), .json)
        XCTAssertEqual(try OutputFormat(parsing: "raw"), .raw)
    }

    func testColourOnlyWhenAsked() {
        XCTAssertFalse(render(.text, payload: Array("x".utf8)).contains("\u{1B}"))
        let coloured = render(.text, payload: Array("x\u{1B}".utf8), colour: true)
        XCTAssertTrue(coloured.hasPrefix("\u{1B}[2m"))
        XCTAssertTrue(coloured.hasSuffix(" x\\x1b\n"), "the payload itself stays escaped")
    }
}
