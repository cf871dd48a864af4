/// Tests on eight bytes at once (SIMD within a register).
@usableFromInline
enum SWAR {
    @usableFromInline static let ones: UInt64 = 0x0101_0101_0101_0101
    @usableFromInline static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Some byte of `x` equals `byte`.
    @inline(__always) @usableFromInline
    static func hasByte(_ x: UInt64, _ byte: UInt8) -> Bool {
        let y = x ^ (ones &* UInt64(byte))
        return (y &- ones) & ~y & highs != 0
    }

    /// Some byte of `x` is below `n` (n <= 128).
    @inline(__always) @usableFromInline
    static func hasLess(_ x: UInt64, _ n: UInt8) -> Bool {
        (x &- ones &* UInt64(n)) & ~x & highs != 0
    }

    /// Some byte needs escaping in a JSON string: a control, `"` or `\`.
    @inline(__always) @usableFromInline
    static func needsJSONEscape(_ x: UInt64) -> Bool {
        hasLess(x, 0x20) || hasByte(x, 0x22) || hasByte(x, 0x5C) || hasByte(x, 0x7F) || hasByte(x, 0xC2)
    }
}

/// UTF-8 validation on bytes, with an ASCII fast path.
public enum UTF8Check {
    /// True if `bytes` is well-formed UTF-8 (no overlongs, no surrogates).
    public static func isValid<C: Collection>(_ bytes: C) -> Bool where C.Element == UInt8 {
        if let fast = bytes.withContiguousStorageIfAvailable({ isValid(buffer: UnsafeRawBufferPointer($0)) }) {
            return fast
        }
        // The copy's bytes live only inside the closure: check them there.
        return Array(bytes).withUnsafeBytes { isValid(buffer: $0) }
    }

    /// Length of the valid UTF-8 sequence starting at `i`, or 0 if invalid.
    @inlinable
    public static func sequenceLength(_ p: UnsafeRawBufferPointer, at i: Int) -> Int {
        let b0 = p[i]
        let n = p.count
        if b0 < 0x80 { return 1 }
        if b0 >= 0xC2 && b0 <= 0xDF {
            return i + 1 < n && p[i + 1] & 0xC0 == 0x80 ? 2 : 0
        }
        if b0 >= 0xE0 && b0 <= 0xEF {
            guard i + 2 < n else { return 0 }
            let b1 = p[i + 1], b2 = p[i + 2]
            guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80 else { return 0 }
            if b0 == 0xE0 && b1 < 0xA0 { return 0 }  // overlong
            if b0 == 0xED && b1 >= 0xA0 { return 0 }  // surrogate
            return 3
        }
        if b0 >= 0xF0 && b0 <= 0xF4 {
            guard i + 3 < n else { return 0 }
            let b1 = p[i + 1], b2 = p[i + 2], b3 = p[i + 3]
            guard b1 & 0xC0 == 0x80, b2 & 0xC0 == 0x80, b3 & 0xC0 == 0x80 else { return 0 }
            if b0 == 0xF0 && b1 < 0x90 { return 0 }
            if b0 == 0xF4 && b1 >= 0x90 { return 0 }
            return 4
        }
        return 0
    }

    public static func isValid(buffer p: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = p.count
        while i < n {
            // Eight ASCII bytes at a time.
            while i + 8 <= n, p.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                i += 8
            }
            if i >= n { break }
            let len = sequenceLength(p, at: i)
            if len == 0 { return false }
            i += len
        }
        return true
    }
}
