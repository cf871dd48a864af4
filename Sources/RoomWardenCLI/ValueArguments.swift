import ArgumentParser
import RoomWardenKit
import Synchronization

// The Kit's values as option types: each is parsed and range-checked once,
// when the command line is read, so `validate()` and `run()` see the same
// value and no flag is parsed twice.

extension Span: ExpressibleByArgument {
    public init?(argument: String) {
        guard let v = ArgumentRejection.parse(argument, Span.init(parsing:)) else { return nil }
        self = v
    }
}

extension ByteCount: ExpressibleByArgument {
    public init?(argument: String) {
        guard let v = ArgumentRejection.parse(argument, ByteCount.init(parsing:)) else { return nil }
        self = v
    }
}

extension Count: ExpressibleByArgument {
    public init?(argument: String) {
        guard let v = ArgumentRejection.parse(argument, Count.init(parsing:)) else { return nil }
        self = v
    }
}

extension TimePoint: ExpressibleByArgument {
    public init?(argument: String) {
        guard let v = ArgumentRejection.parse(argument, TimePoint.init(parsing:)) else { return nil }
        self = v
    }
}

extension WindowList: ExpressibleByArgument {
    public init?(argument: String) {
        guard let v = ArgumentRejection.parse(argument, WindowList.init(parsing:)) else { return nil }
        self = v
    }
}

/// Why the last value was refused. ArgumentParser's `init?(argument:)` can
/// only say no; this keeps the reason so that the usage error can say what
/// is wrong (`... is invalid for '--wait <duration>': too long: ...`).
/// Written and read on the main thread while the command line is parsed.
enum ArgumentRejection {
    private static let last = Mutex<(value: String, reason: String)?>(nil)

    static func parse<T>(_ argument: String, _ parser: (String) throws(ValueError) -> T) -> T? {
        do {
            return try parser(argument)
        } catch {
            last.withLock { $0 = (argument, error.reason) }
            return nil
        }
    }

    /// ArgumentParser's message, with the reason added when it is about the
    /// value that was refused.
    static func explained(_ message: String) -> String {
        guard let (value, reason) = last.withLock({ $0 }),
              message.hasPrefix("The value '\(value)' is invalid") else { return message }
        return "\(message): \(reason)"
    }
}
