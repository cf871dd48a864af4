#if canImport(Glibc)
import Glibc
#endif

/// One message as it is printed, by watch and history alike.
public struct MessageView {
    /// Unix milliseconds; nil when not known (a list backlog's raw entry).
    public var ts: Int64?
    public var channel: UnsafeRawBufferPointer
    /// The pattern it came through (watch), if any.
    public var pattern: UnsafeRawBufferPointer?
    /// The envelope's id and from (history), when known.
    public var id: UnsafeRawBufferPointer?
    public var from: UnsafeRawBufferPointer?
    public var payload: UnsafeRawBufferPointer

    public init(ts: Int64?, channel: UnsafeRawBufferPointer, pattern: UnsafeRawBufferPointer? = nil,
                id: UnsafeRawBufferPointer? = nil, from: UnsafeRawBufferPointer? = nil, payload: UnsafeRawBufferPointer) {
        self.ts = ts
        self.channel = channel
        self.pattern = pattern
        self.id = id
        self.from = from
        self.payload = payload
    }
}

/// `-f, --format text|json|raw|TEMPLATE` (SPEC §4).
public enum OutputFormat: Sendable, Equatable {
    case text
    case json
    case raw
    case template([TemplatePart])

    /// A piece of a `{field}` template.
    public enum TemplatePart: Sendable, Equatable {
        case literal([UInt8])
        case field(Field)
    }

    /// The JSON keys, usable as template fields.
    public enum Field: String, Sendable, CaseIterable {
        case ts, time, channel, pattern, id, from, message
        case messageBase64 = "message_base64"
    }

    /// `text`, `json`, `raw`, or a template with `{field}` placeholders
    /// (`{{` and `}}` for literal braces).
    public init(parsing text: String) throws(RoomWardenError) {
        switch text {
        case "text": self = .text
        case "json", "jsonl": self = .json
        case "raw": self = .raw
        default:
            var parts: [TemplatePart] = []
            var literal: [UInt8] = []
            var chars = Array(text.utf8)[...]
            var sawField = false
            while let c = chars.popFirst() {
                if c == UInt8(ascii: "{") {
                    if chars.first == UInt8(ascii: "{") { chars.removeFirst(); literal.append(c); continue }
                    guard let close = chars.firstIndex(of: UInt8(ascii: "}")) else {
                        throw .usage("--format '\(text)': unclosed '{' (write {{ for a literal brace)")
                    }
                    let name = String(decoding: chars[..<close], as: UTF8.self)
                    guard let field = Field(rawValue: name) else {
                        let known = Field.allCases.map { "{\($0.rawValue)}" }.joined(separator: " ")
                        throw .usage("--format: unknown field {\(name)}; use text, json, raw or a template of \(known)")
                    }
                    if !literal.isEmpty { parts.append(.literal(literal)); literal = [] }
                    parts.append(.field(field))
                    sawField = true
                    chars = chars[(close + 1)...]
                } else if c == UInt8(ascii: "}") && chars.first == UInt8(ascii: "}") {
                    chars.removeFirst()
                    literal.append(c)
                } else {
                    literal.append(c)
                }
            }
            if !literal.isEmpty { parts.append(.literal(literal)) }
            guard sawField else {
                throw .usage("--format '\(text)' is not text, json, raw, or a template with {fields} like '{time} {channel}: {message}'")
            }
            self = .template(parts)
        }
    }
}

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
        appendTime(m.ts, local: localTime, to: &out)
        if colour { out.append(contentsOf: Colour.reset) }
        out.append(0x20)
        if colour { out.append(contentsOf: Colour.forChannel(m.channel)) }
        TextEscaper.append(m.channel, to: &out)
        if colour { out.append(contentsOf: Colour.reset) }
        out.append(0x20)
        TextEscaper.append(m.payload, to: &out)
        out.append(0x0A)
    }

    private mutating func appendJSON(_ m: MessageView, to out: inout [UInt8]) {
        if let ts = m.ts {
            out.append(contentsOf: JSONKeys.ts)
            JSONText.appendInteger(ts, to: &out)
            out.append(contentsOf: JSONKeys.time)
            appendTime(ts, local: false, to: &out)
            out.append(contentsOf: JSONKeys.channelAfterTime)
        } else {
            out.append(contentsOf: JSONKeys.noTime)
        }
        JSONText.appendLossyString(m.channel, to: &out)
        if let p = m.pattern {
            out.append(contentsOf: JSONKeys.pattern)
            JSONText.appendLossyString(p, to: &out)
        }
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
        case .ts: if let ts = m.ts { JSONText.appendInteger(ts, to: &out) } else { out.append(UInt8(ascii: "-")) }
        case .time: appendTime(m.ts, local: localTime, to: &out)
        case .channel: TextEscaper.append(m.channel, to: &out)
        case .pattern: if let p = m.pattern { TextEscaper.append(p, to: &out) }
        case .id: if let id = m.id { TextEscaper.append(id, to: &out) }
        case .from: if let from = m.from { TextEscaper.append(from, to: &out) }
        case .message: TextEscaper.append(m.payload, to: &out)
        case .messageBase64: if !UTF8Check.isValid(buffer: m.payload) { JSONText.appendBase64(Array(m.payload), to: &out) }
        }
    }

    private mutating func appendTime(_ ts: Int64?, local: Bool, to out: inout [UInt8]) {
        guard let ts else { out.append(UInt8(ascii: "-")); return }
        if local { localClock.append(ts, to: &out) } else { utcClock.append(ts, to: &out) }
    }
}

/// The JSON output's fixed pieces, made once.
enum JSONKeys {
    static let ts = Array(#"{"ts":"#.utf8)
    static let time = Array(#","time":""#.utf8)
    static let channelAfterTime = Array(#"","channel":"#.utf8)
    static let noTime = Array(#"{"ts":null,"time":null,"channel":"#.utf8)
    static let pattern = Array(#","pattern":"#.utf8)
    static let id = Array(#","id":"#.utf8)
    static let from = Array(#","from":"#.utf8)
    static let message = Array(#","message":"#.utf8)
    static let base64 = Array(#","message_base64":""#.utf8)
    static let close = Array("}\n".utf8)
    static let closeBase64 = Array("\"}\n".utf8)
}

/// RFC 3339 with milliseconds, the part up to the seconds cached per second.
struct TimeStamper {
    let local: Bool
    private var second = Int64.min
    /// "2026-11-21T22:27:25." then "Z" or "+01:00", kept inline (no
    /// reference counting on the hot path).
    private var head: (UInt64, UInt64, UInt64) = (0, 0, 0)
    private var headCount = 0
    private var tail: (UInt64) = 0
    private var tailCount = 0

    init(local: Bool) { self.local = local }

    mutating func append(_ ms: Int64, to out: inout [UInt8]) {
        let sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        if sec != second { render(sec) }
        let count = headCount
        withUnsafeBytes(of: &head) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        let frac = Int(ms - sec * 1000)
        out.append(UInt8(0x30 + frac / 100)); out.append(UInt8(0x30 + frac / 10 % 10)); out.append(UInt8(0x30 + frac % 10))
        let tc = tailCount
        withUnsafeBytes(of: &tail) { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<tc])) }
    }

    private mutating func render(_ sec: Int64) {
        second = sec
        var offset = 0
        if local {
            var t = time_t(sec)
            var parts = tm()
            localtime_r(&t, &parts)
            offset = parts.tm_gmtoff
        }
        let (y, mo, d) = civil(days: (sec + Int64(offset)).floorDiv(86400))
        let daySec = Int((sec + Int64(offset)) - (sec + Int64(offset)).floorDiv(86400) * 86400)
        let headBytes = Array(fourDigits(y).utf8) + [0x2D] + two(mo) + [0x2D] + two(d) + [0x54]
            + two(daySec / 3600) + [0x3A] + two(daySec / 60 % 60) + [0x3A] + two(daySec % 60) + [0x2E]
        var tailBytes: [UInt8] = [0x5A]
        if local {
            let sign: UInt8 = offset < 0 ? 0x2D : 0x2B
            let a = abs(offset)
            tailBytes = [sign] + two(a / 3600) + [0x3A] + two(a / 60 % 60)
        }
        headCount = min(headBytes.count, 24)
        withUnsafeMutableBytes(of: &head) { raw in for i in 0..<headCount { raw[i] = headBytes[i] } }
        tailCount = tailBytes.count
        withUnsafeMutableBytes(of: &tail) { raw in for i in 0..<tailCount { raw[i] = tailBytes[i] } }
    }

    private func two(_ v: Int) -> [UInt8] { [UInt8(0x30 + v / 10 % 10), UInt8(0x30 + v % 10)] }

    /// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
    private func civil(days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), Int(m), Int(d))
    }
}

extension Int64 {
    func floorDiv(_ d: Int64) -> Int64 { self >= 0 ? self / d : (self - d + 1) / d }
}

/// A year as four digits.
func fourDigits(_ v: Int) -> String {
    let digits = String(v)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

/// Makes any bytes safe for a terminal, one message to one line: control
/// characters, ESC, DEL, C1 controls, invalid UTF-8, bidi controls and line
/// separators are shown escaped; a backslash doubles.
public enum TextEscaper {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    public static func append(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var i = 0
        let n = bytes.count
        while i < n {
            // A run of printable ASCII is copied whole.
            var j = i
            while j < n, bytes[j] >= 0x20, bytes[j] < 0x7F, bytes[j] != 0x5C { j += 1 }
            if j > i {
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<j]))
                i = j
                if i >= n { break }
            }
            let b = bytes[i]
            if b < 0x80 {
                switch b {
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(UInt8(ascii: "n"))
                case 0x09: out.append(0x5C); out.append(UInt8(ascii: "t"))
                case 0x0D: out.append(0x5C); out.append(UInt8(ascii: "r"))
                default: appendHexByte(b, to: &out)  // other C0 controls, ESC, DEL
                }
                i += 1
                continue
            }
            let len = UTF8Check.sequenceLength(bytes, at: i)
            if len == 0 {
                appendHexByte(b, to: &out)
                i += 1
                continue
            }
            let scalar = decodeScalar(bytes, i, len)
            if isUnsafe(scalar) {
                out.append(contentsOf: Array("\\u{\(String(scalar, radix: 16))}".utf8))
            } else {
                for k in 0..<len { out.append(bytes[i + k]) }
            }
            i += len
        }
    }

    /// Same, for an array.
    public static func append(_ bytes: [UInt8], to out: inout [UInt8]) {
        bytes.withUnsafeBytes { append($0, to: &out) }
    }

    private static func appendHexByte(_ b: UInt8, to out: inout [UInt8]) {
        out.append(0x5C); out.append(UInt8(ascii: "x"))
        out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 0xF)])
    }

    private static func decodeScalar(_ p: UnsafeRawBufferPointer, _ i: Int, _ len: Int) -> UInt32 {
        switch len {
        case 2: return UInt32(p[i] & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F)
        case 3: return UInt32(p[i] & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F)
        default: return UInt32(p[i] & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6 | UInt32(p[i + 3] & 0x3F)
        }
    }

    /// C1 controls, bidi embeddings/overrides/isolates and marks, line and
    /// paragraph separators, the BOM/zero-width no-break space.
    private static func isUnsafe(_ s: UInt32) -> Bool {
        switch s {
        case 0x80...0x9F, 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069, 0xFEFF: return true
        default: return false
        }
    }
}

/// ANSI colours for text output on a terminal.
enum Colour {
    static let dim: [UInt8] = Array("\u{1B}[2m".utf8)
    static let reset: [UInt8] = Array("\u{1B}[0m".utf8)
    private static let palette: [[UInt8]] = [31, 32, 33, 34, 35, 36].map { Array("\u{1B}[\($0)m".utf8) }

    /// One colour per channel, the same every run.
    static func forChannel(_ channel: UnsafeRawBufferPointer) -> [UInt8] {
        var h: UInt32 = 2_166_136_261
        for b in channel { h = (h ^ UInt32(b)) &* 16_777_619 }
        return palette[Int(h % UInt32(palette.count))]
    }
}
