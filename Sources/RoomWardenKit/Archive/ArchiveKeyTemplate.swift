/// Where a room's archive lives: a template in which `*` stands for the
/// channel (default `*:archive`, so `room:lobby` -> `room:lobby:archive`).
public struct ArchiveKeyTemplate: Sendable, Equatable {
    /// The template as given.
    public let template: String
    private let prefix: [UInt8]
    private let suffix: [UInt8]

    /// The contract's default, `*:archive`.
    public static let standard = try! ArchiveKeyTemplate("*:archive")

    /// A template must hold exactly one `*`; `flag` names it in the error.
    public init(_ template: String, flag: String = "--archive-key") throws(RoomWardenError) {
        let parts = template.split(separator: "*", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw .usage("\(flag) '\(template)' must contain exactly one '*' standing for the channel (e.g. *:archive, chat:*:log)")
        }
        self.template = template
        prefix = Array(parts[0].utf8)
        suffix = Array(parts[1].utf8)
    }

    /// The archive key of one channel.
    public func key<C: Collection>(for channel: C) -> [UInt8] where C.Element == UInt8 {
        var k = prefix
        k.reserveCapacity(prefix.count + channel.count + suffix.count)
        k.append(contentsOf: channel)
        k.append(contentsOf: suffix)
        return k
    }

    /// The SCAN pattern that finds the archives of every channel matching
    /// `channelPattern`. The template's own characters are literal there:
    /// a `[`, `?` or `\\` in them is escaped.
    public func scanPattern(for channelPattern: [UInt8]) -> [UInt8] {
        var p = Array(Glob.escaping(prefix).utf8)
        p.append(contentsOf: channelPattern)
        p.append(contentsOf: Glob.escaping(suffix).utf8)
        return p
    }

    /// The channel an archive key belongs to, or nil if the key does not fit.
    public func channel(ofKey key: [UInt8]) -> [UInt8]? {
        guard key.count >= prefix.count + suffix.count,
              key.starts(with: prefix), key.reversed().starts(with: suffix.reversed()) else { return nil }
        return Array(key[prefix.count..<(key.count - suffix.count)])
    }
}
