#if canImport(Glibc)
import Glibc
#endif

/// Memory reused from member to member for fields that had to be unescaped.
public struct EnvelopeScratch {
    var text: [UInt8] = []
    var binary: [UInt8] = []
    public init() {}
}

/// Reads an archive member as a `MessageView` without copying what needs
/// no unescaping: the history export's hot path.
public enum ArchiveMember {
    /// Calls `body` with the member as a message: an envelope's fields, or
    /// the raw member with its score as time and the room's channel. A
    /// score that is no time (infinite, out of range) gives no `ts` and is
    /// passed on as `score`. The views `body` gets point into `member` and
    /// `scratch` and live only during the call.
    public static func read(
        _ member: UnsafeRawBufferPointer, score: Double?, unit: ScoreUnit, channel: [UInt8],
        scratch: inout EnvelopeScratch, _ body: (MessageView) -> Void
    ) {
        scratch.text.removeAll(keepingCapacity: true)
        scratch.binary.removeAll(keepingCapacity: true)
        if var fields = EnvelopeDecoder.decode(member, text: &scratch.text) {
            // A JSON string cannot hold a channel name that is not UTF-8:
            // the archive key's channel has its bytes.
            if fields.channel != nil, !UTF8Check.isValid(channel) { fields.channel = nil }
            if let b64 = fields.base64 {
                let encoded = fields.view(b64, member, scratch.text)
                if let bytes = JSONText.decodeBase64(encoded) {
                    scratch.binary = bytes
                    fields.message = nil
                } else {
                    fields.base64 = nil
                }
            }
            let (ts, untimed) = time(fields.ts, score: score, unit: unit)
            if let message = fields.message, let channelField = fields.channel, scratch.text.isEmpty {
                // Every field lies in the member as it is: no copy at all.
                let empty = UnsafeRawBufferPointer(start: nil, count: 0)
                body(MessageView(ts: ts, score: untimed,
                                 channel: fields.view(channelField, member, empty),
                                 id: fields.id.map { fields.view($0, member, empty) },
                                 from: fields.from.map { fields.view($0, member, empty) },
                                 payload: fields.view(message, member, empty)))
                return
            }
            if fields.message != nil || fields.base64 != nil {
                scratch.text.withUnsafeBytes { text in
                    scratch.binary.withUnsafeBytes { binary in
                        channel.withUnsafeBytes { roomChannel in
                            let payload = fields.message.map { fields.view($0, member, text) } ?? binary
                            body(MessageView(ts: ts, score: untimed,
                                             channel: fields.channel.map { fields.view($0, member, text) } ?? roomChannel,
                                             id: fields.id.map { fields.view($0, member, text) },
                                             from: fields.from.map { fields.view($0, member, text) },
                                             payload: payload))
                        }
                    }
                }
                return
            }
        }
        let (ts, untimed) = time(nil, score: score, unit: unit)
        channel.withUnsafeBytes { c in
            body(MessageView(ts: ts, score: untimed, channel: c, payload: member))
        }
    }

    /// The entry's time: the envelope's `ts`, else the score in its unit;
    /// and the score itself when it is no time.
    private static func time(_ envelopeTs: Int64?, score: Double?, unit: ScoreUnit) -> (ts: Int64?, untimed: Double?) {
        if let envelopeTs { return (envelopeTs, nil) }
        guard let score else { return (nil, nil) }
        guard let ms = unit.milliseconds(score) else { return (nil, score) }
        return (ms, nil)
    }
}
