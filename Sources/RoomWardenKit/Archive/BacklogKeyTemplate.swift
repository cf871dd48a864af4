/// Where a room's list backlog lives (the seed recipe's `LPUSH` list,
/// newest first, no times): a template in which `*` stands for the channel
/// (default `*:backlog`, so `room:chatty` -> `room:chatty:backlog`). It is
/// looked up beside the archive; where both exist, the archive wins.
public struct BacklogKeyTemplate: Sendable, Equatable {
    /// The same rules as the archive's template.
    private let keys: ArchiveKeyTemplate

    /// The template as given.
    public var template: String { keys.template }

    /// The contract's default, `*:backlog`.
    public static let standard = try! BacklogKeyTemplate("*:backlog")

    /// A template must hold exactly one `*`; `flag` names it in the error.
    public init(_ template: String, flag: String = "--backlog-key") throws(RoomWardenError) {
        keys = try ArchiveKeyTemplate(template, flag: flag)
    }

    /// The backlog key of one channel.
    public func key<C: Collection>(for channel: C) -> [UInt8] where C.Element == UInt8 { keys.key(for: channel) }

    /// The SCAN pattern that finds the backlogs of every channel matching
    /// `channelPattern`.
    public func scanPattern(for channelPattern: [UInt8]) -> [UInt8] { keys.scanPattern(for: channelPattern) }

    /// The channel a backlog key belongs to, or nil if the key does not fit.
    public func channel(ofKey key: [UInt8]) -> [UInt8]? { keys.channel(ofKey: key) }
}
