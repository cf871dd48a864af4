#if canImport(Glibc)
import Glibc
#endif

/// Makes message ids that are unique across processes and within one:
/// `<ms>-<random tag>-<sequence>`. The sequence is zero-padded so that
/// envelopes of one publisher stamped in the same millisecond sort (as
/// sorted-set members of equal score do, by bytes) in publishing order.
public struct MessageIDs: Sendable {
    private let tag: String
    private let tagBytes: [UInt8]
    private var sequence: UInt64 = 0

    public init() {
        var rng = SystemRandomNumberGenerator()
        let r = rng.next() & 0xFFFF_FFFF_FFFF
        let hex = String(r, radix: 16)
        tag = String(repeating: "0", count: max(0, 12 - hex.count)) + hex
        tagBytes = Array(tag.utf8)
    }

    /// The next id for a message stamped `ts`.
    public mutating func next(ts: Int64) -> String {
        var out: [UInt8] = []
        append(ts: ts, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the next id for a message stamped `ts`, as bytes.
    public mutating func append(ts: Int64, to out: inout [UInt8]) {
        sequence += 1
        JSONText.appendInteger(ts, to: &out)
        out.append(UInt8(ascii: "-"))
        out.append(contentsOf: tagBytes)
        out.append(UInt8(ascii: "-"))
        var digits: (UInt64, UInt64) = (0, 0)  // 12 zero-padded digits
        var v = sequence
        withUnsafeMutableBytes(of: &digits) { d in
            for i in stride(from: 11, through: 0, by: -1) {
                d[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[0..<12]))
        }
    }
}
