/// Prints a stats report: an aligned table that fits the terminal, or one
/// JSON object.
public enum StatsRenderer {
    /// What is written at once: rooms are streamed out in pieces of
    /// about this size, never the whole report in memory.
    static let pieceSize = 64 * 1024

    /// The report as one JSON object (and a newline), all rooms in the
    /// table's order. Unknown figures are null.
    public static func json(_ report: StatsReport) -> [UInt8] {
        var all: [UInt8] = []
        json(report, order: Array(0..<report.rooms.count)) { all += $0 }
        return all
    }

    /// The report as one JSON object (and a newline), the rows `order` of
    /// its rooms in that order, handed to `emit` piece by piece.
    public static func json<E: Error>(_ report: StatsReport, order: [Int], emit: ([UInt8]) throws(E) -> Void) throws(E) {
        var o: [UInt8] = []
        o.reserveCapacity(pieceSize + 4096)
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
        for (n, row) in order.enumerated() {
            if o.count >= pieceSize {
                try emit(o)
                o.removeAll(keepingCapacity: true)
            }
            let r = report.rooms[row]
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
        try emit(o)
    }

    /// The report as a table no wider than `width`, all rooms in the
    /// table's order.
    public static func text(_ report: StatsReport, width: Int?) -> String {
        var all: [UInt8] = []
        text(report, order: Array(0..<report.rooms.count), width: width) { all += $0 }
        return String(decoding: all, as: UTF8.self)
    }

    /// The report as a table no wider than `width` (when given: a
    /// terminal), the rows `order` in that order, handed to `emit` piece by
    /// piece. Too wide, it first writes counts compactly (1.2M), then
    /// shortens long room names in the middle; without a width every
    /// figure is exact, for scripts. The column widths are measured in a
    /// first pass over the rows, which are then written one by one.
    public static func text<E: Error>(_ report: StatsReport, order: [Int], width: Int?, emit: ([UInt8]) throws(E) -> Void) throws(E) {
        var header = ["ROOM", "SUBS", "ARCHIVED"] + report.windowLabels.map { $0.uppercased() } + ["LAST"]
        if report.sampleSeconds != nil { header.append("LIVE/S") }
        func cells(_ i: Int, _ count: (Int) -> String) -> [String] {
            let r = report.rooms[i]
            var row = [safe(r.name), r.subscribers.map(count) ?? "?",
                       r.archived.map(count) ?? (r.note == nil ? "-" : "?")]
            row += r.windowCounts.map { c in c.map(count) ?? (r.archived == nil ? "-" : "?") }
            row.append(r.lastTs.map { ago(report.ts - $0) } ?? "-")
            if let secs = report.sampleSeconds { row.append(rate(r.sampled ?? 0, secs)) }
            if let note = r.note, note != "list" { row[0] += " (\(safe(note)))" }
            return row
        }
        func widths(_ count: (Int) -> String) -> [Int] {
            var w = header.map(\.count)
            for i in order {
                for (c, cell) in cells(i, count).enumerated() where cell.count > w[c] { w[c] = cell.count }
            }
            return w
        }
        func total(_ w: [Int]) -> Int { w.reduce(0, +) + 2 * (w.count - 1) }
        var count: (Int) -> String = { String($0) }
        var w = widths(count)
        var room: Int?  // names are shortened to this many characters
        if let width, total(w) > width {
            count = compact
            w = widths(count)
            let fits = max(12, width - (total(w) - w[0]))
            if w[0] > fits {
                w[0] = fits
                room = fits
            }
        }
        var o: [UInt8] = []
        o.reserveCapacity(pieceSize + 4096)
        func line(_ row: [String]) {
            for (c, var cell) in row.enumerated() {
                if c == 0, let room { cell = shorten(cell, to: room) }
                let pad = String(repeating: " ", count: max(0, w[c] - cell.count))
                if c > 0 { o.append(contentsOf: "  ".utf8) }
                o.append(contentsOf: (c == 0 ? cell + pad : pad + cell).utf8)
            }
            o.append(0x0A)
        }
        line(header)
        for i in order {
            if o.count >= pieceSize {
                try emit(o)
                o.removeAll(keepingCapacity: true)
            }
            line(cells(i, count))
        }
        var lines: [String] = []
        if order.isEmpty { lines.append("(no rooms match \(safe(report.pattern)))") }
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
        o.append(contentsOf: (lines.joined(separator: "\n") + "\n").utf8)
        try emit(o)
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
