/// A size as users type it: `256MB`, `64k`, `1G`, `512KiB`, `1.5g`, or plain
/// bytes. K, M, G and T are powers of 1024 (as in Redis' own config), with
/// or without `B`/`iB`. From 0 to 1TB: range-checked here, once.
public struct ByteCount: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The size in bytes, 0 ... `ByteCount.largest.bytes`.
    public let bytes: Int

    /// The largest size accepted: 1TB.
    public static let largest = ByteCount(unchecked: 1 << 40)

    private init(unchecked bytes: Int) { self.bytes = bytes }

    /// `n` megabytes (MiB), held within 0 ... 1TB.
    public static func megabytes(_ n: Int) -> ByteCount {
        ByteCount(unchecked: min(max(n, 0), largest.bytes >> 20) << 20)
    }

    /// A count of `bytes`; nil outside 0 ... 1TB.
    public init?(bytes: Int) {
        guard bytes >= 0, bytes <= ByteCount.largest.bytes else { return nil }
        self.bytes = bytes
    }

    /// Parses a size; says what is wrong otherwise.
    public init(parsing text: String) throws(ValueError) {
        var scanner = ValueScanner(text)
        let value = scanner.decimal()
        let scale: Double
        switch scanner.word() {
        case "", "b": scale = 1
        case "k", "kb", "kib": scale = 1024
        case "m", "mb", "mib": scale = 1024 * 1024
        case "g", "gb", "gib": scale = 1024 * 1024 * 1024
        case "t", "tb", "tib": scale = 1024 * 1024 * 1024 * 1024
        default: throw ValueError("not a size: use e.g. 512KB, 64MB, 1G")
        }
        guard let value, scanner.atEnd else { throw ValueError("not a size: use e.g. 512KB, 64MB, 1G") }
        guard value * scale <= Double(ByteCount.largest.bytes) else {
            throw ValueError("too large: a size is at most 1TB")
        }
        bytes = Int(value * scale)
    }

    /// The size as it would be typed: `256MB`, `1GB`, `1000`.
    public var description: String {
        for (unit, shift) in [("TB", 40), ("GB", 30), ("MB", 20), ("KB", 10)] where bytes > 0 && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return String(bytes)
    }

    public static func < (a: ByteCount, b: ByteCount) -> Bool { a.bytes < b.bytes }
}
