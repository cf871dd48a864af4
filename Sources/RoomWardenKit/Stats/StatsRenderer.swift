/// Prints a stats report: an aligned table that fits the terminal, or one
/// JSON object.
public enum StatsRenderer {
    /// The report as one JSON object (and a newline). Unknown figures are null.
    public static func json(_ report: StatsReport, rooms: [RoomStats]) -> [UInt8] {
        var o: [UInt8] = []
        func key(_ k: String) { JSONText.appendString(k.utf8, to: &o); o.append(UInt8(ascii: ":")) }
        func int(_ v: Int?) { if let v { JSONText.appendInteger(Int64(v), to: &o) } else { o.append(contentsOf: "null".utf8) } }
        func time(_ ms: Int64?) {
            guard let ms else { o.append(contentsOf: "null".utf8); return }
            o.append(UInt8(ascii: "\""))
            var stamper = TimeStamper(local: false)
            stamper.append(ms, to: &o)
            o.append(UInt8(ascii: "\""))
        }
        o.append(UInt8(ascii: "{"))
        key("ts"); JSONText.appendInteger(report.ts, to: &o); o.append(0x2C)
        key("time"); time(report.ts); o.append(0x2C)
        key("pattern"); JSONText.appendString(report.pattern.utf8, to: &o); o.append(0x2C)
        key("windows"); o.append(UInt8(ascii: "["))
        for (i, w) in report.windowLabels.enumerated() {
            if i > 0 { o.append(0x2C) }
            JSONText.appendString(w.utf8, to: &o)
        }
        o.append(UInt8(ascii: "]")); o.append(0x2C)
        func server(_ s: ServerStats) {
            key("version")
            if let v = s.version { JSONText.appendString(v.utf8, to: &o) } else { o.append(contentsOf: "null".utf8) }
            o.append(0x2C)
            key("pattern_subscriptions"); int(s.patternSubscriptions); o.append(0x2C)
            key("pubsub_clients"); int(s.pubsubClients); o.append(0x2C)
            key("pubsub_buffer_limit")
            if let l = s.pubsubLimit {
                o.append(UInt8(ascii: "{"))
                key("hard_bytes"); int(l[0]); o.append(0x2C)
                key("soft_bytes"); int(l[1]); o.append(0x2C)
                key("soft_seconds"); int(l[2])
                o.append(UInt8(ascii: "}"))
            } else {
                o.append(contentsOf: "null".utf8)
            }
        }
        key("server"); o.append(UInt8(ascii: "{"))
        server(report.server)
        o.append(UInt8(ascii: "}")); o.append(0x2C)
        key("nodes"); o.append(UInt8(ascii: "["))
        for (i, node) in report.nodes.enumerated() {
            if i > 0 { o.append(0x2C) }
            o.append(UInt8(ascii: "{"))
            key("address"); JSONText.appendString(node.address.utf8, to: &o); o.append(0x2C)
            key("role"); JSONText.appendString(node.role.utf8, to: &o); o.append(0x2C)
            server(node.server)
            o.append(UInt8(ascii: "}"))
        }
        o.append(UInt8(ascii: "]")); o.append(0x2C)
        key("shard_channels"); o.append(UInt8(ascii: "["))
        for (i, shard) in report.shardChannels.enumerated() {
            if i > 0 { o.append(0x2C) }
            o.append(UInt8(ascii: "{"))
            key("channel"); JSONText.appendChannel(shard.channel, to: &o); o.append(0x2C)
            key("subscribers"); int(shard.subscribers)
            o.append(UInt8(ascii: "}"))
        }
        o.append(UInt8(ascii: "]")); o.append(0x2C)
        if let s = report.sampleSeconds {
            key("sample_seconds"); o.append(contentsOf: String(s).utf8); o.append(0x2C)
        }
        key("rooms"); o.append(UInt8(ascii: "["))
        for (n, r) in rooms.enumerated() {
            if n > 0 { o.append(0x2C) }
            o.append(UInt8(ascii: "{"))
            key("channel"); JSONText.appendChannel(r.channel, to: &o); o.append(0x2C)
            key("subscribers"); int(r.subscribers); o.append(0x2C)
            key("archived"); int(r.archived); o.append(0x2C)
            key("messages"); o.append(UInt8(ascii: "{"))
            for (i, w) in report.windowLabels.enumerated() {
                if i > 0 { o.append(0x2C) }
                key(w); int(r.windowCounts[i])
            }
            o.append(UInt8(ascii: "}")); o.append(0x2C)
            key("last_ts"); if let t = r.lastTs { JSONText.appendInteger(t, to: &o) } else { o.append(contentsOf: "null".utf8) }
            o.append(0x2C)
            key("last_time"); time(r.lastTs)
            if let s = r.sampled, let secs = report.sampleSeconds {
                o.append(0x2C)
                key("sampled"); int(s); o.append(0x2C)
                key("per_second"); o.append(contentsOf: rate(s, secs).utf8)
            }
            if let note = r.note {
                o.append(0x2C)
                key("note"); JSONText.appendString(note.utf8, to: &o)
            }
            o.append(UInt8(ascii: "}"))
        }
        o.append(UInt8(ascii: "]")); o.append(0x2C)
        key("collected"); o.append(UInt8(ascii: "{"))
        key("commands"); int(report.commands); o.append(0x2C)
        key("round_trips"); int(report.roundTrips); o.append(0x2C)
        key("took_ms"); JSONText.appendInteger(report.tookMilliseconds, to: &o)
        o.append(contentsOf: "}}\n".utf8)
        return o
    }

    /// The report as a table no wider than `width` (when given: a
    /// terminal). Too wide, it first writes counts compactly (1.2M), then
    /// shortens long room names in the middle; without a width every
    /// figure is exact, for scripts.
    public static func text(_ report: StatsReport, rooms: [RoomStats], width: Int?) -> String {
        var header = ["ROOM", "SUBS", "ARCHIVED"] + report.windowLabels.map { $0.uppercased() } + ["LAST"]
        if report.sampleSeconds != nil { header.append("LIVE/S") }
        func table(_ count: (Int) -> String) -> [[String]] {
            [header] + rooms.map { r in
                var row = [safe(r.name), r.subscribers.map(count) ?? "?",
                           r.archived.map(count) ?? (r.note == nil ? "-" : "?")]
                row += r.windowCounts.map { c in c.map(count) ?? (r.archived == nil ? "-" : "?") }
                row.append(r.lastTs.map { ago(report.ts - $0) } ?? "-")
                if let secs = report.sampleSeconds { row.append(rate(r.sampled ?? 0, secs)) }
                if let note = r.note, note != "list" { row[0] += " (\(safe(note)))" }
                return row
            }
        }
        func widths(_ rows: [[String]]) -> [Int] { header.indices.map { c in rows.map { $0[c].count }.max() ?? 0 } }
        func total(_ w: [Int]) -> Int { w.reduce(0, +) + 2 * (w.count - 1) }
        var rows = table(String.init)
        var w = widths(rows)
        if let width, total(w) > width {
            rows = table(compact)
            w = widths(rows)
            let room = max(12, width - (total(w) - w[0]))
            if w[0] > room {
                w[0] = room
                for i in rows.indices { rows[i][0] = shorten(rows[i][0], to: room) }
            }
        }
        var lines = rows.map { row in
            row.enumerated().map { c, cell in
                c == 0 ? cell + String(repeating: " ", count: max(0, w[0] - cell.count))
                    : String(repeating: " ", count: max(0, w[c] - cell.count)) + cell
            }.joined(separator: "  ")
        }
        if rooms.isEmpty { lines.append("(no rooms match \(safe(report.pattern)))") }
        if !report.shardChannels.isEmpty {
            lines.append("")
            for shard in report.shardChannels {
                lines.append("sharded \(safe(String(decoding: shard.channel, as: UTF8.self))): \(shard.subscribers) subscribers")
            }
        }
        lines.append("")
        if report.nodes.count > 1 {
            // A cluster: the totals, then one line per node.
            let s = report.server
            lines += wrapped("cluster:", ["\(report.nodes.count) nodes",
                                          "pattern subscriptions \(s.patternSubscriptions.map(String.init) ?? "unknown")",
                                          "pub/sub clients \(s.pubsubClients.map(String.init) ?? "unknown")"], width: width)
            for node in report.nodes {
                lines += wrapped("node \(safe(node.address)) \(node.role):", facts(node.server), width: width)
            }
        } else {
            lines += wrapped("server:", facts(report.server), width: width)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One server's facts, as the text report says them.
    private static func facts(_ s: ServerStats) -> [String] {
        let limit = s.pubsubLimit.map { "\(bytes($0[0])) hard, \(bytes($0[1])) for \($0[2])s" } ?? "unknown"
        return ["redis \(s.version.map(safe) ?? "unknown")",
                "pattern subscriptions \(s.patternSubscriptions.map(String.init) ?? "unknown")",
                "pub/sub clients \(s.pubsubClients.map(String.init) ?? "unknown")",
                "pub/sub output buffer limit \(limit)"]
    }

    /// `title` and the facts, comma-separated, broken into lines no wider than `width`.
    private static func wrapped(_ title: String, _ facts: [String], width: Int?) -> [String] {
        var lines: [String] = []
        var line = title
        for fact in facts {
            if let width, line.count + 2 + fact.count > width, line != title {
                lines.append(line + ",")
                line = "  " + fact
            } else {
                line += (line == title ? " " : ", ") + fact
            }
        }
        lines.append(line)
        return lines
    }

    static func safe(_ s: String) -> String {
        var out: [UInt8] = []
        TextEscaper.append(Array(s.utf8), to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func shorten(_ s: String, to n: Int) -> String {
        guard s.count > n else { return s }
        let keep = n - 1
        return String(s.prefix(keep - keep / 2)) + "…" + String(s.suffix(keep / 2))
    }

    /// A count in at most four characters: exact up to 9999, then 12K,
    /// 1.2M, 123M, 1.2G (rounded down, so never more than there is).
    static func compact(_ n: Int) -> String {
        guard n >= 10_000 else { return String(n) }
        for (unit, suffix) in [(1_000_000_000_000, "T"), (1_000_000_000, "G"), (1_000_000, "M"), (1_000, "K")] where n >= unit {
            if n < 10 * unit { return "\(n / unit).\(n % unit * 10 / unit)\(suffix)" }
            if n < 1000 * unit || suffix == "T" { return "\(n / unit)\(suffix)" }
        }
        return String(n)
    }

    static func ago(_ ms: Int64) -> String {
        let s = max(0, ms / 1000)
        if s < 60 { return "\(s)s ago" }
        if s < 3600 { return "\(s / 60)m ago" }
        if s < 86400 { return "\(s / 3600)h ago" }
        return "\(s / 86400)d ago"
    }

    static func rate(_ count: Int, _ seconds: Double) -> String {
        let r = seconds > 0 ? Double(count) / seconds : 0
        let scaled = (r * 100).rounded() / 100
        return scaled == scaled.rounded() ? String(Int(scaled)) : String(scaled)
    }

    static func bytes(_ n: Int) -> String {
        if n == 0 { return "0 (none)" }
        if n % (1 << 20) == 0 { return "\(n >> 20)mb" }
        if n % (1 << 10) == 0 { return "\(n >> 10)kb" }
        return "\(n)b"
    }
}
