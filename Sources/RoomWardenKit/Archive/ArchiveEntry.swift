#if canImport(Glibc)
import Glibc
#endif

/// One archive member read back: an envelope written by roomwarden (or a
/// compatible publisher), or a raw payload written by anyone else.
public struct ArchiveEntry {
    /// Unix ms: the envelope's `ts`, else the score in its unit.
    public var ts: Int64?
    public var channel: [UInt8]
    public var id: String?
    public var from: String?
    public var payload: [UInt8]

    /// Decodes a member. `score` is nil for list entries (no time known).
    public init(member: [UInt8], score: Double?, unit: ScoreUnit, channel: [UInt8]) {
        var decoded: (Int64?, [UInt8], String?, String?, [UInt8])?
        var scratch = EnvelopeScratch()
        member.withUnsafeBytes { raw in
            ArchiveMember.read(raw, score: score, unit: unit, channel: channel, scratch: &scratch) { m in
                decoded = (m.ts, Array(m.channel), m.id.map { String(decoding: $0, as: UTF8.self) },
                           m.from.map { String(decoding: $0, as: UTF8.self) }, Array(m.payload))
            }
        }
        (ts, self.channel, id, from, payload) = decoded ?? (nil, channel, nil, nil, member)
    }
}
