/// Writing JSON and checking UTF-8 straight on bytes: the output hot path.
public enum JSONText {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `bytes` (valid UTF-8) as a JSON string, quotes included.
    @inlinable
    public static func appendString<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        if bytes.withContiguousStorageIfAvailable({ appendString(raw: UnsafeRawBufferPointer($0), to: &out) }) == nil {
            Array(bytes).withUnsafeBytes { appendString(raw: $0, to: &out) }
        }
    }

    /// Appends `bytes` (valid UTF-8) as a JSON string: runs of bytes that
    /// need no escape are copied whole. Besides what JSON requires, DEL and
    /// the C1 controls (U+0080-U+009F: CSI among them) are escaped, so that
    /// JSON read on a terminal cannot drive it.
    public static func appendString(raw bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var i = 0
        let n = bytes.count
        while i < n {
            // Eight bytes at a time while none needs an escape.
            while i + 8 <= n, !SWAR.needsJSONEscape(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { i += 8 }
            if i >= n { break }
            let b = bytes[i]
            // A C1 control is C2 80 to C2 9F; its code point is the second byte.
            let c1 = b == 0xC2 && i + 1 < n && bytes[i + 1] & 0xE0 == 0x80
            if b >= 0x20 && b != 0x22 && b != 0x5C && b != 0x7F && !c1 {
                i += 1
                continue
            }
            if runStart < i { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<i])) }
            appendEscape(c1 ? bytes[i + 1] : b, to: &out)
            i += c1 ? 2 : 1
            runStart = i
        }
        if runStart < n { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<n])) }
        out.append(UInt8(ascii: "\""))
    }

    @usableFromInline
    static func appendEscape(_ b: UInt8, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\\"))
        switch b {
        case 0x22: out.append(0x22)
        case 0x5C: out.append(0x5C)
        case 0x0A: out.append(UInt8(ascii: "n"))
        case 0x0D: out.append(UInt8(ascii: "r"))
        case 0x09: out.append(UInt8(ascii: "t"))
        case 0x08: out.append(UInt8(ascii: "b"))
        case 0x0C: out.append(UInt8(ascii: "f"))
        default:
            out.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
        }
    }

    /// Appends any bytes as a JSON string: invalid UTF-8 becomes U+FFFD.
    @inlinable
    public static func appendLossyString<C: Collection>(_ bytes: C, to out: inout [UInt8]) where C.Element == UInt8 {
        if bytes.withContiguousStorageIfAvailable({ appendLossyString(raw: UnsafeRawBufferPointer($0), to: &out) }) == nil {
            Array(bytes).withUnsafeBytes { appendLossyString(raw: $0, to: &out) }
        }
    }

    /// Appends any bytes as a JSON string: invalid UTF-8 becomes U+FFFD.
    public static func appendLossyString(raw bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        if UTF8Check.isValid(buffer: bytes) {
            appendString(raw: bytes, to: &out)
        } else {
            var text = String(decoding: bytes, as: UTF8.self)
            text.withUTF8 { appendString(raw: UnsafeRawBufferPointer($0), to: &out) }
        }
    }

    /// Appends a channel name as a JSON string and, when it is not valid
    /// UTF-8, `,"channel_base64":"..."` after it (the string then has U+FFFD
    /// in place of the bad bytes): the name's bytes are never lost.
    public static func appendChannel(raw bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        if UTF8Check.isValid(buffer: bytes) {
            appendString(raw: bytes, to: &out)
            return
        }
        appendLossyString(raw: bytes, to: &out)
        out.append(contentsOf: #","channel_base64":""#.utf8)
        appendBase64(Array(bytes), to: &out)
        out.append(UInt8(ascii: "\""))
    }

    /// Appends a channel name (see `appendChannel(raw:to:)`).
    public static func appendChannel(_ bytes: [UInt8], to out: inout [UInt8]) {
        bytes.withUnsafeBytes { appendChannel(raw: $0, to: &out) }
    }

    /// Appends a JSON key with its colon: `"key":`.
    @inlinable
    public static func appendKey(_ key: StaticString, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    /// Appends a decimal integer.
    @inlinable
    public static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value >= 0 && value < 10 { out.append(UInt8(value) + 0x30); return }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var v = value.magnitude
        withUnsafeMutableBytes(of: &digits) { d in
            var i = d.count
            while v > 0 {
                i -= 1
                d[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
            }
            if value < 0 {
                i -= 1
                d[i] = UInt8(ascii: "-")
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[i...]))
        }
    }

    /// Base64 of any bytes (standard alphabet, padded).
    public static func appendBase64(_ bytes: [UInt8], to out: inout [UInt8]) {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var i = 0
        out.reserveCapacity(out.count + (bytes.count + 2) / 3 * 4)
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(table[Int(n >> 18 & 63)]); out.append(table[Int(n >> 12 & 63)])
            out.append(table[Int(n >> 6 & 63)]); out.append(table[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            var n = UInt32(bytes[i]) << 16
            if rest == 2 { n |= UInt32(bytes[i + 1]) << 8 }
            out.append(table[Int(n >> 18 & 63)]); out.append(table[Int(n >> 12 & 63)])
            out.append(rest == 2 ? table[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
    }

    /// Decodes standard base64; nil if it is not base64.
    public static func decodeBase64<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var acc: UInt32 = 0
        var bits = 0
        for c in text {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - 65)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - 97 + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - 48 + 52)
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="): continue
            default: return nil
            }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        return out
    }
}
