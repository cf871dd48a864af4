#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// A ZRANGE ... WITHSCORES page packed into one buffer: members and scores
/// back to back, one allocation per page instead of per entry.
struct PackedPage {
    private var bytes: [UInt8] = []
    /// Per entry: member start, member length, score start, score length.
    private var offsets: [Int] = []
    private var scores: [Double] = []
    private var pendingMember: (Int, Int)?

    var count: Int { scores.count }
    /// The bytes of its members and scores.
    var byteCount: Int { bytes.count }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        scores.removeAll(keepingCapacity: true)
        pendingMember = nil
    }

    /// Takes the reply's elements in order: member, score, member, score...
    mutating func append(_ element: UnsafeRawBufferPointer?) {
        guard let element else { return }
        let start = bytes.count
        bytes.append(contentsOf: element)
        if let (ms, ml) = pendingMember {
            offsets.append(ms); offsets.append(ml); offsets.append(start); offsets.append(element.count)
            scores.append(PackedPage.parseScore(element))
            pendingMember = nil
        } else {
            pendingMember = (start, element.count)
        }
    }

    func score(_ i: Int) -> Double { scores[i] }

    func withMember<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws(RoomWardenError) -> R) throws(RoomWardenError) -> R {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(RoomWardenError) -> R in
                try body(UnsafeRawBufferPointer(rebasing: raw[offsets[4 * i]..<(offsets[4 * i] + offsets[4 * i + 1])]))
            }
        }
        return try result.get()
    }

    func withScoreText(_ i: Int, _ body: (UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeBytes { raw in
            body(UnsafeRawBufferPointer(rebasing: raw[offsets[4 * i + 2]..<(offsets[4 * i + 2] + offsets[4 * i + 3])]))
        }
    }

    /// Integers (the usual ms scores) directly; anything else by strtod.
    static func parseScore(_ text: UnsafeRawBufferPointer) -> Double {
        var v: Int64 = 0
        var i = 0
        let negative = text.first == UInt8(ascii: "-")
        if negative { i = 1 }
        var integral = text.count > i && text.count - i < 16
        while integral && i < text.count {
            let c = text[i]
            if c < 0x30 || c > 0x39 { integral = false; break }
            v = v * 10 + Int64(c - 0x30)
            i += 1
        }
        if integral { return Double(negative ? -v : v) }
        var buffer = Array(text)
        buffer.append(0)
        return buffer.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { strtod($0, nil) }
        }
    }
}
