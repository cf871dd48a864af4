#if canImport(Glibc)
import Glibc
#endif

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
        case ts, time, channel, pattern, replayed, id, from, message
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
