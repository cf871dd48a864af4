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
    public static func appendJSON(
        id: [UInt8], ts: Int64, channel: UnsafeRawBufferPointer, from: [UInt8]?, payload: UnsafeRawBufferPointer,
        to out: inout [UInt8]
    ) {
        out.append(contentsOf: Keys.id)
        JSONText.appendString(id, to: &out)
        out.append(contentsOf: Keys.ts)
        JSONText.appendInteger(ts, to: &out)
        out.append(contentsOf: Keys.channel)
        JSONText.appendLossyString(raw: channel, to: &out)
        if let from {
            out.append(contentsOf: Keys.from)
            JSONText.appendLossyString(from, to: &out)
        }
        if UTF8Check.isValid(buffer: payload) {
            out.append(contentsOf: Keys.message)
            JSONText.appendString(raw: payload, to: &out)
        } else {
            out.append(contentsOf: Keys.base64)
            JSONText.appendBase64(Array(payload), to: &out)
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The same, for arrays.
    public static func appendJSON(
        id: [UInt8], ts: Int64, channel: [UInt8], from: [UInt8]?, payload: [UInt8], to out: inout [UInt8]
    ) {
        channel.withUnsafeBytes { c in
            payload.withUnsafeBytes { p in appendJSON(id: id, ts: ts, channel: c, from: from, payload: p, to: &out) }
        }
    }

    private enum Keys {
        static let id = Array(#"{"id":"#.utf8)
        static let ts = Array(#","ts":"#.utf8)
        static let channel = Array(#","channel":"#.utf8)
        static let from = Array(#","from":"#.utf8)
        static let message = Array(#","message":"#.utf8)
        static let base64 = Array(#","message_base64":""#.utf8)
    }

    /// This envelope's JSON bytes.
    public var json: [UInt8] {
        var out: [UInt8] = []
        Envelope.appendJSON(id: Array(id.utf8), ts: ts, channel: channel, from: from.map { Array($0.utf8) }, payload: payload, to: &out)
        return out
    }
}
