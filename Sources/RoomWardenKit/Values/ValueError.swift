/// Why a command-line value was refused: what is wrong with it and what to
/// type instead, without the flag's name (the caller knows the flag). A
/// usage error, exit 64.
public struct ValueError: Error, Sendable, Equatable, CustomStringConvertible {
    /// For example "not a duration: use e.g. 500ms, 90s, 15m, 2h, 7d, 1h30m".
    public var reason: String

    public init(_ reason: String) { self.reason = reason }

    public var description: String { reason }

    /// The usage error for `flag` given `value`: `--wait '1e300': ...`.
    public func usage(flag: String, value: String) -> RoomWardenError {
        .usage("\(flag) '\(value)': \(reason)")
    }
}
