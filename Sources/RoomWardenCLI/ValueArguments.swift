import ArgumentParser
import RoomWardenKit
import Synchronization

// The Kit's values as option types: each is parsed and range-checked once,
// when the command line is read, so `validate()` and `run()` see the same
// value and no flag is parsed twice.

extension ExpressibleByArgument where Self: ParsableValue {
    public init?(argument: String) {
        do {
            self = try Self(parsing: argument)
        } catch {
            ArgumentRejection.record(argument, error.reason)
            return nil
        }
    }
}

extension Span: ExpressibleByArgument {}
extension ByteCount: ExpressibleByArgument {}
extension Count: ExpressibleByArgument {}
extension TimePoint: ExpressibleByArgument {}
extension WindowList: ExpressibleByArgument {}

/// Why the last value was refused. ArgumentParser's `init?(argument:)` can
/// only say no; this keeps the reason so that the usage error can say what
/// is wrong (`... is invalid for '--wait <duration>': too long: ...`).
/// Written and read on the main thread while the command line is parsed.
enum ArgumentRejection {
    private static let last = Mutex<(value: String, reason: String)?>(nil)

    static func record(_ value: String, _ reason: String) {
        last.withLock { $0 = (value, reason) }
    }

    /// ArgumentParser's message, with the reason added when it is about the
    /// value that was refused.
    static func explained(_ message: String) -> String {
        guard let (value, reason) = last.withLock({ $0 }),
              message.hasPrefix("The value '\(value)' is invalid") else { return message }
        return "\(message): \(reason)"
    }
}
