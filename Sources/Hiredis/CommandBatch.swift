/// Many commands laid out in one flat buffer, ready to be appended to a
/// connection's output in one go (pipelining). Building one costs a few
/// allocations per batch, not per argument.
public struct CommandBatch: Sendable {
    var bytes: [UInt8] = []
    var lengths: [Int] = []
    var argumentCounts: [Int] = []
    private var open = 0

    /// An empty batch.
    public init() {}

    /// How many commands are in the batch.
    public var count: Int { argumentCounts.count }

    /// Forgets every command but keeps the memory.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        argumentCounts.removeAll(keepingCapacity: true)
        open = 0
    }

    /// Adds one command given as whole arguments.
    public mutating func add(_ args: [[UInt8]]) {
        for a in args { argument(a) }
        end()
    }

    /// Adds one command given as text arguments.
    public mutating func add(_ args: String...) {
        for a in args { argument(a) }
        end()
    }

    /// Adds an argument to the command being built.
    public mutating func argument<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        self.bytes.append(contentsOf: bytes)
        lengths.append(bytes.count)
        open += 1
    }

    /// Adds a text argument to the command being built.
    public mutating func argument(_ text: String) {
        var text = text
        text.withUTF8 { argument($0) }
    }

    /// Adds a decimal integer argument to the command being built.
    public mutating func argument(_ value: Int64) {
        argument(String(value))
    }

    /// Ends the command being built.
    public mutating func end() {
        argumentCounts.append(open)
        open = 0
    }
}
