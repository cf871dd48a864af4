#if canImport(Glibc)
import Glibc
#endif

/// One archived message: the JSON object stored as a sorted-set member,
/// `{"id":"...","ts":1763762245123,"channel":"room:lobby","from":"mod","message":"Hello"}`.
public struct Envelope: Sendable, Equatable {
    /// Unique per message, so two equal payloads stay two entries.
    public var id: String
    /// Milliseconds since the Unix epoch (also the member's score).
    public var ts: Int64
    /// The channel it was published to.
    public var channel: [UInt8]
    /// The publisher's name, when known.
    public var from: String?
    /// The payload, byte for byte.
    public var payload: [UInt8]

    public init(id: String, ts: Int64, channel: [UInt8], from: String? = nil, payload: [UInt8]) {
        self.id = id
        self.ts = ts
        self.channel = channel
        self.from = from
        self.payload = payload
    }

    /// Appends the envelope's JSON: `message` for UTF-8 payloads,
    /// `message_base64` for anything else, so nothing is lost.
    public static func appendJSON<C: Collection>(
        id: String, ts: Int64, channel: C, from: String?, payload: C, to out: inout [UInt8]
    ) where C.Element == UInt8 {
        out.append(UInt8(ascii: "{"))
        JSONText.appendKey("id", to: &out)
        JSONText.appendString(id.utf8, to: &out)
        out.append(UInt8(ascii: ","))
        JSONText.appendKey("ts", to: &out)
        JSONText.appendInteger(ts, to: &out)
        out.append(UInt8(ascii: ","))
        JSONText.appendKey("channel", to: &out)
        JSONText.appendLossyString(Array(channel), to: &out)
        if let from {
            out.append(UInt8(ascii: ","))
            JSONText.appendKey("from", to: &out)
            JSONText.appendString(from.utf8, to: &out)
        }
        out.append(UInt8(ascii: ","))
        if UTF8Check.isValid(payload) {
            JSONText.appendKey("message", to: &out)
            JSONText.appendString(payload, to: &out)
        } else {
            JSONText.appendKey("message_base64", to: &out)
            out.append(UInt8(ascii: "\""))
            JSONText.appendBase64(Array(payload), to: &out)
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// This envelope's JSON bytes.
    public var json: [UInt8] {
        var out: [UInt8] = []
        Envelope.appendJSON(id: id, ts: ts, channel: channel, from: from, payload: payload, to: &out)
        return out
    }
}

/// Makes message ids that are unique across processes and within one:
/// `<ms>-<random tag>-<sequence>`. The sequence is zero-padded so that
/// envelopes of one publisher stamped in the same millisecond sort (as
/// sorted-set members of equal score do, by bytes) in publishing order.
public struct MessageIDs: Sendable {
    private let tag: String
    private var sequence: UInt64 = 0

    public init() {
        var rng = SystemRandomNumberGenerator()
        let r = rng.next() & 0xFFFF_FFFF_FFFF
        let hex = String(r, radix: 16)
        tag = String(repeating: "0", count: max(0, 12 - hex.count)) + hex
    }

    /// The next id for a message stamped `ts`.
    public mutating func next(ts: Int64) -> String {
        sequence += 1
        let digits = String(sequence)
        return "\(ts)-\(tag)-" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits
    }
}

/// The wall clock in Unix milliseconds.
public enum Clock {
    public static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
