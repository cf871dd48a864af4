import Foundation
import RoomWardenKit
import XCTest

/// The envelope and archive-member readers, fed thousands of random and
/// mutated members (other writers' data, or a hostile one's): none may
/// trap, and what they hand out stays inside the member and scratch.
final class ArchiveReaderFuzzTests: XCTestCase {
    static let envelopes: [String] = [
        #"{"id":"1763762245123-5f0c2a9e41d7-000000000001","ts":1763762245123,"channel":"room:lobby","from":"mod","message":"Hello"}"#,
        #"{"id":"x","ts":1763762245123,"channel":"room:a","message_base64":"/wA="}"#,
        #" { "ts" : 1795300045.5 , "extra": {"nested": [1, "}", [[[]]]]}, "message": "caf\u00e9 \ud83d\ude00 \" \\ \/ \b\f\n\r\t" } "#,
        #"{"ts":-1e300,"message":"\uD800\uDC00\uDFFF\uD83D"}"#,
        #"{"ts":1,"channel":"\u0000","message":"","from":"\u001b[31m"}"#,
        "[" + String(repeating: "[", count: 2000) + "]",
        "{" + String(repeating: #""a":{"#, count: 500) + "}",
    ]

    /// Scores the readers may get from Redis, rogue ones included.
    static let scores: [Double?] = [nil, 0, 1, -1, 1.5, 1e11 - 1, 1e11, 1_763_762_245, 1_763_762_245_123, -1e14, 1e14,
                                    .infinity, -.infinity, 1e300, -1e300, -1e16, 9.3e18, .greatestFiniteMagnitude, .leastNonzeroMagnitude]

    func testNoMemberTrapsTheReaders() {
        var input = FuzzInput(seed: 0x5EED_0002)
        var scratch = EnvelopeScratch()
        var out: [UInt8] = []
        var formatters = [MessageFormatter(format: .json), MessageFormatter(format: .text), MessageFormatter(format: .raw)]
        let channel = Array("room:fuzz".utf8)
        for round in 0..<10_000 {
            let member: [UInt8]
            switch round % 3 {
            case 0: member = input.mutated(Array(Self.envelopes[round / 3 % Self.envelopes.count].utf8))
            case 1: member = (0..<Int.random(in: 0...64, using: &input)).map { _ in UInt8.random(in: 0...255, using: &input) }
            default: member = Array(input.string(maxPieces: 12).utf8)
            }
            let score = Self.scores[round % Self.scores.count]
            let unit = ScoreUnit.allCases[round % ScoreUnit.allCases.count]
            member.withUnsafeBytes { raw in
                ArchiveMember.read(raw, score: score, unit: unit, channel: channel, scratch: &scratch) { view in
                    out.removeAll(keepingCapacity: true)
                    formatters[round % formatters.count].append(view, to: &out)
                }
            }
            let entry = ArchiveEntry(member: member, score: score, unit: unit, channel: channel)
            XCTAssertTrue(entry.id == nil || !member.isEmpty)
        }
    }
}
