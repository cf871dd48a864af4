/// Where a room's list backlog lives, the seed recipe's layout (`LPUSH
/// room:lobby:backlog <message>`): a template in which `*` stands for the
/// channel, default `*:backlog`. Looked up beside the sorted-set archive;
/// where both exist, the sorted set is the archive.
public struct BacklogKeyTemplate: Sendable, Equatable {
    /// The same key arithmetic as the archive's template.
    public let keys: ArchiveKeyTemplate

    /// The recipe's default, `*:backlog`.
    public static let standard = BacklogKeyTemplate(keys: try! ArchiveKeyTemplate("*:backlog", flag: "--backlog-key"))

    /// A template must hold exactly one `*`.
    public init(_ template: String) throws(RoomWardenError) {
        keys = try ArchiveKeyTemplate(template, flag: "--backlog-key")
    }

    private init(keys: ArchiveKeyTemplate) { self.keys = keys }

    /// The template as given.
    public var template: String { keys.template }

    /// The backlog key of one channel.
    public func key<C: Collection>(for channel: C) -> [UInt8] where C.Element == UInt8 {
        keys.key(for: channel)
    }
}
