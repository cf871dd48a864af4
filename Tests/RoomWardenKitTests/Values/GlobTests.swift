import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// Channel globs, matched by Redis' rules: the server itself is the oracle.
final class GlobTests: XCTestCase {
    func testGlobFollowsRedisRules() {
        let cases: [(String, String, Bool)] = [
            ("room:*", "room:lobby", true), ("room:*", "room:", true), ("room:*", "roomx", false),
            ("room:?", "room:a", true), ("room:?", "room:ab", false), ("room:[ab]*", "room:b1", true),
            ("room:[^ab]*", "room:b1", false), ("room:[a-c]", "room:b", true), ("room:\\*", "room:*", true),
            ("room:\\*", "room:x", false), ("a*b*c", "axxbyyc", true), ("a*b*c", "axxbyy", false),
            // stringmatchlen's corners, each checked against redis-server 7.0.
            ("*", "", false),                              // pub/sub: a lone * needs a byte
            ("room:[a-]", "room:_", true),                 // the range a..] swapped: ] ^ _ ` a
            ("room:[a-]", "room:-", false),
            ("room:[a-]", "room:]", true),
            ("room:[c-a]", "room:b", true),                // reversed ranges are swapped
            ("room:[^a-c]", "room:d", true), ("room:[^a-c]", "room:b", false),
            ("room:[\\]]", "room:]", true),                // \ escapes inside a class
            ("room:[ab", "room:a", true),                  // unterminated: ends the pattern
            ("room:[ab", "room:ab", false),
            ("room:[^", "room:x", true),                   // [^ at the end matches any byte
            ("room:[]", "room:]", false),                  // [] is an empty class
            ("room\\", "room\\", true),                    // a trailing \ is literal
            ("a**", "a", true), ("a*[", "a", false),
        ]
        for (pattern, text, expected) in cases {
            XCTAssertEqual(Glob(pattern).matches(Array(text.utf8)), expected, "\(pattern) ~ \(text)")
        }
        // Range bounds compare as signed chars: 0xff sorts below 'a'.
        // [a-\xff] is the range -1...97 (signed): \xff, A, _, ] and - are in it; \x80 and b are not.
        let signedRange = Glob([0x5B, 0x61, 0x2D, 0xFF, 0x5D])
        for (byte, inside) in [(0xFF, true), (0x41, true), (0x5F, true), (0x2D, true), (0x80, false), (0x62, false)] as [(UInt8, Bool)] {
            XCTAssertEqual(signedRange.matches([byte]), inside, "[a-\\xff] ~ \(byte)")
        }
    }

    /// Backtracking used to take 10 s for this on the printing thread.
    func testManyStarsTakeLinearishTime() {
        let started = Date()
        let name = [UInt8](repeating: UInt8(ascii: "a"), count: 50)
        XCTAssertFalse(Glob("*a*a*a*a*a*a*a*a*b").matches(name))
        XCTAssertFalse(Glob(String(repeating: "*a", count: 40) + "*b").matches([UInt8](repeating: UInt8(ascii: "a"), count: 4000)))
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.0)
    }

    /// Thousands of random patterns against hundreds of random names, the
    /// server's KEYS (the same stringmatchlen as PSUBSCRIBE) as the oracle.
    func testAgreesWithTheServerOnRandomPatterns() throws {
        let server = try RedisServer()
        let c = try server.connect()
        let seed = UInt64(Date().timeIntervalSince1970 * 1000)
        var rng = FuzzInput(seed: seed)
        let alphabet: [UInt8] = Array("ab-c]^[\\*?_".utf8) + [0x80, 0xFF, 0x00]
        func random(_ maxLength: Int, weightSpecial: Bool) -> [UInt8] {
            let n = Int(rng.next() % UInt64(maxLength + 1))
            return (0..<n).map { _ in
                // Names lean on plain letters; patterns on the special bytes.
                let pool = weightSpecial || rng.next() % 3 == 0 ? alphabet : Array("abc-_]".utf8)
                return pool[Int(rng.next() % UInt64(pool.count))]
            }
        }
        var names = Set<[UInt8]>()
        while names.count < 400 {
            let n = random(7, weightSpecial: false)
            if !n.isEmpty { names.insert(n) }  // KEYS special-cases "*" with the empty key
        }
        var batch = CommandBatch()
        for n in names { batch.add([Array("SET".utf8), n, Array("1".utf8)]) }
        try c.append(batch)
        XCTAssertTrue(try c.readReplies(batch.count).allSatisfy { $0 == .status("OK") })

        var patterns: [[UInt8]] = []
        while patterns.count < 4000 {
            let p = random(8, weightSpecial: true)
            if p != Array("*".utf8) { patterns.append(p) }
        }
        var disagreements: [String] = []
        for chunk in stride(from: 0, to: patterns.count, by: 500) {
            let part = patterns[chunk..<min(chunk + 500, patterns.count)]
            var keys = CommandBatch()
            for p in part { keys.add([Array("KEYS".utf8), p]) }
            try c.append(keys)
            for (p, reply) in zip(part, try c.readReplies(part.count)) {
                let server = Set(reply.elements?.compactMap { $0.bytes } ?? [])
                let ours = Set(names.filter { Glob(p).matches($0) })
                if server != ours {
                    let show = { (b: [UInt8]) in String(decoding: b, as: UTF8.self).debugDescription }
                    let only = server.symmetricDifference(ours).first.map(show) ?? ""
                    disagreements.append("\(show(p)): server \(server.count), ours \(ours.count), e.g. \(only)")
                }
            }
        }
        XCTAssertEqual(disagreements, [], "seed \(seed)")
    }
}
