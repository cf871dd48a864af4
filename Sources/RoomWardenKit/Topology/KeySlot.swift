/// The hash slot of a key in Redis Cluster: CRC16 (XMODEM: polynomial
/// 0x1021, initial value 0, no reflection) of the key, or of its hash tag,
/// modulo 16384.
///
/// The hash tag rule, as the cluster specification states it: if the key
/// holds a `{`, and a `}` follows it, and at least one byte lies between
/// the first `{` and the first `}` after it, only those bytes are hashed.
/// So `{user1000}.following` and `{user1000}.followers` share a slot,
/// `foo{}{bar}` hashes whole (the first tag is empty), and `foo{{bar}}zap`
/// hashes `{bar`.
public enum KeySlot {
    /// How many slots a cluster has.
    public static let count = 16384

    /// The slot of `key`, 0 ..< 16384.
    public static func of(_ key: some Collection<UInt8>) -> Int {
        Int(crc16(hashedPart(of: key)) & 0x3FFF)
    }

    /// The slot of a key given as text (its UTF-8 bytes).
    public static func of(_ key: String) -> Int { of(Array(key.utf8)) }

    /// The bytes that are hashed: the hash tag when there is a non-empty
    /// one, otherwise the whole key.
    static func hashedPart<C: Collection<UInt8>>(of key: C) -> C.SubSequence {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key[...] }
        let afterOpen = key.index(after: open)
        guard let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen else {
            return key[...]
        }
        return key[afterOpen..<close]
    }

    /// CRC16/XMODEM, as Redis Cluster computes it (`"123456789"` gives 0x31C3).
    public static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    /// One entry per leading byte: that byte shifted through the polynomial
    /// eight times.
    private static let table: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
