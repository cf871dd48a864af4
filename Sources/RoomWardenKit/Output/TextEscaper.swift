#if canImport(Glibc)
import Glibc
#endif

/// Makes any bytes safe for a terminal, one message to one line: control
/// characters, ESC, DEL, C1 controls, invalid UTF-8, bidi controls and line
/// separators are shown escaped; a backslash doubles.
public enum TextEscaper {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// `doublingBackslash` false keeps a backslash as it is (error lines:
    /// what a user typed, and advice such as `write \\( for a parenthesis`,
    /// must read as typed; controls are still escaped).
    public static func append(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8], doublingBackslash: Bool = true) {
        var i = 0
        let n = bytes.count
        while i < n {
            // A run of printable ASCII is copied whole.
            var j = i
            while j < n, bytes[j] >= 0x20, bytes[j] < 0x7F, bytes[j] != 0x5C { j += 1 }
            if j > i {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<j]))
                i = j
                if i >= n { break }
            }
            let b = bytes[i]
            if b < 0x80 {
                switch b {
                case 0x5C: out.append(0x5C); if doublingBackslash { out.append(0x5C) }
                case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
                case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
                case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
                default: appendHexByte(b, to: &out)  // other C0 controls, ESC, DEL
                }
                i += 1
                continue
            }
            let len = UTF8Check.sequenceLength(bytes, at: i)
            if len == 0 {
                appendHexByte(b, to: &out)
                i += 1
                continue
            }
            let scalar = decodeScalar(bytes, i, len)
            if isUnsafe(scalar) {
                out.append(contentsOf: Array("\\u{\(String(scalar, radix: 16))}".utf8))
            } else {
                for k in 0..<len { out.append(bytes[i + k]) }
            }
            i += len
        }
    }

    /// Same, for an array.
    public static func append(_ bytes: [UInt8], to out: inout [UInt8], doublingBackslash: Bool = true) {
        bytes.withUnsafeBytes { append($0, to: &out, doublingBackslash: doublingBackslash) }
    }

    private static func appendHexByte(_ b: UInt8, to out: inout [UInt8]) {
        out.append(0x5C); out.append(UInt8(ascii: "x"))
        out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 0xF)])
    }

    private static func decodeScalar(_ p: UnsafeRawBufferPointer, _ i: Int, _ len: Int) -> UInt32 {
        switch len {
        case 2: return UInt32(p[i] & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F)
        case 3: return UInt32(p[i] & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F)
        default: return UInt32(p[i] & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6 | UInt32(p[i + 3] & 0x3F)
        }
    }

    /// C1 controls, bidi embeddings/overrides/isolates and marks, line and
    /// paragraph separators, the BOM/zero-width no-break space.
    private static func isUnsafe(_ s: UInt32) -> Bool {
        switch s {
        case 0x80...0x9F, 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069, 0xFEFF: return true
        default: return false
        }
    }
}
