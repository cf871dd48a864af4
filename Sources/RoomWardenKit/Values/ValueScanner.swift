/// Reads the plain decimal numbers and unit words that durations, sizes,
/// counts and times are made of, on the text's bytes. Accepts only what a
/// person types (`12`, `1.5`, `.5`): no sign, exponent, `inf`, `nan` or hex
/// float, so nothing reaches a conversion that could trap.
struct ValueScanner {
    let bytes: [UInt8]
    var index = 0

    /// The text with surrounding spaces dropped.
    init(_ text: String) {
        var b = Array(text.utf8)[...]
        while let f = b.first, f == 0x20 || f == 0x09 { b = b.dropFirst() }
        while let l = b.last, l == 0x20 || l == 0x09 { b = b.dropLast() }
        bytes = Array(b)
    }

    var atEnd: Bool { index == bytes.count }
    var isEmpty: Bool { bytes.isEmpty }

    /// The next byte, if any.
    var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    /// Consumes `byte` if it is next.
    mutating func skip(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        index += 1
        return true
    }

    /// A decimal number: digits with an optional fraction. nil (nothing
    /// consumed) when no digit is there. Very long numbers come out as large
    /// finite values for the caller's range check, never as infinity.
    mutating func decimal() -> Double? {
        let start = index
        var value = 0.0
        var digits = 0
        while let b = peek, b >= 0x30, b <= 0x39 {
            if value < 1e300 { value = value * 10 + Double(b - 0x30) }
            digits += 1
            index += 1
        }
        if peek == UInt8(ascii: ".") {
            index += 1
            // The fraction's first 15 digits as an integer, divided once:
            // "1795300045.123" is 1795300045123 ms, not a hair below.
            var fraction = 0.0
            var scale = 1.0
            while let b = peek, b >= 0x30, b <= 0x39 {
                if scale < 1e15 {
                    fraction = fraction * 10 + Double(b - 0x30)
                    scale *= 10
                }
                digits += 1
                index += 1
            }
            value += fraction / scale
        }
        guard digits > 0 else { index = start; return nil }
        return value
    }

    /// Consecutive ASCII letters, lowercased.
    mutating func word() -> String {
        var out: [UInt8] = []
        while let b = peek, (b | 0x20) >= 0x61, (b | 0x20) <= 0x7A {
            out.append(b | 0x20)
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}
