/// Parses sizes: `256MB`, `64k`, `1G`, `512KiB`, or plain bytes.
public enum ByteSize {
    public static func bytes(_ text: String) -> Int? {
        let t = text.trimmingSpaces().lowercased()
        let digits = t.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(digits), value >= 0 else { return nil }
        let scale: Double
        switch t.dropFirst(digits.count) {
        case "", "b": scale = 1
        case "k", "kb", "kib": scale = 1024
        case "m", "mb", "mib": scale = 1024 * 1024
        case "g", "gb", "gib": scale = 1024 * 1024 * 1024
        default: return nil
        }
        return Int(value * scale)
    }
}
