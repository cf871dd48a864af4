/// A message delivered to a subscriber, with its bytes copied out.
public struct PushMessage: Sendable, Equatable {
    /// The pattern it matched (`pmessage`), or nil for a plain `message`.
    public var pattern: [UInt8]?
    /// The channel it was published to.
    public var channel: [UInt8]
    /// The payload, byte for byte.
    public var payload: [UInt8]

    /// A message as Redis delivers it.
    public init(pattern: [UInt8]?, channel: [UInt8], payload: [UInt8]) {
        self.pattern = pattern
        self.channel = channel
        self.payload = payload
    }
}

/// One reply read on a subscribed connection.
public enum SubscriptionEvent: Sendable, Equatable {
    /// A published message.
    case message(PushMessage)
    /// Anything else: subscribe confirmations, PING's pong, errors.
    case reply(Reply)
}
