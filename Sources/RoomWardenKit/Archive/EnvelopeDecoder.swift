#if canImport(Glibc)
import Glibc
#endif

/// Where an envelope's fields are: byte ranges of the member, or of the
/// scratch buffer for strings that had escapes.
struct EnvelopeFields {
    struct Field {
        var start: Int
        var count: Int
        var unescaped: Bool
    }

    var ts: Int64?
    var channel: Field?
    var id: Field?
    var from: Field?
    var message: Field?
    var base64: Field?

    func view(_ f: Field, _ member: UnsafeRawBufferPointer, _ text: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: (f.unescaped ? text : member)[f.start..<(f.start + f.count)])
    }

    func view(_ f: Field, _ member: UnsafeRawBufferPointer, _ text: [UInt8]) -> [UInt8] {
        f.unescaped ? Array(text[f.start..<(f.start + f.count)]) : Array(member[f.start..<(f.start + f.count)])
    }
}

/// Reads the flat JSON object of an envelope straight from bytes. Returns
/// nil for anything that is not an envelope (then the member is a raw
/// payload): not an object, no numeric `ts`, or neither `message` nor
/// `message_base64`.
enum EnvelopeDecoder {
    static func decode(_ p: UnsafeRawBufferPointer, text: inout [UInt8]) -> EnvelopeFields? {
        var end = p.count
        while end > 0, isSpace(p[end - 1]) { end -= 1 }
        var i = 0
        skipSpace(p, &i, end)
        guard i < end, end > 0, p[i] == UInt8(ascii: "{"), p[end - 1] == UInt8(ascii: "}") else { return nil }
        i += 1
        var f = EnvelopeFields()
        skipSpace(p, &i, end)
        if i < end, p[i] == UInt8(ascii: "}") { return nil }
        var closed = false
        while i < end {
            skipSpace(p, &i, end)
            guard let key = string(p, &i, end, text: &text) else { return nil }
            skipSpace(p, &i, end)
            guard i < end, p[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            skipSpace(p, &i, end)
            guard i < end else { return nil }
            let keyBytes = key.unescaped ? nil : UnsafeRawBufferPointer(rebasing: p[key.start..<(key.start + key.count)])
            if p[i] == UInt8(ascii: "\"") {
                guard let value = string(p, &i, end, text: &text) else { return nil }
                if let k = keyBytes {
                    if equal(k, "message") { f.message = value }
                    else if equal(k, "message_base64") { f.base64 = value }
                    else if equal(k, "channel") { f.channel = value }
                    else if equal(k, "id") { f.id = value }
                    else if equal(k, "from") { f.from = value }
                }
            } else if let k = keyBytes, equal(k, "ts") {
                guard let v = timestamp(p, &i, end) else { return nil }
                f.ts = v
            } else {
                guard skipValue(p, &i, end, text: &text) else { return nil }
            }
            skipSpace(p, &i, end)
            guard i < end else { return nil }
            if p[i] == UInt8(ascii: ",") { i += 1; continue }
            if p[i] == UInt8(ascii: "}") { i += 1; closed = true; break }
            return nil
        }
        skipSpace(p, &i, end)
        guard closed, i == end, f.ts != nil, f.message != nil || f.base64 != nil else { return nil }
        return f
    }

    @inline(__always)
    private static func equal(_ a: UnsafeRawBufferPointer, _ b: StaticString) -> Bool {
        a.count == b.utf8CodeUnitCount && memcmp(a.baseAddress!, b.utf8Start, a.count) == 0
    }

    @inline(__always)
    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    private static func skipSpace(_ p: UnsafeRawBufferPointer, _ i: inout Int, _ end: Int) {
        while i < end, isSpace(p[i]) { i += 1 }
    }

    /// The `ts` number at `i`, in Unix ms. An integer is milliseconds (up to
    /// 18 digits); a number with a fraction or exponent (`1763762245.123`,
    /// what Python's `time.time()` gives) is read as a score is with
    /// `--score-unit auto`: below 1e11 seconds, otherwise milliseconds. nil
    /// for anything else, or a time beyond ±1e18 ms.
    private static func timestamp(_ p: UnsafeRawBufferPointer, _ i: inout Int, _ end: Int) -> Int64? {
        let start = i
        var negative = false
        if i < end, p[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        var v: Int64 = 0
        var digits = 0
        while i < end, p[i] >= 0x30, p[i] <= 0x39 {
            if digits < 18 { v = v * 10 + Int64(p[i] - 0x30) }
            digits += 1
            i += 1
        }
        guard digits > 0 else { return nil }
        let isInteger = i == end || (p[i] != UInt8(ascii: ".") && p[i] != UInt8(ascii: "e") && p[i] != UInt8(ascii: "E"))
        if isInteger { return digits <= 18 ? (negative ? -v : v) : nil }
        // JSON's fraction and exponent, checked before Double reads them.
        if p[i] == UInt8(ascii: ".") {
            i += 1
            let from = i
            while i < end, p[i] >= 0x30, p[i] <= 0x39 { i += 1 }
            guard i > from else { return nil }
        }
        if i < end, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
            i += 1
            if i < end, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
            let from = i
            while i < end, p[i] >= 0x30, p[i] <= 0x39 { i += 1 }
            guard i > from else { return nil }
        }
        guard i - start <= 64, let number = Double(String(decoding: UnsafeRawBufferPointer(rebasing: p[start..<i]), as: UTF8.self)),
              number.isFinite else { return nil }
        let ms = (number < 1e11 ? number * 1000 : number).rounded()
        guard ms.magnitude <= 1e18 else { return nil }
        return Int64(ms)
    }

    /// A JSON string at `i` (its opening quote): where its bytes are,
    /// unescaped into `text` if it had escapes.
    private static func string(_ p: UnsafeRawBufferPointer, _ i: inout Int, _ end: Int, text: inout [UInt8]) -> EnvelopeFields.Field? {
        guard i < end, p[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        let start = i
        while i + 8 <= end {
            let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            if SWAR.hasByte(w, 0x22) || SWAR.hasByte(w, 0x5C) { break }
            i += 8
        }
        while i < end, p[i] != UInt8(ascii: "\""), p[i] != UInt8(ascii: "\\") { i += 1 }
        guard i < end else { return nil }
        if p[i] == UInt8(ascii: "\"") {
            i += 1
            return .init(start: start, count: i - 1 - start, unescaped: false)
        }
        let outStart = text.count
        text.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[start..<i]))
        while i < end {
            let c = p[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return .init(start: outStart, count: text.count - outStart, unescaped: true)
            }
            if c != UInt8(ascii: "\\") { text.append(c); i += 1; continue }
            guard i + 1 < end else { return nil }
            let e = p[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""): text.append(0x22)
            case UInt8(ascii: "\\"): text.append(0x5C)
            case UInt8(ascii: "/"): text.append(0x2F)
            case UInt8(ascii: "b"): text.append(0x08)
            case UInt8(ascii: "f"): text.append(0x0C)
            case UInt8(ascii: "n"): text.append(0x0A)
            case UInt8(ascii: "r"): text.append(0x0D)
            case UInt8(ascii: "t"): text.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(p, i, end) else { return nil }
                i += 4
                if (0xD800...0xDBFF).contains(scalar), i + 6 <= end, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u"),
                   let low = hex4(p, i + 2, end), (0xDC00...0xDFFF).contains(low) {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                appendUTF8(Unicode.Scalar(scalar) ?? "\u{FFFD}", to: &text)
            default: return nil
            }
        }
        return nil
    }

    private static func appendUTF8(_ u: Unicode.Scalar, to out: inout [UInt8]) {
        let v = u.value
        switch v {
        case 0..<0x80: out.append(UInt8(v))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | v >> 6)); out.append(UInt8(0x80 | v & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | v >> 12)); out.append(UInt8(0x80 | v >> 6 & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
        default:
            out.append(UInt8(0xF0 | v >> 18)); out.append(UInt8(0x80 | v >> 12 & 0x3F))
            out.append(UInt8(0x80 | v >> 6 & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
        }
    }

    private static func hex4(_ p: UnsafeRawBufferPointer, _ i: Int, _ end: Int) -> UInt32? {
        guard i + 4 <= end else { return nil }
        var v: UInt32 = 0
        for k in i..<(i + 4) {
            let c = p[k]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }

    /// Skips any JSON value (nested ones included).
    private static func skipValue(_ p: UnsafeRawBufferPointer, _ i: inout Int, _ end: Int, text: inout [UInt8]) -> Bool {
        guard i < end else { return false }
        switch p[i] {
        case UInt8(ascii: "\""):
            return string(p, &i, end, text: &text) != nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while i < end {
                let c = p[i]
                if c == UInt8(ascii: "\"") { guard string(p, &i, end, text: &text) != nil else { return false }; continue }
                if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") { depth += 1 }
                if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                    depth -= 1
                    if depth == 0 { i += 1; return true }
                }
                i += 1
            }
            return false
        default:
            let start = i
            while i < end, p[i] != UInt8(ascii: ","), p[i] != UInt8(ascii: "}"), !isSpace(p[i]) { i += 1 }
            return i > start
        }
    }
}
