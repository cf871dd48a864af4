import Foundation
import RedisFixture

/// Reproducible random and extreme inputs for the fuzz tests, drawn from
/// a `SeededRandom`, so a failure names a seed that replays it.
struct FuzzInput: RandomNumberGenerator {
    private var random: SeededRandom

    init(seed: UInt64) { random = SeededRandom(seed: seed) }

    mutating func next() -> UInt64 { random.next() }

    /// Pieces values are made of, the extremes included.
    static let pieces: [String] = [
        "0", "1", "5", "9", ".", "..", "-", "+", "e", "E", "e308", "e-400", "@", ":", "T", "t", " ", "Z", "z", "/", "?", "&",
        "=", "#", "[", "]", "*", "{", "}", ",", "ms", "s", "m", "h", "d", "w", "k", "kb", "KiB", "M", "MB", "G", "GB", "T",
        "TB", "b", "now", "inf", "-inf", "nan", "NaN", "0x1p3", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "18446744073709551615", "99999999999999999999", "1e18", "1e300", "-9.3e15", "1.5",
        "2026", "-11-", "2026-11-21", "T10:00:00", "+01:00", "-04:30", "9999-12-31", "0000-01-01", "23:59:60", "25:61",
        "redis://", "unix://", "rediss://", "user:", "pa/ss", "@", "[::1]", "127.0.0.1", ":6379", ":70000", "/3",
        "?db=", "password=", "sentinel_password=", "%", "%4", "%zz", "é", "😀", "\u{202E}", "\u{0}", "\n", "\t",
        String(repeating: "9", count: 400), String(repeating: "1h", count: 50), String(repeating: "(", count: 100),
    ]

    /// A string of 0 ... `maxPieces` random pieces, or random scalars.
    mutating func string(maxPieces: Int = 8) -> String {
        if Int.random(in: 0..<8, using: &self) == 0 {
            let count = Int.random(in: 0...24, using: &self)
            return String(String.UnicodeScalarView((0..<count).compactMap { _ in
                Unicode.Scalar(UInt32.random(in: 0...0x7F, using: &self) | (Bool.random(using: &self) ? 0 : UInt32.random(in: 0...0x2FFF, using: &self)))
            }))
        }
        let n = Int.random(in: 0...maxPieces, using: &self)
        return (0..<n).map { _ in FuzzInput.pieces[Int.random(in: 0..<FuzzInput.pieces.count, using: &self)] }.joined()
    }

    /// `base` with a few random byte edits: replaced, inserted, deleted,
    /// or a piece spliced in.
    mutating func mutated(_ base: [UInt8]) -> [UInt8] {
        var b = base
        for _ in 0..<Int.random(in: 1...4, using: &self) {
            let at = b.isEmpty ? 0 : Int.random(in: 0..<b.count, using: &self)
            switch Int.random(in: 0..<4, using: &self) {
            case 0 where !b.isEmpty: b[at] = UInt8.random(in: 0...255, using: &self)
            case 1: b.insert(UInt8.random(in: 0...255, using: &self), at: at)
            case 2 where !b.isEmpty: b.remove(at: at)
            default: b.insert(contentsOf: Array(FuzzInput.pieces[Int.random(in: 0..<FuzzInput.pieces.count, using: &self)].utf8), at: at)
            }
        }
        return b
    }
}
