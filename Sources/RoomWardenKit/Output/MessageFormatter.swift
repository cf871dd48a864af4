#if canImport(Glibc)
import Glibc
#endif

/// Formats messages into an output buffer: the shared hot path of watch
/// and history. Works on bytes; makes no string per message.
public struct MessageFormatter {
    public let format: OutputFormat
    /// ANSI colour (a terminal, no NO_COLOR).
    public let colour: Bool
    /// Local times in text and templates (JSON stays UTC).
    public let localTime: Bool
    /// raw: end each payload with NUL instead of newline (`-0`).
    public let nulTerminated: Bool
    /// Marks every line as replayed from an archive (watch filling a gap):
    /// `"replayed":true` in JSON, `(replayed)` after the time in text,
    /// `true` for a template's `{replayed}`.
    public var marksReplayed = false
    private var utcClock = TimeStamper(local: false)
    private var localClock = TimeStamper(local: true)

    public init(format: OutputFormat, colour: Bool = false, localTime: Bool = false, nulTerminated: Bool = false) {
        self.format = format
        self.colour = colour
        self.localTime = localTime
        self.nulTerminated = nulTerminated
    }

    /// Appends one message's output, newline included.
    public mutating func append(_ m: MessageView, to out: inout [UInt8]) {
        switch format {
        case .text: appendText(m, to: &out)
        case .json: appendJSON(m, to: &out)
        case .raw:
            out.append(contentsOf: m.payload)
            out.append(nulTerminated ? 0 : 0x0A)
        case .template(let parts):
            for part in parts {
                switch part {
                case .literal(let bytes): out.append(contentsOf: bytes)
                case .field(let f): appendField(f, of: m, to: &out)
                }
            }
            out.append(0x0A)
        }
    }

    private mutating func appendText(_ m: MessageView, to out: inout [UInt8]) {
        if colour { out.append(contentsOf: Colour.dim) }
        appendTime(m, local: localTime, to: &out)
        if marksReplayed { out.append(contentsOf: TextMarks.replayed) }
        if colour { out.append(contentsOf: Colour.reset) }
        out.append(0x20)
        if colour { out.append(contentsOf: Colour.forChannel(m.channel)) }
        TextEscaper.append(m.channel, to: &out)
        if colour { out.append(contentsOf: Colour.reset) }
        out.append(0x20)
        if let from = m.from {
            // Who said it, as a mail client shows it: history knows it
            // from the envelope; live messages carry none.
            out.append(UInt8(ascii: "<"))
            TextEscaper.append(from, to: &out)
            out.append(contentsOf: "> ".utf8)
        }
        TextEscaper.append(m.payload, to: &out)
        out.append(0x0A)
    }

    private mutating func appendJSON(_ m: MessageView, to out: inout [UInt8]) {
        if let ts = m.ts, TimeStamper.printable.contains(ts) {
            out.append(contentsOf: JSONKeys.ts)
            JSONText.appendInteger(ts, to: &out)
            out.append(contentsOf: JSONKeys.time)
            appendTime(m, local: false, to: &out)
            out.append(contentsOf: JSONKeys.channelAfterTime)
        } else if let ts = m.ts {
            // An envelope's own ts that is no time: as it is, and no time.
            out.append(contentsOf: JSONKeys.ts)
            JSONText.appendInteger(ts, to: &out)
            out.append(contentsOf: JSONKeys.noTimeThenChannel)
        } else if let score = m.score, score.isFinite {
            // A score that is no time: the raw score, and no time. JSON has
            // no infinity, so an infinite score is null like no score.
            out.append(contentsOf: JSONKeys.ts)
            out.append(contentsOf: score.description.utf8)
            out.append(contentsOf: JSONKeys.noTimeThenChannel)
        } else {
            out.append(contentsOf: JSONKeys.noTime)
        }
        JSONText.appendChannel(raw: m.channel, to: &out)
        if let p = m.pattern {
            out.append(contentsOf: JSONKeys.pattern)
            JSONText.appendLossyString(p, to: &out)
        }
        if marksReplayed { out.append(contentsOf: JSONKeys.replayed) }
        if let id = m.id {
            out.append(contentsOf: JSONKeys.id)
            JSONText.appendLossyString(id, to: &out)
        }
        if let from = m.from {
            out.append(contentsOf: JSONKeys.from)
            JSONText.appendLossyString(from, to: &out)
        }
        out.append(contentsOf: JSONKeys.message)
        if UTF8Check.isValid(buffer: m.payload) {
            JSONText.appendString(raw: m.payload, to: &out)
            out.append(contentsOf: JSONKeys.close)
        } else {
            JSONText.appendString(Array(String(decoding: m.payload, as: UTF8.self).utf8), to: &out)
            out.append(contentsOf: JSONKeys.base64)
            JSONText.appendBase64(Array(m.payload), to: &out)
            out.append(contentsOf: JSONKeys.closeBase64)
        }
    }

    private mutating func appendField(_ f: OutputFormat.Field, of m: MessageView, to out: inout [UInt8]) {
        switch f {
        case .ts:
            if let ts = m.ts { JSONText.appendInteger(ts, to: &out) }
            else if let score = m.score { out.append(contentsOf: score.description.utf8) }
            else { out.append(UInt8(ascii: "-")) }
        case .time: appendTime(m, local: localTime, to: &out)
        case .channel: TextEscaper.append(m.channel, to: &out)
        case .pattern: if let p = m.pattern { TextEscaper.append(p, to: &out) }
        case .replayed: if marksReplayed { out.append(contentsOf: TextMarks.replayedField) }
        case .id: if let id = m.id { TextEscaper.append(id, to: &out) }
        case .from: if let from = m.from { TextEscaper.append(from, to: &out) }
        case .message: TextEscaper.append(m.payload, to: &out)
        case .messageBase64: if !UTF8Check.isValid(buffer: m.payload) { JSONText.appendBase64(Array(m.payload), to: &out) }
        }
    }

    /// The message's time; `-` when none is known (a list entry), `?` when
    /// its stamp is no time (an infinite or out-of-range score or `ts`).
    private mutating func appendTime(_ m: MessageView, local: Bool, to out: inout [UInt8]) {
        guard let ts = m.ts, TimeStamper.printable.contains(ts) else {
            out.append(m.ts == nil && m.score == nil ? UInt8(ascii: "-") : UInt8(ascii: "?"))
            return
        }
        if local { localClock.append(ts, to: &out) } else { utcClock.append(ts, to: &out) }
    }
}

/// The JSON output's fixed pieces, made once.
enum JSONKeys {
    static let ts = Array(#"{"ts":"#.utf8)
    static let time = Array(#","time":""#.utf8)
    static let channelAfterTime = Array(#"","channel":"#.utf8)
    static let noTime = Array(#"{"ts":null,"time":null,"channel":"#.utf8)
    static let noTimeThenChannel = Array(#","time":null,"channel":"#.utf8)
    static let pattern = Array(#","pattern":"#.utf8)
    static let replayed = Array(#","replayed":true"#.utf8)
    static let id = Array(#","id":"#.utf8)
    static let from = Array(#","from":"#.utf8)
    static let message = Array(#","message":"#.utf8)
    static let base64 = Array(#","message_base64":""#.utf8)
    static let close = Array("}\n".utf8)
    static let closeBase64 = Array("\"}\n".utf8)
}

/// Text output's fixed marks.
enum TextMarks {
    static let replayed = Array(" (replayed)".utf8)
    static let replayedField = Array("true".utf8)
}
