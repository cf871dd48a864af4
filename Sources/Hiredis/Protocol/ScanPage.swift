/// One page of a `SCAN`: the cursor to go on from and the keys found.
public struct ScanPage: Sendable, Equatable {
    /// Where the next page starts; `0` when the scan is complete.
    public var cursor: [UInt8]
    /// The keys of this page.
    public var keys: [[UInt8]]

    /// The cursor that starts a scan.
    public static let start: [UInt8] = [UInt8(ascii: "0")]

    /// True when no page follows.
    public var isLast: Bool { cursor == ScanPage.start }

    /// Reads a SCAN reply. A server error (`NOPERM`) throws `.server`;
    /// anything else that is not a page is a protocol error.
    public init(_ reply: Reply) throws(RedisError) {
        try reply.check()
        guard let parts = reply.elements, parts.count == 2, let next = parts[0].bytes, let found = parts[1].elements else {
            throw .protocolError("unexpected SCAN reply")
        }
        cursor = next
        keys = found.compactMap { $0.bytes }
    }
}
