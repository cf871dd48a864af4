#if canImport(Glibc)
import Glibc
#endif

/// ANSI colours for text output on a terminal.
enum Colour {
    static let dim: [UInt8] = Array("\u{1B}[2m".utf8)
    static let reset: [UInt8] = Array("\u{1B}[0m".utf8)
    private static let palette: [[UInt8]] = [31, 32, 33, 34, 35, 36].map { Array("\u{1B}[\($0)m".utf8) }

    /// One colour per channel, the same every run.
    static func forChannel(_ channel: UnsafeRawBufferPointer) -> [UInt8] {
        var h: UInt32 = 2_166_136_261
        for b in channel { h = (h ^ UInt32(b)) &* 16_777_619 }
        return palette[Int(h % UInt32(palette.count))]
    }
}
