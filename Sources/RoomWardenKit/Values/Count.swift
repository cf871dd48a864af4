/// A number of messages or rooms (`--count`, `--last`, `--limit`, `--top`,
/// `--max-len`): a whole number from 1 to 10^15, range-checked here, once,
/// so that arithmetic on it (a rank of -(N+1), a page end) cannot overflow.
public struct Count: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The number, 1 ... `Count.largest.value`.
    public let value: Int

    /// The largest count accepted: 10^15.
    public static let largest = Count(unchecked: 1_000_000_000_000_000)

    private init(unchecked value: Int) { self.value = value }

    /// A count of `value`; nil outside 1 ... 10^15.
    public init?(_ value: Int) {
        guard value >= 1, value <= Count.largest.value else { return nil }
        self.value = value
    }

    /// Parses a count; says what is wrong otherwise.
    public init(parsing text: String) throws(ValueError) {
        let t = ValueScanner(text).bytes
        guard !t.isEmpty, t.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            throw ValueError(t.first == UInt8(ascii: "-") ? "must be at least 1" : "not a whole number: use e.g. 10")
        }
        let digits = String(decoding: t.drop { $0 == 0x30 }, as: UTF8.self)  // leading zeros
        guard digits.utf8.count <= 16, let v = digits.isEmpty ? 0 : Int(digits), v <= Count.largest.value else {
            throw ValueError("too large: a count is at most 1000000000000000 (10^15)")
        }
        guard v >= 1 else { throw ValueError("must be at least 1") }
        value = v
    }

    public var description: String { String(value) }

    public static func < (a: Count, b: Count) -> Bool { a.value < b.value }
}
