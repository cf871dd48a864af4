/// Many commands encoded back to back in the Redis protocol, ready to be
/// handed to a connection's output in one go (pipelining). Every argument is
/// written with its length (`$len`), so arguments are binary-safe: the same
/// bytes hiredis' `*Argv` functions produce, with no formatting call per
/// argument.
public struct CommandBatch: Sendable {
    /// The commands, in the Redis protocol.
    public private(set) var bytes: [UInt8] = []
    /// How many commands are in the batch.
    public private(set) var count = 0
    /// The position of the first command that puts a connection in
    /// subscribed mode (`SUBSCRIBE` ...), if any: it and every command after
    /// it are answered as subscription traffic, not as replies.
    public private(set) var firstSubscription: Int?
    private var expected = 0
    private var given = 0

    /// An empty batch.
    public init() {}

    /// Forgets every command but keeps the memory.
    public mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        count = 0
        expected = 0
        given = 0
        firstSubscription = nil
    }

    /// Starts a command of `arguments` arguments (the name included).
    public mutating func begin(_ arguments: Int) {
        precondition(given == expected, "the previous command has \(given) of its \(expected) arguments")
        bytes.append(UInt8(ascii: "*"))
        appendDecimal(arguments)
        bytes.append(0x0D); bytes.append(0x0A)
        expected = arguments
        given = 0
        count += 1
    }

    /// Adds one command given as whole arguments.
    public mutating func add(_ args: [[UInt8]]) {
        begin(args.count)
        for a in args { argument(a) }
    }

    /// Adds one command given as text arguments.
    public mutating func add(_ args: String...) {
        begin(args.count)
        for a in args { argument(a) }
    }

    /// Adds an argument to the command begun last.
    public mutating func argument(_ raw: UnsafeRawBufferPointer) {
        precondition(given < expected, "more arguments than begin() announced")
        if given == 0, firstSubscription == nil, Command.entersSubscribedMode(raw) { firstSubscription = count - 1 }
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(raw.count)
        bytes.append(0x0D); bytes.append(0x0A)
        bytes.append(contentsOf: raw)
        bytes.append(0x0D); bytes.append(0x0A)
        given += 1
    }

    /// Adds an argument to the command begun last.
    public mutating func argument(_ data: [UInt8]) {
        data.withUnsafeBytes { argument($0) }
    }

    /// Adds a text argument to the command begun last.
    public mutating func argument(_ text: String) {
        var text = text
        text.withUTF8 { argument(UnsafeRawBufferPointer($0)) }
    }

    /// Adds a decimal integer argument to the command begun last.
    public mutating func argument(_ value: Int64) {
        precondition(given < expected, "more arguments than begin() announced")
        var digits = 1
        var v = value.magnitude
        while v >= 10 { v /= 10; digits += 1 }
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(digits + (value < 0 ? 1 : 0))
        bytes.append(0x0D); bytes.append(0x0A)
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude)
        bytes.append(0x0D); bytes.append(0x0A)
        given += 1
    }

    private mutating func appendDecimal(_ value: Int) {
        appendDecimal(UInt64(value))
    }

    private mutating func appendDecimal(_ value: UInt64) {
        if value < 10 { bytes.append(UInt8(value) + 0x30); return }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var v = value
        withUnsafeMutableBytes(of: &digits) { d in
            var i = d.count
            while v > 0 {
                i -= 1
                d[i] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                v /= 10
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[i...]))
        }
    }
}
